"""One unlearning run in a fresh process, forked from the worker: the one place participant code runs.

The worker forks the run process, which prepares what it needs before any participant code runs
(its torch threads; on a GPU its own CUDA context and warm-up, since CUDA does not survive a
fork) and says so on a private pipe. The worker reports "prepared", the supervisor reads the
sandbox's clocks and releases the run, and only then does the run process import the submission
and call it: import time is charged to every run (the packages of the environment that the
submission imports were imported by the worker beforehand, see preload.py). The process closes
the protocol channel first, so participant code can neither forge nor block the worker's
messages; its report (status, message) travels on its own pipe, which the worker reads as
untrusted: it can only claim a result, and the supervisor checks every returned model itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import select
import sys
from pathlib import Path
from typing import Any, Callable, Protocol

from harness.sandbox import process_control, protocol
from harness.sandbox.failures import classify_exception
from harness.sandbox.protocol import (
    CONTRACT_ERROR,
    CRASHED,
    EXCEPTION,
    FAILURE_KINDS,
    IMPORT_ERROR,
    INVALID_MODEL,
    MISSING_FUNCTION,
    OK,
)
from harness.sandbox.reporting import failure_text, flush_standard_streams, log_text, weights_path
from harness.sandbox.run_environment import ENV_SEED
from harness.training.weights import save_weights  # a module global: a hostile test replaces it for one run

FUNCTION_NAMES = ("unlearn", "unlearning")  # the 2023 Kaggle notebooks called it `unlearning`
_PREPARED = b"P"
_READ_BYTES = 64 * 1024
_WAIT_TICK_SECONDS = 0.05
_REPORTED_STATUSES = {OK, *FAILURE_KINDS}


class LoadedWorker(Protocol):
    """What a run's process reads of the worker that forked it (harness.sandbox.worker.Worker)."""

    job: Any  # harness.sandbox.job.LoadedJob
    session: dict[str, Any]
    template: Any  # the original model, loaded once
    out_dir: Path
    channel: Any  # the protocol channel, which the run's process closes first


class RunProcess:
    """The worker's handle on one run process: start, wait until prepared, release, wait."""

    def __init__(self, worker: "LoadedWorker", index: int, seed: int):
        self.worker, self.index, self.seed = worker, index, seed
        self.pid: int | None = None
        self._report = bytearray()
        self._exit_status: int | None = None

    def start(self) -> None:
        start_read, self._start_write = os.pipe()
        self._report_read, report_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                os.close(self.worker.channel.descriptor)  # the protocol is the worker's alone
                os.close(self._start_write)
                os.close(self._report_read)
                _run_in_this_process(self.worker, self.index, self.seed, start_read, report_write)
                code = 0
            finally:
                os._exit(code)
        os.close(start_read)
        os.close(report_write)
        self.pid = pid

    def wait_prepared(self) -> bool:
        """True once the run process is ready to be released; False when it ended before."""
        data = _read_some(self._report_read, len(_PREPARED), timeout=None)
        if data == _PREPARED:
            return True
        self._report += data
        return False

    def release(self) -> None:
        os.write(self._start_write, b"g")

    def wait(self) -> tuple[str, str | None]:
        """Wait for the run process to end; its (status, message), trusted to be one of the kinds only."""
        try:
            os.close(self._start_write)
        except OSError:
            pass
        ended = _exit_notifier(self.pid)  # wakes the wait the moment the run's process ends
        watched = [self._report_read] + ([ended] if ended is not None else [])
        while self._exit_status is None:
            readable, _, _ = select.select(watched, [], [], _WAIT_TICK_SECONDS)
            if self._report_read in readable:
                self._keep(_read_some(self._report_read, _READ_BYTES, timeout=0))
            for pid, status in process_control.reap_children():  # orphans of the run too
                if pid == self.pid:
                    self._exit_status = status
        if ended is not None:
            os.close(ended)
        # Processes the run left behind may hold the pipe open: take what is there, do not wait for EOF.
        while True:
            readable, _, _ = select.select([self._report_read], [], [], 0)
            chunk = _read_some(self._report_read, _READ_BYTES, timeout=0) if readable else b""
            if not chunk:
                break
            self._keep(chunk)
        os.close(self._report_read)
        return self._verdict()

    def _keep(self, data: bytes) -> None:
        self._report += data
        if len(self._report) > protocol.MAX_LINE_BYTES:
            del self._report[: len(self._report) - protocol.MAX_LINE_BYTES]

    def _verdict(self) -> tuple[str, str | None]:
        report = _last_report(bytes(self._report))
        if report is not None:
            return report
        status = self._exit_status or 0
        if os.WIFSIGNALED(status):
            import signal

            number = os.WTERMSIG(status)
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = f"signal {number}"
            return CRASHED, f"the run's process was killed by {name} before it reported"
        return CRASHED, f"the run's process exited with code {os.WEXITSTATUS(status)} before it reported"


