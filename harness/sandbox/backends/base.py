"""What every sandbox backend provides to the supervisor, and the machinery subprocess backends share.

A backend starts the worker in isolation and hands its output to the supervisor as it arrives:
stdout (the protocol channel) and stderr (the submission's output, for the logs), each chunk
timestamped on receipt, then the moment the sandbox ended. It can kill the sandbox at any time
and report how it ended (exit code, signal, OOM kill). It also tells the supervisor what the
sandbox has used: its CPU time (where its cgroup accounts it; a run is charged on it) and its
OOM kills, and hands over the files the sandbox wrote to its output folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.sandbox.limits import SandboxLimits

_READ_BYTES = 64 * 1024


@dataclass(frozen=True)
class ExitStatus:
    """How a sandbox ended: the worker's exit code (negative: killed by that signal)."""

    returncode: int | None
    oom_killed: bool = False

    def describe(self) -> str:
        if self.returncode is None:
            return "it ended in an unknown way"
        code = self.returncode
        if code < 0 or code > 128:
            number = -code if code < 0 else code - 128
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = f"signal {number}"
            return f"it was killed by {name}" + (" (out of memory)" if self.oom_killed else "")
        return f"it exited with code {code}"


@dataclass(frozen=True)
class StreamSinks:
    """Where a backend delivers what the sandbox produces (called from reader threads)."""

    protocol: Callable[[bytes, float], None]  # stdout chunk, monotonic time of receipt
    output: Callable[[bytes], None]  # stderr chunk
    exited: Callable[[float], None]  # monotonic time the sandbox ended


@dataclass(frozen=True)
class LaunchSpec:
    """One sandbox session: host folders, the worker's GPU (None on CPU), limits."""

    job_dir: Path
    out_dir: Path
    scratch_dir: Path  # host folder the backend may use for its own files (passwd, ...)
    gpu_index: int | None
    torch_threads: int
    limits: SandboxLimits
    cpu_seconds: int | None  # RLIMIT_CPU backstop for each process of the session
    cpus: str | None = None  # the cores the sandbox is bound to (a cpuset list such as "0-1")


class Sandbox(ABC):
    """One backend instance runs one sandbox session at a time."""

    name: str = ""
    isolated: bool = True
    # The worker is PID 1 of the sandbox's own PID namespace: it ends a run with kill(-1), and
    # the run's processes cannot signal it.
    own_pid_namespace: bool = True

    def __init__(self, limits: SandboxLimits):
        self.limits = limits
        self.out_dir: Path | None = None
        # Why the output folder's quota is not enforced by the kernel here (None: it is).
        self.output_quota_problem: str | None = "the output folder is a plain folder"

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by every process of the sandbox (user + system), or None."""
        return None

    def cpu_accounting_problem(self) -> str | None:
        """None when `cpu_seconds` measures the sandbox, else why it cannot (valid once started)."""
        return f"the {self.name} sandbox has no cgroup CPU accounting"

    def oom_kills(self) -> int:
        """How many of the sandbox's processes the kernel's OOM killer has ended so far."""
        return 0

    def binding(self) -> str:
        """Which CPUs the sandbox may use, in words (for the session log)."""
        return "every CPU"

    def fetch_output(self, name: str, destination: Path, max_bytes: int) -> None:
        """Copy `name` from the sandbox's output folder to `destination` without following links;
        raises InvalidModel (harness.sandbox.validation) when it is missing or not a plain file."""
        from harness.sandbox.validation import copy_untrusted_file

        assert self.out_dir is not None, "prepare_output comes first"
        copy_untrusted_file(self.out_dir / name, destination, max_bytes)

    @abstractmethod
    def visible_roots(self, spec: LaunchSpec) -> list[str]:
        """Every path the sandbox shows (for classifying a missing file as hidden by the sandbox)."""

    def hidden_roots(self, spec: LaunchSpec) -> list[str]:
        """Paths inside visible trees that the sandbox masks."""
        return []

    def rlimits(self, spec: LaunchSpec) -> dict[str, int]:
        """Limits the worker applies to itself before loading anything (see worker.apply_rlimits)."""
        limits = {
            "data": spec.limits.memory_bytes,
            "fsize": spec.limits.max_file_bytes,
            "nofile": spec.limits.max_open_files,
            "core": 0,
        }
        if spec.cpu_seconds is not None:
            limits["cpu"] = spec.cpu_seconds
        return limits

    def prepare(self, spec: LaunchSpec) -> None:
        """Set up what the session needs before its limits are written (images, cgroups)."""

    def prepare_output(self, out_dir: Path) -> None:
        """Set up the empty output folder for the sandbox's user (a size-limited file system where
        the backend can make one: then `output_quota_problem` is None)."""
        self.out_dir = out_dir

    @abstractmethod
    def start(self, spec: LaunchSpec, sinks: StreamSinks) -> None:
        """Start the worker; output and the end are delivered to `sinks` from other threads."""

    @abstractmethod
    def kill(self) -> None:
        """Stop the sandbox now (SIGKILL); safe to call more than once or after it ended."""

    @abstractmethod
    def exit_status(self) -> ExitStatus:
        """How the sandbox ended (valid once `sinks.exited` was called)."""

    def drain(self, timeout: float) -> None:
        """Wait up to `timeout` for the output that was still in flight when the sandbox ended."""

    def close(self) -> None:
        """Release everything the session holds (kill first if still running)."""
        self.kill()


def _pump(read: Callable[[], bytes], deliver: Callable[[bytes], None]) -> None:
    while True:
        try:
            data = read()
        except (OSError, ValueError):
            return
        if not data:
            return
        deliver(data)


class SubprocessSandbox(Sandbox):
    """A backend whose sandbox is one local process tree (bwrap, or no sandbox at all)."""

    def __init__(self, limits: SandboxLimits):
        super().__init__(limits)
        self._process: subprocess.Popen | None = None
        self._readers: list[threading.Thread] = []
        self._returncode: int | None = None

    @abstractmethod
    def command(self, spec: LaunchSpec) -> tuple[list[str], dict[str, str], Path]:
        """(argv, environment, working directory) of the process to start."""

    def start(self, spec: LaunchSpec, sinks: StreamSinks) -> None:
        argv, environment, cwd = self.command(spec)
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            cwd=cwd,
            start_new_session=True,  # its own process group: killed as a whole
            close_fds=True,
        )
        process = self._process
        stdout, stderr = process.stdout.fileno(), process.stderr.fileno()
        self._readers = [
            threading.Thread(target=_pump, args=(lambda: os.read(stdout, _READ_BYTES), lambda data: sinks.protocol(data, time.monotonic())), daemon=True),
            threading.Thread(target=_pump, args=(lambda: os.read(stderr, _READ_BYTES), sinks.output), daemon=True),
        ]

        def wait() -> None:
            self._returncode = process.wait()
            sinks.exited(time.monotonic())

        for thread in [*self._readers, threading.Thread(target=wait, daemon=True)]:
            thread.start()

    def kill(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def exit_status(self) -> ExitStatus:
        return ExitStatus(self._returncode)

    def drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self.kill()
        process = self._process
        if process is not None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.drain(1.0)
            # A reader still blocked (a stray process holds the pipe) keeps its descriptor: closing
            # it under the reader could hand the number to another file.
            if not any(reader.is_alive() for reader in self._readers):
                for stream in (process.stdout, process.stderr):
                    if stream is not None:
                        stream.close()
        self._process = None
