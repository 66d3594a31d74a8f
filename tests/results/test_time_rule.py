"""The clock an evaluation is charged on (harness.results.time_rule), from the sandbox's run outcomes.

The outcomes are RunOutcome records as the supervisor writes them, with chosen times: what the
supervisor measures is tested with the sandbox; here only the rule that turns outcomes into the
verdict's figures.
"""

from __future__ import annotations

import pytest

from harness.results.time_rule import (
    NOTE_NO_CPU_ACCOUNTING,
    NOTE_PARTIAL_CPU_ACCOUNTING,
    charge,
    per_run_budgets,
    run_seconds,
    wall_seconds,
)
from harness.pool import ReferenceTiming
from harness.sandbox.outcomes import RunOutcome

ON_CPU = ReferenceTiming(cpu_seconds=4.0, wall_seconds=5.0, runs=3, device="cpu: Test CPU, 1 torch thread", threads=1)
ON_GPU = ReferenceTiming(cpu_seconds=None, wall_seconds=2.0, runs=3, device="cuda: Test GPU", threads=1)


def _run(index: int, seconds: float | None, wall: float | None, basis: str, status: str = "ok") -> RunOutcome:
    return RunOutcome(seed=1000 + index, index=index, status=status, seconds=seconds, wall_seconds=wall, time_basis=basis)


def test_cpu_charged_runs_are_judged_in_cpu_time_with_wall_time_beside():
    runs = [_run(0, 0.2, 0.5, "cpu"), _run(1, 0.4, 0.7, "cpu")]
    charged = charge(runs, ON_CPU)
    assert (charged.time_basis, charged.time_note) == ("cpu", None)
    assert charged.unlearn_seconds_per_model == pytest.approx(0.3) and charged.retrain_seconds_per_model == 4.0
    assert charged.unlearn_wall_seconds_per_model == pytest.approx(0.6) and charged.retrain_wall_seconds_per_model == 5.0
    assert charged.retrain_cpu_seconds_per_model == 4.0


def test_without_cgroup_accounting_wall_time_is_charged_and_the_outputs_say_why():
    runs = [_run(0, 0.5, 0.5, "wall"), _run(1, 0.7, None, "wall")]  # an older outcome: no wall_seconds
    charged = charge(runs, ON_CPU)
    assert (charged.time_basis, charged.time_note) == ("wall", NOTE_NO_CPU_ACCOUNTING)
    assert charged.unlearn_seconds_per_model == pytest.approx(0.6) == charged.unlearn_wall_seconds_per_model
    assert charged.retrain_seconds_per_model == 5.0


def test_runs_with_and_without_cpu_accounting_are_all_charged_wall_time():
    runs = [_run(0, 0.2, 0.5, "cpu"), _run(1, 0.7, 0.7, "wall")]
    charged = charge(runs, ON_CPU)
    assert (charged.time_basis, charged.time_note) == ("wall", NOTE_PARTIAL_CPU_ACCOUNTING)
    assert charged.unlearn_seconds_per_model == pytest.approx(0.6)  # the cpu run counts with its wall 0.5 s
    assert [run_seconds(run, "wall") for run in runs] == [0.5, 0.7]


def test_on_a_gpu_wall_time_is_the_basis_without_a_note():
    charged = charge([_run(0, 0.3, 0.4, "cpu")], ON_GPU)  # a CPU figure means nothing against a GPU retrain
    assert (charged.time_basis, charged.time_note) == ("wall", None)
    assert charged.unlearn_seconds_per_model == 0.4 and charged.retrain_seconds_per_model == 2.0
    assert charged.retrain_cpu_seconds_per_model is None


def test_runs_never_attempted_are_never_charged():
    runs = [_run(0, 3.0, 3.5, "cpu", status="exception"), _run(1, None, None, "wall", status="not_run")]
    charged = charge(runs, ON_CPU)
    assert charged.time_basis == "cpu" and charged.unlearn_seconds_per_model == 3.0
    assert charge([_run(0, None, None, "wall", status="not_run")], ON_CPU).unlearn_seconds_per_model is None


def test_a_wall_charged_run_is_its_own_wall_time():
    assert wall_seconds(_run(0, 0.9, None, "wall")) == 0.9
    assert wall_seconds(_run(0, 0.9, None, "cpu")) is None


def test_the_sandbox_budgets_are_the_cutoff_times_the_reference_on_each_clock():
    assert per_run_budgets(0.1, ON_CPU) == {"per_run_budget_seconds": pytest.approx(0.5), "per_run_cpu_budget_seconds": pytest.approx(0.4)}
    assert per_run_budgets(3.0, ON_GPU) == {"per_run_budget_seconds": 6.0, "per_run_cpu_budget_seconds": None}
