"""The competition data of a worker process, loaded (and verified) once however many items it runs.

Pool models and evaluations of returned models are work items that need the whole dataset. A
worker process, local or on a cluster, loads it on its first item and keeps it for the next ones
of the same phase, so that only small task descriptions travel between processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.config.competition import Competition
    from harness.data.splits import CompetitionData

# One phase at a time: a worker that moves on to another phase drops the previous data.
_loaded: dict[tuple, "CompetitionData"] = {}


def worker_data(competition: "Competition", phase: str, data_dir: str | None, cache_dir: str | None) -> "CompetitionData":
    """This process's copy of `competition`'s data for `phase`, loaded on first use."""
    from harness.data.loading import load_data

    key = (competition.fingerprint_json(), phase, data_dir, cache_dir)
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = load_data(competition, phase, data_dir, cache_dir=cache_dir)
    return _loaded[key]
