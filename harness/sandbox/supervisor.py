"""The trusted side of a sandboxed evaluation: start the sandbox, time it, stop it, check its output.

`run_submission` starts one sandbox whose worker loads the job once and runs the submission on
each seed, each run in a fresh process (worker.py, run_process.py). The supervisor

- releases each run and charges it from outside: when run k's process is ready, the supervisor
  reads the sandbox's clocks (its cgroup's CPU time, and the wall clock) and only then creates
  the file that lets it start; run k ends when the worker reports it done, which it does once
  every process of the run has ended. Between the two, only run k can work in the sandbox, so it
  is charged exactly its own work, and the weights it left are frozen before they are copied.
  On a CPU the charge is CPU time (user + system, all processes and threads: machine load does
  not change it) against the reference retrain's CPU time; on a GPU, or where no cgroup
  accounts the sandbox, wall time (the outcome says which: `time_basis`);
- stops a run that exceeds `timeout_factor` x its budget + a grace (SandboxLimits) on either
  clock, an output folder past its quota (where no size-limited file system holds it), and a
  sandbox that does not end after its last run (a violation: nothing may work after it);
- treats everything the sandbox sends as hostile input: any line that is not the message
  expected next ends the run in progress as a protocol violation, never the harness;
- copies each returned model out of the sandbox without following links, checks it against
  the architecture (validation.py) and stores it with the run's outcome, atomically, before the
  next run starts: a killed evaluation keeps every result already computed, and calling again
  with the same work folder runs only the seeds without a result;
- classifies every failure (protocol.FAILURE_KINDS) and captures each run's output into a
  bounded log.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import stat
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from harness.utils.files import file_lock
from harness.errors import HarnessError
from harness.training.architectures import build_model
from harness.config.packages import allowed_import_names
from harness.utils.progress import progress as progress_bar
from harness.sandbox import protocol
from harness.sandbox.backends import LaunchSpec, Sandbox, StreamSinks, create_sandbox, resolve_sandbox
from harness.sandbox.backends import output_mount
from harness.sandbox.backends.none import WARNING as UNISOLATED_WARNING
from harness.sandbox.cores import reserved_cores
from harness.sandbox.job import UnlearningJob, job_fingerprint, stored_fingerprint, write_job
from harness.sandbox.layout import scratch_folders
from harness.sandbox.limits import SandboxLimits
from harness.sandbox.logs import LogRouter
from harness.sandbox.outcomes import ResultStore, RunOutcome
from harness.sandbox.reporting import WEIGHTS_NAME
from harness.sandbox.protocol import (
    CRASHED,
    DONE,
    FATAL,
    FINISHED,
    NOT_RUN,
    OK,
    OUT_OF_MEMORY,
    PREPARED,
    READY,
    SANDBOX_VIOLATION,
    SESSION_FILE,
    TIMEOUT,
    ProtocolViolation,
)
from harness.sandbox.validation import InvalidModel, load_returned_state_dict, max_weights_bytes
from harness.sandbox.submission_files import submission_sha256

# What a worker may report for a run; anything else is a protocol violation.
WORKER_STATUSES = {OK, *protocol.FAILURE_KINDS} - {TIMEOUT, protocol.INVALID_SUBMISSION}
TICK_SECONDS = 0.1  # how often limits are checked
QUOTA_CHECK_SECONDS = 1.0
LINGER_SECONDS = 10.0  # a sandbox still alive this long after its last run is stopped, a violation
LINGER_CPU_SECONDS = 1.0  # ... as is one that uses this much CPU time after its last run
STOP_WAIT_SECONDS = 60.0  # a killed sandbox must end within this
DRAIN_SECONDS = 2.0
MAX_QUEUED_LINES = 10_000


def run_submission(
    submission: Path,
    job: UnlearningJob,
    work_dir: Path,
    *,
    backend: str = "auto",
    limits: SandboxLimits | None = None,
    progress: bool = True,
    allow_unsandboxed: bool = True,
    stop_on_failure: bool = True,
) -> list[RunOutcome]:
    """Run `submission` once per seed of `job` in one sandbox; return one outcome per seed, in order.

    `backend` is auto, docker, bwrap or none (resolve_sandbox). `none` runs without isolation:
    it prints a warning, marks every outcome `isolated=False`, and raises HarnessError when
    `allow_unsandboxed` is False (a competition may forbid it). With `stop_on_failure`, the first
    failed run ends the job and the seeds after it are returned as "not_run"; otherwise a sandbox
    that died is restarted for the remaining seeds. Results persist in `work_dir`: calling again
    with the same folder skips every seed that has a result. One call per work folder at a time.
    """
    limits = limits or SandboxLimits()
    name = resolve_sandbox(backend)
    if name == "none":
        if not allow_unsandboxed:
            raise HarnessError("--sandbox none is not allowed by this competition: use --sandbox docker or bwrap")
        print(UNISOLATED_WARNING, file=sys.stderr)
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(work_dir / ".lock", blocking=False) as acquired:
        if not acquired:
            raise HarnessError(f"another process is running submissions in {work_dir}; use a separate work folder")
        supervisor = Supervisor(Path(submission), job, work_dir, name, limits, stop_on_failure)
        return supervisor.run(show_progress=progress)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class TimeBasis:
    """What a session's runs are charged on: "cpu" or "wall", why (when wall on a CPU), the budget."""

    basis: str
    note: str | None
    budget_seconds: float | None