def _exit_notifier(pid: int) -> int | None:
    """A descriptor that becomes readable when `pid` ends (Linux pidfd), or None: then the wait
    polls every tick."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _read_some(descriptor: int, size: int, timeout: float | None) -> bytes:
    if timeout is not None:
        readable, _, _ = select.select([descriptor], [], [], timeout)
        if not readable:
            return b""
    try:
        return os.read(descriptor, size)
    except OSError:
        return b""


def _last_report(data: bytes) -> tuple[str, str | None] | None:
    """The last well-formed report line, or None. Participant code can write here too: only a
    known status and a text message are taken, never anything else."""
    for line in reversed(data.splitlines()):
        try:
            report = json.loads(line)
        except Exception:  # any bytes, any nesting
            continue
        if not isinstance(report, dict):
            continue
        status, message = report.get("status"), report.get("message")
        if isinstance(status, str) and status in _REPORTED_STATUSES and isinstance(message, (str, type(None))):
            return status, (protocol.clip_message(message) if message is not None else None)
    return None


# --- inside the run process ------------------------------------------------------------------
def _run_in_this_process(worker: "LoadedWorker", index: int, seed: int, start_read: int, report_write: int) -> None:
    import torch

    settings = worker.job.settings
    torch.set_num_threads(int(settings["torch_threads"]))
    device = torch.device(settings["device"])
    if device.type == "cuda":
        from harness.training.warmup import warm_up

        warm_up(worker.template, device, worker.job.splits["retain"], int(settings["batch_size"]))
    os.write(report_write, _PREPARED)
    if os.read(start_read, 1) != b"g":
        os._exit(0)  # the worker is gone: nothing to run
    os.close(start_read)
    status, message = RunBody(worker, device).run(index, seed)
    flush_standard_streams()
    line = json.dumps({"status": status, "message": message}).encode() + b"\n"
    while line:
        line = line[os.write(report_write, line):]


class RunBody:
    """What the run process does once released: import, call, store. Every failure is classified."""

    def __init__(self, worker: "LoadedWorker", device):
        self.worker, self.device = worker, device
        self.pid = os.getpid()

    def classify(self, error: BaseException, otherwise: str) -> str:
        session = self.worker.session
        return classify_exception(
            error,
            otherwise=otherwise,
            visible_roots=session.get("visible_roots", ["/"]),
            hidden_roots=session.get("hidden_roots", []),
        )

    def exit_if_forked(self) -> None:
        # A submission that forks returns (or raises) in every child too: only the run process reports.
        if os.getpid() != self.pid:
            os._exit(0)

    def run(self, index: int, seed: int) -> tuple[str, str | None]:
        from harness.sandbox import contract, import_policy

        job, session = self.worker.job, self.worker.session
        entry = job.submission_entry
        import_policy.install(session.get("environment", ()), entry.parent, job.settings.get("competition", ""),
                              job.settings.get("packages", ()))
        try:
            module = import_submission(entry)
        except BaseException as error:
            self.exit_if_forked()
            text = self.failure_text(error, _formatted(error, contract.participant_traceback, error, entry.parent))
            log_text(text)
            return self.classify(error, IMPORT_ERROR), text
        self.exit_if_forked()
        try:
            call = contract.unlearn_call(find_function(module))
        except LookupError as error:
            return MISSING_FUNCTION, str(error)
        except contract.ContractError as error:
            return CONTRACT_ERROR, str(error)
        return self.call(call, index, seed)

    def failure_text(self, error: BaseException, described: str) -> str:
        if isinstance(error, SystemExit):
            return f"the submission called sys.exit({error.code!r})"
        return protocol.clip_message(described)

    def call(self, call: Callable, index: int, seed: int) -> tuple[str, str | None]:
        import copy

        from harness.data.loaders import make_loader
        from harness.sandbox import contract

        job = self.worker.job
        settings = job.settings
        try:
            loader_seeds = seed_everything(seed)
            os.environ[ENV_SEED] = str(seed)
            net = copy.deepcopy(self.worker.template).to(self.device).train()
            retain, forget, val = (
                make_loader(job.splits[name], settings["batch_size"], shuffle=True, seed=loader_seed,
                            batch_format=settings["batch_format"])
                for name, loader_seed in zip(("retain", "forget", "val"), loader_seeds)
            )
            returned = call(net, retain, forget, val, self.device)
        except BaseException as error:
            self.exit_if_forked()
            text = self.failure_text(error, _formatted(error, contract.describe_failure, error, job.submission_entry.parent,
                                                        settings["batch_format"]))
            log_text(text)
            return self.classify(error, EXCEPTION), text
        self.exit_if_forked()
        return self.store(net if returned is None else returned, index)

    def store(self, model, index: int) -> tuple[str, str | None]:
        from torch import nn

        if not isinstance(model, nn.Module):
            return INVALID_MODEL, f"unlearn returned a {type(model).__name__}; it must return the network (an nn.Module) or None"
        try:
            save_weights(model, weights_path(self.worker.out_dir, index), durable=False)
        except BaseException as error:
            log_text(failure_text(error))
            return self.classify(error, INVALID_MODEL), failure_text(error)
        return OK, None


def _formatted(error: BaseException, formatter: Callable[..., str], *arguments) -> str:
    """`formatter(*arguments)` (the participant's traceback), or the plain one if that fails."""
    try:
        return formatter(*arguments)
    except Exception:  # an exception whose formatting raises must still be reported
        return failure_text(error)


def seed_everything(seed: int) -> list[int]:
    """Seed Python, numpy and torch for one run; return independent seeds for the three loaders."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return [int(value) for value in np.random.SeedSequence(seed).generate_state(3)]


def import_submission(entry: Path):
    """Import the submission's entry file as module `submission`; its folder goes on sys.path."""
    sys.path.insert(0, str(entry.parent))
    spec = importlib.util.spec_from_file_location("submission", entry)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {entry}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    return module


def find_function(module) -> Callable:
    for name in FUNCTION_NAMES:
        function = getattr(module, name, None)
        if callable(function):
            return function
    defined = sorted(name for name in vars(module) if not name.startswith("_"))
    raise LookupError(
        "the submission defines no function unlearn(net, retain, forget, val) (nor `unlearning`); "
        f"it defines: {', '.join(defined[:20]) or 'nothing'}"
    )
