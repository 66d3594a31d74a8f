"""`unlearn-harness confirm`: re-run a leaderboard's top entries at a larger N, growing the cached pool."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.cli import main as cli
from harness.config import load_competition
from harness.results.leaderboard.confirmation import ScreenedEntry, compare_rankings
from harness.results.leaderboard.table import Leaderboard, LeaderboardRow
from locations import PIPELINE_SUBMISSIONS

SCREENING_N = 2
RERUN_N = 3
FIXED = PIPELINE_SUBMISSIONS / "fixed_steps_finetune.py"


@pytest.fixture(scope="module")
def lenient_digits(quick_digits) -> Path:
    """The quick competition, whose cutoff no fixed-work submission can miss on any machine."""
    assert load_competition(quick_digits).time_cutoff >= 1.0
    return quick_digits


@pytest.fixture(scope="module")
def screening(lenient_digits, bwrap, tmp_path_factory) -> tuple[Path, Path]:
    """A two-entry leaderboard screened at N = 2 through bwrap (`run` twice, then `leaderboard`): (its folder, its cache)."""
    root = tmp_path_factory.mktemp("screening")
    identity = root / "identity.py"
    identity.write_text("def unlearn(net, retain, forget, val):\n    return net\n")
    board, cache = root / "board", root / "cache"
    for submission in (FIXED, identity):
        code = cli(["run", str(submission), "--competition", str(lenient_digits), "--n-models", str(SCREENING_N), "--phase", "public",
                    "--out", str(root / submission.stem), "--cache-dir", str(cache), "--sandbox", "bwrap", "--jobs", "2", "--quiet",
                    "--bootstrap", "20", "--no-report"])
        assert code == 0
    assert cli(["leaderboard", str(root / FIXED.stem), str(root / "identity"), "--out", str(board)]) == 0
    return board, cache


def _confirm(board: Path, cache: Path, competition: Path, *extra: str) -> int:
    return cli(["confirm", str(board), "--competition", str(competition), "--cache-dir", str(cache), "--sandbox", "bwrap",
                "--jobs", "2", "--quiet", "--bootstrap", "20", *extra])


def test_confirm_reruns_the_top_entries_growing_the_pool_and_reports_the_ranking(screening, lenient_digits, capsys):
    board, cache = screening
    records = sorted(cache.glob("pools/digits-quick.public.*/records/retrained-*.parquet"))
    assert [path.name for path in records] == ["retrained-00000.parquet", "retrained-00001.parquet"]
    screened_at = {path: path.stat().st_mtime_ns for path in records}
    capsys.readouterr()

    assert _confirm(board, cache, lenient_digits, "--top", "2", "--n-models", str(RERUN_N)) == 0
    report = capsys.readouterr().out
    out = board / f"confirm-N{RERUN_N}"
    assert (out / "confirm.md").read_text() == report
    assert f"screened at N = {SCREENING_N}, re-run at N = {RERUN_N}" in report
    assert "Ranking held: " in report and "pairs ranked apart at the screening kept their order" in report
    assert "Kendall's tau" in report and "Spearman's rho" in report
    assert "1 of the 4 models trained now, 3 reused from the cache" in report
    # The screening's models were reused as they were: only retrained model 2 is new.
    assert {path: path.stat().st_mtime_ns for path in screened_at} == screened_at
    assert len(list(cache.glob("pools/digits-quick.public.*/records/retrained-*.parquet"))) == RERUN_N
    with open(out / "leaderboard.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["submission"] for row in rows} == {FIXED.stem, "identity"}
    assert {row["n_models"] for row in rows} == {str(RERUN_N)}
    for row in rows:
        assert row["submission"] in report
        assert json.loads((Path(row["result_dir"]) / "score.json").read_text())["n_models"] == RERUN_N


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--top", "3", "--n-models", "3"], "--top 3 is larger than the leaderboard's 2 scored entries"),
        (["--top", "1", "--n-models", "3"], "--top must be at least 2"),
        (["--top", "2", "--n-models", str(SCREENING_N)], f"--n-models {SCREENING_N} must be larger than the screening's N = {SCREENING_N}"),
    ],
)
def test_confirm_refuses_what_it_cannot_do_with_one_clear_line(screening, lenient_digits, capsys, arguments, message):
    board, cache = screening
    capsys.readouterr()
    assert _confirm(board, cache, lenient_digits, *arguments) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_folder_without_a_leaderboard_is_refused(tmp_path, capsys):
    assert cli(["confirm", str(tmp_path), "--top", "2", "--n-models", "8"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} is not a leaderboard folder: it has no leaderboard.csv" in err


def _entry(rank: int, name: str) -> ScreenedEntry:
    return ScreenedEntry(rank, name, 1.0 / rank, None, None, 8, Path(name), "public")


def _row(rank: int, name: str, folder: Path) -> LeaderboardRow:
    return LeaderboardRow(rank=rank, submission=name, status="scored", score=1.0 / rank, score_low=None, score_high=None,
                          forget_quality=None, retain_acc_ratio=None, test_acc_ratio=None, time_fraction=None,
                          time_cutoff=0.1, time_basis="cpu", n_models=64, failure=None, result_dir=str(folder))


def test_pairs_kept_and_rank_correlations_compare_the_two_rankings(tmp_path):
    screened = [_entry(1, "a"), _entry(2, "b"), _entry(3, "c")]
    folders = [tmp_path / name for name in "abc"]
    # At the re-run b and c swap: 2 of 3 pairs keep their order.
    board = Leaderboard("digits", "public", [_row(1, "a", folders[0]), _row(2, "c", folders[2]), _row(3, "b", folders[1])], "none")
    comparison = compare_rankings(screened, folders, board)
    assert (comparison.pairs, comparison.pairs_kept, comparison.tied_at_screening, comparison.held) == (3, 2, 0, False)
    assert comparison.kendall_tau == pytest.approx(1 / 3) and comparison.spearman_rho == pytest.approx(0.5)
    assert [row.submission for row in comparison.confirmed] == ["a", "b", "c"]
    same = Leaderboard("digits", "public", [_row(1, "a", folders[0]), _row(2, "b", folders[1]), _row(3, "c", folders[2])], "none")
    held = compare_rankings(screened, folders, same)
    assert held.held and held.kendall_tau == pytest.approx(1.0) and held.spearman_rho == pytest.approx(1.0)


def test_pairs_the_screening_tied_are_not_counted_as_kept_or_broken(tmp_path):
    screened = [_entry(1, "a"), _entry(1, "b")]
    folders = [tmp_path / "a", tmp_path / "b"]
    board = Leaderboard("digits", "public", [_row(1, "a", folders[0]), _row(2, "b", folders[1])], "none")
    comparison = compare_rankings(screened, folders, board)
    assert (comparison.pairs, comparison.tied_at_screening, comparison.held, comparison.kendall_tau) == (0, 1, None, None)