class Supervisor:
    """Runs the sandbox sessions of one `run_submission` call."""

    def __init__(self, submission: Path, job: UnlearningJob, work_dir: Path, backend: str, limits: SandboxLimits, stop_on_failure: bool):
        self.submission, self.job, self.work_dir = submission, job, work_dir
        self.backend_name, self.limits, self.stop_on_failure = backend, limits, stop_on_failure
        self.store = ResultStore(work_dir)
        self.job_dir = work_dir / "job"
        self.out_dir = work_dir / "sandbox-out"
        self.scratch_dir = work_dir / "scratch"
        self.logs_dir = work_dir / "logs"
        self.reference = build_model(job.architecture, job.num_classes, job.in_channels)
        self.max_weights_bytes = max_weights_bytes(self.reference)
        self.isolated = create_sandbox(backend, limits).isolated

    # --- the job and its seeds ------------------------------------------------------------------
    def prepare_job(self) -> None:
        """Write the job folder unless the same job is already there; refuse to mix jobs."""
        fingerprint = job_fingerprint(self.job, submission_sha256(self.submission))
        if stored_fingerprint(self.job_dir) == fingerprint:
            return
        if self.store.has_results():
            raise HarnessError(
                f"{self.work_dir} holds results of another job or submission; use another work folder or delete it"
            )
        write_job(self.job, self.submission, self.job_dir, fingerprint, submission_bytes=self.limits.submission_bytes)

    def run(self, show_progress: bool) -> list[RunOutcome]:
        self.prepare_job()
        outcomes: dict[int, RunOutcome] = {}
        pending: list[tuple[int, int]] = []
        for position, seed in enumerate(self.job.seeds):
            stored = self.store.load(seed)
            if stored is not None and stored.status != NOT_RUN:
                outcomes[seed] = stored
            else:
                pending.append((position, seed))
        bar = (
            progress_bar(total=len(self.job.seeds), initial=len(outcomes), desc=f"unlearning ({self.backend_name} sandbox)", unit="run")
            if show_progress
            else _NoBar()
        )
        try:
            while pending and not (self.stop_on_failure and self._first_failure(outcomes.values())):
                attempted, pending = self.session(pending, on_outcome=lambda _: bar.update())
                outcomes.update((outcome.seed, outcome) for outcome in attempted)
        finally:
            bar.close()
        failure = self._first_failure(outcomes.values())
        for position, seed in pending:
            reason = f"not run: seed {failure.seed} failed with {failure.status}" if failure else "not run"
            outcomes[seed] = self.make_outcome(position, seed, NOT_RUN, None, reason)
        return [outcomes[seed] for seed in self.job.seeds]

    @staticmethod
    def _first_failure(outcomes) -> RunOutcome | None:
        failed = [outcome for outcome in outcomes if outcome.status not in (OK, NOT_RUN)]
        return min(failed, key=lambda outcome: outcome.index) if failed else None

    def make_outcome(self, position: int, seed: int, status: str, seconds: float | None, message: str | None, **fields) -> RunOutcome:
        return RunOutcome(
            seed=seed,
            index=self.job.first_index + position,
            status=status,
            seconds=seconds,
            message=message,
            backend=self.backend_name,
            isolated=self.isolated,
            **fields,
        )

    # --- one sandbox ----------------------------------------------------------------------------
    def session(self, runs: list[tuple[int, int]], on_outcome) -> tuple[list[RunOutcome], list[tuple[int, int]]]:
        """Run `runs` ((position, seed) pairs) in one sandbox; return (outcomes, runs not attempted).

        The sandbox is bound to the limits' cores, else to as many free cores of this machine as
        the job has threads, held for the session (harness.sandbox.cores).
        """
        if self.limits.cpus:
            return self._session(runs, on_outcome, self.limits.cpus)
        with reserved_cores(self.job.torch_threads) as cpus:
            return self._session(runs, on_outcome, cpus)

    def _session(self, runs: list[tuple[int, int]], on_outcome, cpus: str) -> tuple[list[RunOutcome], list[tuple[int, int]]]:
        backend = create_sandbox(self.backend_name, self.limits)
        # RLIMIT_CPU is per process: each run process gets the whole allowance afresh.
        cpu_seconds = int((self.limits.startup_timeout_seconds + self.limits.run_timeout_seconds(self.job.per_run_budget_seconds))
                          * self.job.torch_threads) + 60
        spec = LaunchSpec(
            job_dir=self.job_dir,
            out_dir=self.out_dir,
            scratch_dir=self.scratch_dir,
            gpu_index=self.job.gpu_index,
            torch_threads=self.job.torch_threads,
            limits=self.limits,
            cpu_seconds=cpu_seconds,
            cpus=cpus,
        )
        number = len(list(self.logs_dir.glob("session-*.log"))) + 1 if self.logs_dir.is_dir() else 1

        def open_run_log(position_in_session: int) -> tuple[Path, str]:
            position, seed = runs[position_in_session]
            return self.log_path(seed), self.log_header(seed, position, number)

        router = LogRouter(self.limits.log_head_bytes, self.limits.log_tail_bytes, open_run_log)
        try:
            self.scratch_dir.mkdir(parents=True, exist_ok=True)
            backend.prepare(spec)
            self._reset_output(backend)
            self._reset_control()
            basis = self.time_basis(backend)
            self._write_session_file(backend, spec, runs, basis)
            session = _Session(self, backend, spec, runs, router, number, on_outcome, basis)
            return session.run()
        finally:
            backend.close()
            router.close()

    def time_basis(self, backend: Sandbox) -> TimeBasis:
        """CPU time where the sandbox's cgroup accounts it and the job has a CPU-time budget, else wall."""
        job = self.job
        if job.gpu_index is not None:
            return TimeBasis("wall", None, job.per_run_budget_seconds)
        problem = backend.cpu_accounting_problem()
        if problem is None and job.per_run_cpu_budget_seconds is None and job.per_run_budget_seconds is not None:
            problem = "the job has no CPU-time reference for its budget"
        if problem is not None:
            return TimeBasis("wall", f"{problem}: wall time charged, which machine load inflates", job.per_run_budget_seconds)
        return TimeBasis("cpu", None, job.per_run_cpu_budget_seconds)

    def _reset_output(self, backend: Sandbox) -> None:
        if output_mount.is_mount_point(self.out_dir):
            output_mount.unmount(self.out_dir)  # left by a supervisor that died
        _remove_tree(self.out_dir)
        self.out_dir.mkdir(parents=True)
        backend.prepare_output(self.out_dir)

    def _reset_control(self) -> None:
        control = self.job_dir / protocol.CONTROL_DIR
        _remove_tree(control)
        control.mkdir()
        os.chmod(control, 0o755)

    def release(self, index: int) -> None:
        """Let run `index` start (the worker waits for this file)."""
        path = self.job_dir / protocol.CONTROL_DIR / protocol.go_file_name(index)
        path.touch()
        os.chmod(path, 0o644)

    def _write_session_file(self, backend: Sandbox, spec: LaunchSpec, runs: list[tuple[int, int]], basis: TimeBasis) -> None:
        session = {
            "seeds": [seed for _, seed in runs],
            "stop_on_failure": self.stop_on_failure,
            "rlimits": backend.rlimits(spec),
            "visible_roots": backend.visible_roots(spec),
            "hidden_roots": backend.hidden_roots(spec),
            "own_pid_namespace": backend.own_pid_namespace,
            # Emptied by the worker after every run: only a real sandbox's private folders.
            "scratch_folders": [folder for folder, _ in scratch_folders(self.limits)] if backend.isolated else [],
            "private_output": backend.isolated,
            "time_basis": basis.basis,
            "time_budget_seconds": basis.budget_seconds,
            # Top-level modules of the competition's packages: preloaded, and the only ones a run may import.
            "environment": sorted(allowed_import_names(self.job.packages)),
        }
        path = self.job_dir / SESSION_FILE
        path.write_text(json.dumps(session, indent=2))
        os.chmod(path, 0o644)

    def log_path(self, seed: int) -> Path:
        return self.logs_dir / f"seed-{seed}.log"

    def log_header(self, seed: int, position: int, session: int) -> str:
        isolation = "isolated" if self.isolated else "NOT ISOLATED"
        header = (
            f"# seed {seed} (model {self.job.first_index + position}), sandbox {self.backend_name} ({isolation}), "
            f"session {session}\n"
        )
        return header + (f"# {UNISOLATED_WARNING}\n" if isolation == "NOT ISOLATED" else "")

    def accept_weights(self, backend: Sandbox, position: int, seed: int) -> tuple[str, str | None, Path | None]:
        """Fetch and check run `position`'s weights: (status, message, stored path)."""
        destination = self.store.weights_path(seed)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            backend.fetch_output(WEIGHTS_NAME.format(index=position), destination, self.max_weights_bytes)
            load_returned_state_dict(destination, self.reference)
        except InvalidModel as error:
            destination.unlink(missing_ok=True)
            return protocol.INVALID_MODEL, str(error), None
        except Exception as error:  # a parser surprised by hostile bytes must not stop the harness
            destination.unlink(missing_ok=True)
            return protocol.INVALID_MODEL, f"the weights could not be read ({type(error).__name__}: {error})", None
        return OK, None, destination


