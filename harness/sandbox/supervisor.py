"""The trusted side of a sandboxed evaluation: start the sandbox, time it, stop it, check its output.

`run_submission` starts one sandbox whose worker loads the job once and runs the submission on
each seed. The supervisor

- times each run from outside: the clock starts when the worker signals ready (before the
  submission is imported) and each run ends when its completion is received, so a sandbox's runs
  add up to the wall time from ready to its last completion. Messages may be forged, but a run's
  weights are copied out the moment its completion is accepted: all work that can affect them
  happened before, so forging moves time between runs and cannot hide any. A run cut short
  (killed, crashed) ends when the sandbox does;
- stops a run that exceeds `timeout_factor` x its budget + a grace (SandboxLimits), an output
  folder that grows past its quota, and a sandbox that does not end after its last run;
- copies each returned model out of the sandbox's folder without following links, checks it
  against the architecture (validation.py) and stores it with the run's outcome, atomically,
  before the next run ends: a killed evaluation keeps every result already computed, and calling
  again with the same work folder runs only the seeds without a result;
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
from dataclasses import dataclass
from pathlib import Path

from harness.cache import file_lock
from harness.errors import HarnessError
from harness.models import build_model
from harness.progress import progress as progress_bar
from harness.sandbox import protocol, worker
from harness.sandbox.backends import LaunchSpec, Sandbox, StreamSinks, create_backend, resolve_backend
from harness.sandbox.backends.none import WARNING as UNISOLATED_WARNING
from harness.sandbox.job import UnlearningJob, job_fingerprint, stored_fingerprint, write_job
from harness.sandbox.limits import SandboxLimits
from harness.sandbox.logs import LogRouter
from harness.sandbox.outcomes import ResultStore, RunOutcome
from harness.sandbox.protocol import (
    CRASHED,
    DONE,
    EXCEPTION,
    FATAL,
    NOT_RUN,
    OK,
    OUT_OF_MEMORY,
    READY,
    SANDBOX_VIOLATION,
    SESSION_FILE,
    TIMEOUT,
)
from harness.sandbox.validation import InvalidModel, copy_untrusted_file, load_returned_state_dict, max_weights_bytes
from harness.submission_files import submission_sha256

# What a worker may report for a run; anything else (a forged message) counts as an exception.
WORKER_STATUSES = {OK, *protocol.FAILURE_KINDS} - {TIMEOUT}
TICK_SECONDS = 0.1  # how often limits are checked
QUOTA_CHECK_SECONDS = 1.0
LINGER_SECONDS = 30.0  # a sandbox still alive this long after its last run is stopped
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

    `backend` is auto, docker, bwrap or none (resolve_backend). `none` runs without isolation:
    it prints a warning, marks every outcome `isolated=False`, and raises HarnessError when
    `allow_unsandboxed` is False (a competition may forbid it). With `stop_on_failure`, the first
    failed run ends the job and the seeds after it are returned as "not_run"; otherwise a sandbox
    that died is restarted for the remaining seeds. Results persist in `work_dir`: calling again
    with the same folder skips every seed that has a result. One call per work folder at a time.
    """
    limits = limits or SandboxLimits()
    name = resolve_backend(backend)
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
        self.run_timeout = limits.run_timeout_seconds(job.per_run_budget_seconds)
        self.isolated = create_backend(backend, limits).isolated

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

    def make_outcome(self, position: int, seed: int, status: str, seconds: float | None, message: str | None, **paths) -> RunOutcome:
        return RunOutcome(
            seed=seed,
            index=self.job.first_index + position,
            status=status,
            seconds=seconds,
            message=message,
            backend=self.backend_name,
            isolated=self.isolated,
            **paths,
        )

    # --- one sandbox ----------------------------------------------------------------------------
    def session(self, runs: list[tuple[int, int]], on_outcome) -> tuple[list[RunOutcome], list[tuple[int, int]]]:
        """Run `runs` ((position, seed) pairs) in one sandbox; return (outcomes, runs not attempted)."""
        backend = create_backend(self.backend_name, self.limits)
        cpu_seconds = int((self.limits.startup_timeout_seconds + len(runs) * self.run_timeout) * self.job.torch_threads) + 60
        spec = LaunchSpec(
            job_dir=self.job_dir,
            out_dir=self.out_dir,
            scratch_dir=self.scratch_dir,
            gpu_index=self.job.gpu_index,
            torch_threads=self.job.torch_threads,
            limits=self.limits,
            cpu_seconds=cpu_seconds,
        )
        number = len(list(self.logs_dir.glob("session-*.log"))) + 1 if self.logs_dir.is_dir() else 1

        def open_run_log(position_in_session: int) -> tuple[Path, str]:
            position, seed = runs[position_in_session]
            return self.log_path(seed), self.log_header(seed, position, number)

        router = LogRouter(self.limits.log_head_bytes, self.limits.log_tail_bytes, open_run_log)
        session = _Session(self, backend, spec, runs, router, number, on_outcome)
        try:
            backend.prepare(spec)
            self._reset_output(backend)
            self._write_session_file(backend, spec, runs)
            return session.run()
        finally:
            backend.close()
            router.close()

    def _reset_output(self, backend: Sandbox) -> None:
        _remove_tree(self.out_dir)
        self.out_dir.mkdir(parents=True)
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        backend.prepare_output(self.out_dir)

    def _write_session_file(self, backend: Sandbox, spec: LaunchSpec, runs: list[tuple[int, int]]) -> None:
        session = {
            "seeds": [seed for _, seed in runs],
            "stop_on_failure": self.stop_on_failure,
            "rlimits": backend.rlimits(spec),
            "visible_roots": backend.visible_roots(spec),
            "hidden_roots": backend.hidden_roots(spec),
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

    def accept_weights(self, position: int, seed: int) -> tuple[str, str | None, Path | None]:
        """Fetch and check run `position`'s weights: (status, message, stored path)."""
        source = worker.weights_path(self.out_dir, position)
        destination = self.store.weights_path(seed)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            copy_untrusted_file(source, destination, self.max_weights_bytes)
            load_returned_state_dict(destination, self.reference)
        except InvalidModel as error:
            destination.unlink(missing_ok=True)
            return protocol.INVALID_MODEL, str(error), None
        except Exception as error:  # a parser surprised by hostile bytes must not stop the harness
            destination.unlink(missing_ok=True)
            return protocol.INVALID_MODEL, f"the weights could not be read ({type(error).__name__}: {error})", None
        finally:
            try:
                source.unlink()
            except OSError:
                pass
        return OK, None, destination


@dataclass
class _Kill:
    status: str | None  # the failure of the run in progress; None: no run was in progress
    message: str | None
    at: float


class _Session:
    """The event loop of one sandbox: protocol messages, limits, and how it ended."""

    def __init__(self, supervisor: Supervisor, backend: Sandbox, spec: LaunchSpec, runs, router: LogRouter, number: int, on_outcome):
        self.supervisor, self.backend, self.spec, self.runs = supervisor, backend, spec, runs
        self.router, self.number, self.on_outcome = router, number, on_outcome
        self.events: queue.Queue = queue.Queue()
        self.dropped_messages = 0
        self.outcomes: list[RunOutcome] = []
        self.position = 0
        self.ready_at: float | None = None
        self.boundary = 0.0  # when the run in progress started (ready, or the previous completion)
        self.fatal_message: str | None = None
        self.kill: _Kill | None = None
        self.ignored_messages = 0
        self._receipt_time = 0.0
        self._splitter = protocol.LineSplitter(self._queue_line)

    # Called from the backend's reader thread.
    def _on_protocol(self, data: bytes, received: float) -> None:
        self._receipt_time = received
        self._splitter.feed(data)

    def _queue_line(self, line: bytes) -> None:
        # The worker sends a few lines per run; a flood can only come from participant code, and
        # is dropped rather than queued without bound.
        if self.events.qsize() >= MAX_QUEUED_LINES:
            self.dropped_messages += 1
            return
        self.events.put(("line", self._receipt_time, line))

    def run(self) -> tuple[list[RunOutcome], list[tuple[int, int]]]:
        supervisor = self.supervisor
        self.router.start(supervisor.logs_dir / f"session-{self.number}.log", header=f"# sandbox start-up, session {self.number}\n")
        sinks = StreamSinks(self._on_protocol, self.router.write, lambda ended: self.events.put(("exit", ended, None)))
        started = time.monotonic()
        self.backend.start(self.spec, sinks)
        next_quota_check = started + QUOTA_CHECK_SECONDS
        ended: float | None = None
        while ended is None:
            try:
                kind, when, line = self.events.get(timeout=TICK_SECONDS)
            except queue.Empty:
                kind = None
            if kind == "line":
                self._handle(line, when)
            elif kind == "exit":
                ended = when
                break
            now = time.monotonic()
            self._check_time(now, started)
            if now >= next_quota_check and self.kill is None:
                self._check_output_quota(now)
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

    # --- messages -------------------------------------------------------------------------------
    def _handle(self, line: bytes, when: float) -> None:
        message = protocol.decode(line)
        if message is None:
            self.ignored_messages += 1
            return
        event = message["event"]
        if self.ready_at is None:
            if event == READY:
                self.ready_at = self.boundary = when
            elif event == FATAL:
                self.fatal_message = str(message.get("message"))
            return
        # After ready, messages may be forged: only the completion of the run in progress counts.
        if event != DONE or self.kill is not None or message.get("index") != self.position or self.position >= len(self.runs):
            if event not in (DONE, protocol.FINISHED):
                self.ignored_messages += 1
            return
        status = message.get("status")
        text = message.get("message")
        text = protocol.clip_message(str(text)) if text is not None else None
        if status not in WORKER_STATUSES:
            status, text = EXCEPTION, f"the worker reported an unknown status {str(status)[:100]!r}"
        position, seed = self.runs[self.position]
        weights = None
        if status == OK:
            status, text, weights = self.supervisor.accept_weights(self.position, seed)
        self._record(status, when - self.boundary, text, weights)
        self.boundary = when
        if status != OK and self.supervisor.stop_on_failure:
            self._stop(None, None)

    def _record(self, status: str, seconds: float, message: str | None, weights: Path | None) -> None:
        position, seed = self.runs[self.position]
        outcome = self.supervisor.make_outcome(
            position, seed, status, seconds, message,
            weights_path=weights, log_path=self.supervisor.log_path(seed),
        )
        self.supervisor.store.save(outcome)
        self.outcomes.append(outcome)
        self.position += 1
        self.on_outcome(outcome)

    # --- limits ---------------------------------------------------------------------------------
    def _stop(self, status: str | None, message: str | None) -> None:
        if self.kill is None:
            self.kill = _Kill(status, message, time.monotonic())
            if message:
                self.router.note(message)
            self.backend.kill()

    def _check_time(self, now: float, started: float) -> None:
        limits = self.supervisor.limits
        if self.kill is not None:
            if now - self.kill.at > STOP_WAIT_SECONDS:
                raise HarnessError(f"the {self.backend.name} sandbox did not stop within {STOP_WAIT_SECONDS:.0f} s of being killed")
            return
        if self.ready_at is None:
            if now - started > limits.startup_timeout_seconds:
                self._stop(None, f"the worker did not load the job within {limits.startup_timeout_seconds:.0f} s")
            return
        elapsed = now - self.boundary
        if self.position < len(self.runs):
            if elapsed > self.supervisor.run_timeout:
                self._stop(TIMEOUT, self._timeout_message(elapsed))
        elif elapsed > LINGER_SECONDS:
            self._stop(None, f"the sandbox was still running {LINGER_SECONDS:.0f} s after its last run")

    def _timeout_message(self, elapsed: float) -> str:
        limits, budget = self.supervisor.limits, self.supervisor.job.per_run_budget_seconds
        if budget is None:
            rule = f"the limit without a time budget is {limits.max_run_seconds:.0f} s"
        else:
            rule = (f"a run may take at most {limits.timeout_factor:g} x its budget of {budget:.3g} s "
                    f"+ {limits.timeout_grace_seconds:.3g} s = {self.supervisor.run_timeout:.3g} s")
        return f"stopped after {elapsed:.1f} s: {rule}"

    def _check_output_quota(self, now: float) -> None:
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
        if self.ignored_messages or self.dropped_messages or self._splitter.dropped_lines:
            self.router.note(
                f"protocol messages ignored: {self.ignored_messages} unexpected, {self.dropped_messages} over the queue "
                f"limit, {self._splitter.dropped_lines} over-long"
            )
        run_in_progress = self.position < len(self.runs) and not (self.kill is not None and self.kill.status is None)
        if run_in_progress:
            if self.kill is not None:
                kind, message = self.kill.status, self.kill.message
            elif status.oom_killed:
                kind = OUT_OF_MEMORY
                message = (f"the sandbox ran out of memory ({self.supervisor.limits.cgroup_memory_bytes} bytes "
                           "including /tmp) and the kernel killed the worker")
            else:
                kind, message = CRASHED, f"the sandbox ended during this run: {status.describe()}"
            self._record(kind, ended - self.boundary, message, None)
        self.router.note(f"sandbox ended: {status.describe()}")
        return self.outcomes, self.runs[self.position:]


def folder_usage(folder: Path, max_entries: int) -> tuple[int, int]:
    """(bytes allocated, entries) under `folder`, without following links; stops past `max_entries`."""
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
