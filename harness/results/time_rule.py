"""The time rule: which clock an evaluation's unlearning runs are charged on, what they cost on it,
and when that is over the competition's cutoff.

The sandbox's supervisor charges every run in a basis (RunOutcome.time_basis): "cpu", the
sandbox's CPU time where its cgroup accounts it, else "wall". The verdict compares like with
like: the runs' mean charged seconds against the reference retrain (harness.pool.reference.ReferenceTiming)
on the same clock. CPU time is the basis only when every charged run has it and the reference
does (never on a GPU, where the reference has no CPU time); otherwise every run is charged its
wall time, and on a CPU the outputs say why. Wall times are kept beside the charged ones.

A run may use `time_cutoff` x the reference on its clock (`per_run_budgets`, what the sandbox
enforces and tells the submission); the verdict is over time when the mean charged seconds per run
exceed that share of the reference retrain (`over_time_failure`, read from the outputs by
`time_figures`). Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Any, Iterable, Protocol

from harness.errors import DataError
from harness.results.outputs import RunOutputs, mean_or_none
from harness.sandbox.protocol import NOT_RUN  # runs never attempted are never charged
from harness.sandbox.run_environment import TIME_BASIS_CPU, TIME_BASIS_WALL

# What each time basis measures, in words (messages and reports).
CLOCK_NAMES = {TIME_BASIS_CPU: "CPU time", TIME_BASIS_WALL: "wall time"}
# Model failure kinds that mean "ran out of time": they make the run over_time, not failed.
OVER_TIME_KINDS = frozenset({"timeout", "over_time"})
NOTE_NO_CPU_ACCOUNTING = "no cgroup CPU accounting for this sandbox: wall time charged"
NOTE_PARTIAL_CPU_ACCOUNTING = "some runs had no cgroup CPU accounting: wall time charged for every run"


class ChargedRun(Protocol):
    """What this module reads of a harness.sandbox.RunOutcome."""

    status: str
    seconds: float | None
    wall_seconds: float | None
    time_basis: str


class Reference(Protocol):
    """What this module reads of a harness.pool.reference.ReferenceTiming."""

    cpu_seconds: float | None
    wall_seconds: float


@dataclass(frozen=True)
class ChargedTime:
    """An evaluation's unlearning time per run against the reference retrain, on two clocks.

    `time_basis` is the clock of the verdict and `unlearn_seconds_per_model` /
    `retrain_seconds_per_model` are on it; the wall-clock figures are kept beside them; `time_note`
    says why wall time was charged on a CPU. The unlearning means are over the runs that were
    attempted (None when none was timed). Field names are harness.results.outputs.OutputsMetadata's.
    """

    time_basis: str
    time_note: str | None
    unlearn_seconds_per_model: float | None
    unlearn_wall_seconds_per_model: float | None
    retrain_seconds_per_model: float
    retrain_wall_seconds_per_model: float
    retrain_cpu_seconds_per_model: float | None


def per_run_budgets(cutoff: float, reference: Reference) -> dict[str, float | None]:
    """The sandbox's per-run budgets (harness.sandbox.UnlearningJob's fields): the cutoff times the
    reference retrain on each clock; no CPU budget on a GPU, where the reference has no CPU time."""
    return {
        "per_run_budget_seconds": cutoff * reference.wall_seconds,
        "per_run_cpu_budget_seconds": None if reference.cpu_seconds is None else cutoff * reference.cpu_seconds,
    }


def wall_seconds(run: ChargedRun) -> float | None:
    """A run's wall-clock seconds (its charged seconds where it was charged on the wall clock)."""
    if run.wall_seconds is not None:
        return run.wall_seconds
    return run.seconds if run.time_basis == TIME_BASIS_WALL else None


def run_seconds(run: ChargedRun, basis: str) -> float | None:
    """A run's seconds on `basis`: its charged seconds when it was charged on that clock, else its wall time."""
    return run.seconds if run.time_basis == basis else wall_seconds(run)


