"""The result of each run, persisted per seed so that a killed evaluation resumes where it stopped."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from harness.utils.files import atomic_write_text
from harness.sandbox.protocol import NOT_RUN, OK

RESULTS_DIR = "results"


@dataclass(frozen=True)
class RunOutcome:
    """One run of a submission on one seed.

    `status` is "ok", a failure kind (harness.sandbox.protocol.FAILURE_KINDS), or "not_run" (not
    attempted because an earlier run of the job failed). `seconds` is the time charged to the run,
    measured by the supervisor in `time_basis`: "cpu" (the sandbox's CPU time, user + system, all
    its processes, from its cgroup) where the backend accounts it, else "wall"; `wall_seconds` is
    the wall time of the same run, kept beside it. `message` is None when ok; for
    `exception`, the tail of the traceback. `weights_path` is the validated safetensors file (None
    unless ok); `log_path` the run's captured output.
    """

    seed: int
    index: int
    status: str
    seconds: float | None = None
    message: str | None = None
    weights_path: Path | None = None
    log_path: Path | None = None
    backend: str = ""
    isolated: bool = True
    wall_seconds: float | None = None
    time_basis: str = "wall"  # "cpu" or "wall": what `seconds` measures

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_json(self, base: Path) -> dict[str, Any]:
        data = asdict(self)
        for key in ("weights_path", "log_path"):
            if data[key] is not None:
                data[key] = str(Path(data[key]).relative_to(base))
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], base: Path) -> "RunOutcome":
        data = dict(data)
        for key in ("weights_path", "log_path"):
            if data.get(key) is not None:
                data[key] = base / data[key]
        return cls(**data)


def mean_run_seconds(outcomes: Iterable[RunOutcome]) -> float | None:
    """Supervisor-measured seconds per attempted run (None when no run was attempted).

    The mean of the runs' `seconds` equals the sandboxes' total wall time from ready to their last
    completion divided by the runs: forged progress messages can move time between runs but never
    hide any (see harness.sandbox.supervisor).
    """
    seconds = [outcome.seconds for outcome in outcomes if outcome.status != NOT_RUN and outcome.seconds is not None]
    return sum(seconds) / len(seconds) if seconds else None


class ResultStore:
    """Outcomes and validated weights of a work folder, one JSON file per seed (atomic writes)."""

    def __init__(self, work_dir: Path):
        self.base = Path(work_dir)
        self.folder = self.base / RESULTS_DIR

    def weights_path(self, seed: int) -> Path:
        return self.folder / f"seed-{seed}.safetensors"

    def _record_path(self, seed: int) -> Path:
        return self.folder / f"seed-{seed}.json"

    def load(self, seed: int) -> RunOutcome | None:
        """The stored outcome of `seed`, or None (also when an ok run's weights are gone)."""
        try:
            outcome = RunOutcome.from_json(json.loads(self._record_path(seed).read_text()), self.base)
        except (OSError, ValueError, TypeError):
            return None
        if outcome.ok and (outcome.weights_path is None or not outcome.weights_path.is_file()):
            return None
        return outcome

    def save(self, outcome: RunOutcome) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self._record_path(outcome.seed), json.dumps(outcome.to_json(self.base), indent=2))

    def has_results(self) -> bool:
        return self.folder.is_dir() and any(self.folder.glob("seed-*.json"))