@dataclass
class _Kill:
    status: str | None  # the failure of the run in progress; None: no run was in progress
    message: str | None
    at: float


@dataclass
class _Clock:
    """Where a run's clocks stood when it was released."""

    wall: float
    cpu: float | None
    oom_kills: int


class _Session:
    """The event loop of one sandbox: protocol messages, clocks, limits, and how it ended."""

    def __init__(self, supervisor: Supervisor, backend: Sandbox, spec: LaunchSpec, runs, router: LogRouter,
                 number: int, on_outcome, basis: TimeBasis):
        self.supervisor, self.backend, self.spec, self.runs = supervisor, backend, spec, runs
        self.router, self.number, self.on_outcome, self.basis = router, number, on_outcome, basis
        self.events: queue.Queue = queue.Queue()
        self.overflow = False
        self.outcomes: list[RunOutcome] = []
        self.position = 0  # the run in progress, or the next one
        self.stage = "loading"  # loading -> (preparing -> running)* -> finished
        self.ready_at: float | None = None
        self.stage_since = 0.0
        self.clock: _Clock | None = None  # of the run in progress
        self.last_cpu: float | None = None
        self.finished_cpu: float | None = None
        self.fatal_message: str | None = None
        self.kill: _Kill | None = None
        self._receipt_time = 0.0
        self._splitter = protocol.LineSplitter(self._queue_line)

    # Called from the backend's reader thread.
    def _on_protocol(self, data: bytes, received: float) -> None:
        self._receipt_time = received
        self._splitter.feed(data)
        if self._splitter.dropped_lines:
            self._splitter.dropped_lines = 0
            self.events.put(("violation", received, b"a line longer than the protocol allows"))

    def _queue_line(self, line: bytes) -> None:
        # The worker sends a few lines per run: more than this queued is a flood, itself a violation.
        if self.events.qsize() >= MAX_QUEUED_LINES:
            self.overflow = True
            return
        self.events.put(("line", self._receipt_time, line))

    def run(self) -> tuple[list[RunOutcome], list[tuple[int, int]]]:
        supervisor = self.supervisor
        self.router.start(supervisor.logs_dir / f"session-{self.number}.log", header=f"# sandbox start-up, session {self.number}\n")
        sinks = StreamSinks(self._on_protocol, self.router.write, lambda ended: self.events.put(("exit", ended, None)))
        started = self.stage_since = time.monotonic()
        self.backend.start(self.spec, sinks)
        self.router.note(f"sandbox bound to {self.backend.binding()}; runs charged on {self.basis.basis} time"
                         + (f" ({self.basis.note})" if self.basis.note else ""))
        next_quota_check = started + QUOTA_CHECK_SECONDS
        ended: float | None = None
        while ended is None:
            try:
                kind, when, line = self.events.get(timeout=TICK_SECONDS)
            except queue.Empty:
                kind = None
            if kind == "line":
                self._handle(line, when)
            elif kind == "violation":
                self._violation(f"protocol violation: the sandbox sent {line.decode()}")
            elif kind == "exit":
                ended = when
                break
            if self.overflow:
                self.overflow = False
                self._violation(f"protocol violation: the sandbox sent more than {MAX_QUEUED_LINES} messages at once")
            now = time.monotonic()
            self._sample_cpu()
            self._check_time(now)
            if now >= next_quota_check and self.kill is None and self.stage == "running":
                self._check_output_quota()
                next_quota_check = now + QUOTA_CHECK_SECONDS
        self.backend.drain(DRAIN_SECONDS)
        while True:
            try:
                kind, when, line = self.events.get_nowait()
            except queue.Empty:
                break
            if kind == "line":
                self._handle(line, min(when, ended))
        return self._conclude(ended)

    # --- clocks ---------------------------------------------------------------------------------
    def _sample_cpu(self) -> float | None:
        seconds = self.backend.cpu_seconds() if self.basis.basis == "cpu" else None
        if seconds is not None:
            self.last_cpu = seconds
        return seconds

    def _charge(self, wall_end: float, cpu_end: float | None) -> tuple[float, float, str]:
        """(charged seconds, wall seconds, basis) of the run in progress, from its release."""
        clock = self.clock
        assert clock is not None
        wall = max(0.0, wall_end - clock.wall)
        if self.basis.basis == "cpu" and clock.cpu is not None and cpu_end is not None:
            return max(0.0, cpu_end - clock.cpu), wall, "cpu"
        return wall, wall, "wall"

    # --- messages -------------------------------------------------------------------------------
    def _handle(self, line: bytes, when: float) -> None:
        if self.kill is not None:
            return  # the sandbox is being stopped; what it still says changes nothing
        try:
            message = protocol.decode(line)
            self._dispatch(message, when)
        except ProtocolViolation as error:
            self._violation(f"protocol violation: the sandbox sent {error}")

    def _dispatch(self, message: dict, when: float) -> None:
        event = message["event"]
        if self.stage == "loading":
            if event == READY:
                self.ready_at = when
                self._enter("preparing")
            elif event == FATAL:
                self.fatal_message = message["message"]
            else:
                raise ProtocolViolation(f"a {event!r} message before the worker was ready")
            return
        expected = {"preparing": (PREPARED, FINISHED), "running": (DONE,), "finished": (FINISHED,)}[self.stage]
        if event not in expected:
            raise ProtocolViolation(f"a {event!r} message where {' or '.join(map(repr, expected))} was due")
        if event == FINISHED:
            if self.stage == "preparing" and self.position < len(self.runs) and self._may_continue():
                raise ProtocolViolation(f"'finished' before run {self.position} was attempted")
            self._finish()
            return
        if message["index"] != self.position:
            raise ProtocolViolation(f"a {event!r} message for run {message['index']} during run {self.position}")
        if event == PREPARED:
            self._release()
        else:
            self._done(message, when)

    def _may_continue(self) -> bool:
        return not (self.supervisor.stop_on_failure and any(outcome.status != OK for outcome in self.outcomes))

    def _enter(self, stage: str) -> None:
        self.stage, self.stage_since = stage, time.monotonic()

    def _release(self) -> None:
        cpu = self._sample_cpu()
        self.clock = _Clock(time.monotonic(), cpu, self.backend.oom_kills())
        self.supervisor.release(self.position)
        self._enter("running")

    def _done(self, message: dict, when: float) -> None:
        seconds, wall, basis = self._charge(when, self._sample_cpu())
        position, seed = self.runs[self.position]
        status, text = message["status"], message["message"]
        text = protocol.clip_message(text) if text is not None else None
        if message["seed"] != seed or status not in WORKER_STATUSES:
            raise ProtocolViolation(f"a report of run {self.position} with seed {message['seed']} and status {status[:40]!r}")
        weights, reported = None, status
        if status == OK:
            status, text, weights = self.supervisor.accept_weights(self.backend, self.position, seed)
        elif status == CRASHED and self.backend.oom_kills() > self.clock.oom_kills:
            status, text = OUT_OF_MEMORY, self._oom_message()
        self._record(status, seconds, wall, basis, text, weights)
        if reported == OK and not self._may_continue():
            self._enter("finished")
            self._stop(None, None)  # the worker saw a success; only the supervisor knows the weights failed
            return
        self._enter("preparing" if self.position < len(self.runs) and self._may_continue() else "finished")
        if self.stage == "finished":
            self.finished_cpu = self.last_cpu

    def _finish(self) -> None:
        if self.stage != "finished":
            self._enter("finished")
            self.finished_cpu = self.last_cpu

    def _record(self, status: str, seconds: float | None, wall: float | None, basis: str, message: str | None,
                weights: Path | None) -> None:
        position, seed = self.runs[self.position]
        outcome = self.supervisor.make_outcome(
            position, seed, status, seconds, message,
            weights_path=weights, log_path=self.supervisor.log_path(seed), wall_seconds=wall, time_basis=basis,
        )
        self.supervisor.store.save(outcome)
        self.outcomes.append(outcome)
        self.position += 1
        self.on_outcome(outcome)

    def _oom_message(self) -> str:
        return (f"the run ran out of memory ({self.supervisor.limits.cgroup_memory_bytes} bytes including the "
                "scratch and output folders) and the kernel killed its process")

    # --- limits and violations ------------------------------------------------------------------
    def _stop(self, status: str | None, message: str | None) -> None:
        if self.kill is None:
            self._sample_cpu()
            self.kill = _Kill(status, message, time.monotonic())
            if message:
                self.router.note(message)
            self.backend.kill()

    def _violation(self, message: str) -> None:
        """Anything the sandbox should not have done ends the run in progress, or, after the last
        run, turns the last run's result into a violation: nothing may work after it."""
        if self.kill is not None:
            return
        if self.stage == "finished" and self.outcomes:
            self._revoke_last(message)
            self._stop(None, message)
        elif self.stage in ("preparing", "running") and self.position < len(self.runs):
            if self.stage == "preparing":  # charged from now: nothing of the run was released yet
                self.clock = _Clock(time.monotonic(), self.last_cpu, self.backend.oom_kills())
                self._enter("running")
            self._stop(SANDBOX_VIOLATION, message)
        else:
            self._stop(None, message)

    def _revoke_last(self, message: str) -> None:
        last = self.outcomes[-1]
        revoked = replace(last, status=SANDBOX_VIOLATION, message=message, weights_path=None)
        self.supervisor.store.save(revoked)
        if last.weights_path is not None:
            Path(last.weights_path).unlink(missing_ok=True)
        self.outcomes[-1] = revoked

    def _check_time(self, now: float) -> None:
        limits = self.supervisor.limits
        if self.kill is not None:
            if now - self.kill.at > STOP_WAIT_SECONDS:
                raise HarnessError(f"the {self.backend.name} sandbox did not stop within {STOP_WAIT_SECONDS:.0f} s of being killed")
            return
        waited = now - self.stage_since
        if self.stage == "loading":
            if waited > limits.startup_timeout_seconds:
                self._stop(None, f"the worker did not load the job within {limits.startup_timeout_seconds:.0f} s")
        elif self.stage == "preparing":
            if waited > limits.startup_timeout_seconds:
                self.clock = _Clock(now, self.last_cpu, self.backend.oom_kills())
                self._enter("running")
                self._stop(CRASHED, f"run {self.position}'s process was not ready within {limits.startup_timeout_seconds:.0f} s")
        elif self.stage == "running":
            self._check_run_time(now)
        elif self.stage == "finished":
            used = (self.last_cpu or 0.0) - (self.finished_cpu or self.last_cpu or 0.0)
            if waited > LINGER_SECONDS or used > LINGER_CPU_SECONDS:
                self._violation(f"the sandbox kept working after its last run ({used:.2f} s of CPU time in the "
                                f"{waited:.1f} s after it): nothing may run once the runs are over")

    def _check_run_time(self, now: float) -> None:
        limits, job, clock = self.supervisor.limits, self.supervisor.job, self.clock
        wall_limit = limits.run_timeout_seconds(job.per_run_budget_seconds)
        wall = now - clock.wall
        if wall > wall_limit:
            self._stop(TIMEOUT, self._timeout_message("wall", wall, job.per_run_budget_seconds, wall_limit))
            return
        if self.basis.basis == "cpu" and self.basis.budget_seconds is not None and clock.cpu is not None and self.last_cpu is not None:
            cpu_limit = limits.run_timeout_seconds(self.basis.budget_seconds)
            cpu = self.last_cpu - clock.cpu
            if cpu > cpu_limit:
                self._stop(TIMEOUT, self._timeout_message("CPU", cpu, self.basis.budget_seconds, cpu_limit))

    def _timeout_message(self, clock: str, elapsed: float, budget: float | None, limit: float) -> str:
        limits = self.supervisor.limits
        if budget is None:
            rule = f"the limit without a time budget is {limits.max_run_seconds:.0f} s"
        else:
            rule = (f"a run may take at most {limits.timeout_factor:g} x its budget of {budget:.3g} s "
                    f"+ {limits.timeout_grace_seconds:.3g} s = {limit:.3g} s of {clock} time")
        return f"stopped after {elapsed:.1f} s of {clock} time: {rule}"

    def _check_output_quota(self) -> None:
        if self.backend.output_quota_problem is None:
            return  # a size-limited file system: the kernel enforces it
        limits = self.supervisor.limits
        size, files = folder_usage(self.supervisor.out_dir, limits.output_files)
        if size > limits.output_bytes or files > limits.output_files:
            self._stop(
                SANDBOX_VIOLATION,
                f"the output folder grew past its quota ({size} bytes in {files} entries; at most "
                f"{limits.output_bytes} bytes and {limits.output_files} entries): only the returned weights belong there",
            )

    # --- the end --------------------------------------------------------------------------------
    def _conclude(self, ended: float) -> tuple[list[RunOutcome], list[tuple[int, int]]]:
        status = self.backend.exit_status()
        if self.ready_at is None:
            reason = (self.kill.message if self.kill and self.kill.message else None) or (
                self.fatal_message.strip().splitlines()[-1] if self.fatal_message else f"{status.describe()} before it was ready"
            )
            raise HarnessError(
                f"the {self.backend.name} sandbox could not start the worker: {reason} "
                f"(log: {self.supervisor.logs_dir / f'session-{self.number}.log'})"
            )
        cpu_end = self._sample_cpu() if self.backend.cpu_seconds() is not None else self.last_cpu
        if self.stage == "running":
            end = self.kill.at if self.kill is not None else ended
            seconds, wall, basis = self._charge(end, cpu_end)
            if self.kill is not None and self.kill.status is not None:
                kind, message = self.kill.status, self.kill.message
            elif self.backend.oom_kills() > self.clock.oom_kills or status.oom_killed:
                kind, message = OUT_OF_MEMORY, self._oom_message()
            else:
                kind, message = CRASHED, f"the sandbox ended during this run: {status.describe()}"
            self._record(kind, seconds, wall, basis, message, None)
        elif self.stage == "preparing" and self.position < len(self.runs) and self._may_continue() and self.kill is None:
            self._record(CRASHED, None, None, self.basis.basis, f"the sandbox ended before this run started: {status.describe()}", None)
        self.router.note(f"sandbox ended: {status.describe()}")
        return self.outcomes, self.runs[self.position:]


def folder_usage(folder: Path, max_entries: int) -> tuple[int, int]:
    """(bytes allocated, entries) under `folder`, without following links; stops past `max_entries`.

    Only where no size-limited file system holds the output folder (a harness that cannot mount).
    """
    size, entries, stack = 0, 0, [str(folder)]
    while stack and entries <= max_entries:
        try:
            scanner = os.scandir(stack.pop())
        except OSError:
            continue
        with scanner:
            for entry in scanner:
                entries += 1
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                size += info.st_blocks * 512  # allocated bytes: a sparse file cannot hide its size
                if stat.S_ISDIR(info.st_mode):
                    stack.append(entry.path)
    return size, entries


def _remove_tree(folder: Path) -> None:
    """Remove a folder the sandbox wrote, even where it removed its own permissions."""

    def make_writable_and_retry(function, path, _):
        try:
            os.chmod(os.path.dirname(path), 0o700)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o700)
            function(path)
        except OSError:
            pass

    if folder.exists():
        shutil.rmtree(folder, onerror=make_writable_and_retry)
