"""Leaderboards: rank result folders of one competition and phase, with bootstrap stability."""

from harness.results.leaderboard.render import to_csv, to_html, to_markdown, write_leaderboard
from harness.results.leaderboard.table import Leaderboard, LeaderboardRow, build_leaderboard, order_kept

__all__ = [
    "Leaderboard",
    "LeaderboardRow",
    "build_leaderboard",
    "order_kept",
    "to_csv",
    "to_html",
    "to_markdown",
    "write_leaderboard",
]
