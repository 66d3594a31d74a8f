"""The time budget: the supervisor rejects a run slower than UNLEARN_TIME_BUDGET_S on the clock
UNLEARN_TIME_BASIS names, so budget-aware methods plan their work inside a share of it, on that clock."""

from __future__ import annotations

import math
import time
from typing import Callable, Iterator

from harness.kit.environment import RunEnvironment, read_environment
from harness.sandbox.run_environment import TIME_BASIS_CPU


# Share of UNLEARN_TIME_BUDGET_S a budget-aware method plans to use: the supervisor's clock also
# counts the worker's own work around the call, and a shared machine slows down unpredictably.
DEFAULT_BUDGET_SHARE = 0.7


def charged_clock(environment: RunEnvironment | None = None) -> Callable[[], float]:
    """The clock a run is charged on, as a function returning seconds.

    "cpu": this process's CPU time, user + system of all its threads (time.process_time), which is
    what the sandbox's cgroup charges of it; it advances more slowly than wall time while the
    process waits, and faster when several threads compute at once. The cgroup also charges child
    processes (e.g. DataLoader workers), which this clock does not see. "wall": time.monotonic.
    """
    environment = read_environment() if environment is None else environment
    return time.process_time if environment.time_basis == TIME_BASIS_CPU else time.monotonic


class Deadline:
    """A time limit for a phase of work, started on creation; `Deadline(None)` never expires.

    `clock` measures the elapsed time (wall time by default; `from_environment` picks the clock
    the run is charged on).
    """

    def __init__(self, seconds: float | None, *, clock: Callable[[], float] = time.monotonic):
        if seconds is not None and not seconds >= 0:
            raise ValueError(f"a deadline needs a non-negative number of seconds or None, got {seconds!r}")
        self.seconds = seconds
        self._clock = clock
        self._start = clock()

    @classmethod
    def from_environment(
        cls,
        *,
        share: float = DEFAULT_BUDGET_SHARE,
        environment: RunEnvironment | None = None,
        clock: Callable[[], float] | None = None,
    ) -> "Deadline":
        """A deadline at `share` of UNLEARN_TIME_BUDGET_S from now; unlimited when the variable is absent.

        It runs on the clock the run is charged on (`charged_clock`: CPU time when
        UNLEARN_TIME_BASIS is "cpu", else wall time) unless `clock` is given.
        """
        if not 0 < share <= 1:
            raise ValueError(f"share must lie in (0, 1], got {share}")
        environment = read_environment() if environment is None else environment
        budget = environment.time_budget_s
        return cls(None if budget is None else share * budget, clock=clock or charged_clock(environment))

    @property
    def unlimited(self) -> bool:
        return self.seconds is None

    def elapsed(self) -> float:
        """Seconds since the deadline was created."""
        return self._clock() - self._start

    def remaining(self) -> float:
        """Seconds left (never negative); infinity when unlimited."""
        if self.seconds is None:
            return math.inf
        return max(0.0, self.seconds - self.elapsed())

    def fraction_used(self) -> float:
        """Elapsed share of the allowed time in [0, 1]; 0 when unlimited."""
        if self.seconds is None:
            return 0.0
        if self.seconds == 0:
            return 1.0
        return min(1.0, self.elapsed() / self.seconds)

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def split(self, fraction: float) -> "Deadline":
        """A deadline for the next phase: `fraction` of the time remaining now (unlimited stays unlimited)."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
        if self.seconds is None:
            return Deadline(None, clock=self._clock)
        return Deadline(fraction * self.remaining(), clock=self._clock)

    def __repr__(self) -> str:
        if self.seconds is None:
            return "Deadline(unlimited)"
        return f"Deadline({self.seconds:.3g} s, {self.remaining():.3g} s left)"


def timed_rounds(count: int, deadline: Deadline) -> Iterator[float]:
    """Drive up to `count` rounds of work (epochs, cycles) and stop early when the next would not fit.

    Yields each round's progress in [0, 1) (the larger of rounds done / count and the deadline's
    used share, for a learning-rate schedule). The body between two yields is timed, and a new
    round starts only if the deadline has at least as long left as the longest round so far, so a
    method never begins a forget round that its retain round would not have time to repair.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    longest = 0.0
    for index in range(count):
        if index and deadline.remaining() < longest:
            return
        started = deadline.elapsed()
        yield max(index / count, deadline.fraction_used())
        longest = max(longest, deadline.elapsed() - started)