def charge(runs: Iterable[ChargedRun], reference: Reference) -> ChargedTime:
    """The basis of the verdict for these runs, and the mean seconds per run on it and on the wall."""
    timed = [run for run in runs if run.status != NOT_RUN and run.seconds is not None]
    basis, note = _basis(timed, reference)
    charged = [seconds for seconds in (run_seconds(run, basis) for run in timed) if seconds is not None]
    walls = [seconds for seconds in (wall_seconds(run) for run in timed) if seconds is not None]
    return ChargedTime(
        time_basis=basis,
        time_note=note,
        unlearn_seconds_per_model=fmean(charged) if charged else None,
        unlearn_wall_seconds_per_model=fmean(walls) if walls else None,
        retrain_seconds_per_model=reference.wall_seconds if basis == TIME_BASIS_WALL else reference.cpu_seconds,
        retrain_wall_seconds_per_model=reference.wall_seconds,
        retrain_cpu_seconds_per_model=reference.cpu_seconds,
    )


def _basis(timed: list[ChargedRun], reference: Reference) -> tuple[str, str | None]:
    if reference.cpu_seconds is None:  # a GPU: wall time is the basis by design, nothing to explain
        return TIME_BASIS_WALL, None
    on_cpu = [run.time_basis == TIME_BASIS_CPU for run in timed]
    if all(on_cpu):
        return TIME_BASIS_CPU, None
    return TIME_BASIS_WALL, NOTE_PARTIAL_CPU_ACCOUNTING if any(on_cpu) else NOTE_NO_CPU_ACCOUNTING


def time_figures(outputs: RunOutputs) -> dict[str, Any]:
    """The time rule's figures: mean charged seconds per run against the reference retrain on the
    same clock (`time_basis`), with both on the wall clock beside them.

    Outputs written before the basis was recorded read as wall time (which they were): their
    wall figures are the charged ones. Where the metadata lacks a mean, the rows give it.
    """
    meta = outputs.metadata
    on_wall = meta.time_basis == TIME_BASIS_WALL
    retrain = meta.retrain_seconds_per_model
    if retrain is None:
        retrain = mean_or_none(outputs.column("seconds", "retrained"))
    if retrain is None or retrain <= 0:
        raise DataError(
            "the outputs record no reference retrain time (metadata retrain_seconds_per_model or the retrained "
            "rows' seconds); the time limit cannot be checked"
        )
    attempted = outputs.rows("unlearned", ok_only=False)
    unlearn = meta.unlearn_seconds_per_model
    if unlearn is None:
        unlearn = mean_or_none(outputs.seconds[attempted])
    unlearn_wall = meta.unlearn_wall_seconds_per_model
    if unlearn_wall is None:
        unlearn_wall = unlearn if on_wall else mean_or_none(outputs.wall_seconds[attempted])
    retrain_wall = meta.retrain_wall_seconds_per_model
    if retrain_wall is None and on_wall:
        retrain_wall = retrain
    return {
        "time_basis": meta.time_basis,
        "unlearn_seconds_per_model": unlearn,
        "retrain_seconds_per_model": retrain,
        "time_fraction": None if unlearn is None else unlearn / retrain,
        "unlearn_wall_seconds_per_model": unlearn_wall,
        "retrain_wall_seconds_per_model": retrain_wall,
        "time_note": meta.time_note,
    }


def over_time_failure(times: dict[str, Any], cutoff: float) -> dict[str, str] | None:
    """The `over_time` failure when the mean charged time per run is over `cutoff` x the reference
    retrain on the same clock (`times` is time_figures'), else None."""
    if times["time_fraction"] is None or times["time_fraction"] <= cutoff:
        return None
    clock = CLOCK_NAMES[times["time_basis"]]
    return {
        "kind": "over_time",
        "message": (
            f"unlearning took {times['unlearn_seconds_per_model']:.3g} s of {clock} per model, "
            f"{times['time_fraction']:.1%} of a {times['retrain_seconds_per_model']:.3g} s retrain; "
            f"the limit is {100 * cutoff:g}%"
        ),
    }
