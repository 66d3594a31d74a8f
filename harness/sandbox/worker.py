"""The sandbox worker: the one place where participant code is imported and run.

Started inside the sandbox as

    python -s -B -c "<put the harness on sys.path>; from harness.sandbox.worker import main; main()" \
        --job JOB_DIR --out OUT_DIR

it applies the session's resource limits, loads the job once (architecture, original weights,
data), signals ready, THEN imports the submission (so import-time work is charged to the first
run), and runs it once per seed: seeding random, numpy, torch and the loaders, setting the
UNLEARN_* variables, and writing each returned model's state dict as safetensors to OUT_DIR. Each
run's end is reported on the protocol channel (harness.sandbox.protocol); the supervisor checks
the weights and measures time itself, so nothing this process says is trusted.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import resource
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

from harness.sandbox import protocol
from harness.warmup import warm_up
from harness.sandbox.failures import classify_exception
from harness.sandbox.protocol import (
    DONE,
    FATAL,
    FINISHED,
    IMPORT_ERROR,
    INVALID_MODEL,
    MISSING_FUNCTION,
    OK,
    READY,
)

FUNCTION_NAMES = ("unlearn", "unlearning")  # the 2023 Kaggle notebooks called it `unlearning`
WEIGHTS_NAME = "run-{index:05d}.safetensors"

from harness.run_environment import ENV_COMPETITION, ENV_DEVICE, ENV_NUM_CLASSES, ENV_SEED, ENV_TIME_BUDGET  # noqa: F401 (re-exported)

RLIMITS = {
    "data": resource.RLIMIT_DATA,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "cpu": resource.RLIMIT_CPU,
    "core": resource.RLIMIT_CORE,
    "nproc": resource.RLIMIT_NPROC,
}


class Channel:
    """The protocol channel: a private duplicate of the worker's original stdout."""

    def __init__(self, descriptor: int):
        self._descriptor = descriptor

    def send(self, event: str, **fields: Any) -> None:
        data = protocol.encode(event, **fields)
        while data:
            data = data[os.write(self._descriptor, data):]


def weights_path(out_dir: Path, index: int) -> Path:
    return Path(out_dir) / WEIGHTS_NAME.format(index=index)


def become_init_if_pid1() -> None:
    """Under Docker the worker starts as PID 1; fork so that PID 1 is a plain reaper.

    PID 1 ignores signals it has no handler for and inherits every orphan; a small reaper keeps
    the worker an ordinary process (as under bwrap, whose own init is PID 1) and exits with the
    worker's status, which ends the container.
    """
    if os.getpid() != 1:
        return
    worker = os.fork()
    if worker == 0:
        return
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(1)
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


def apply_rlimits(limits: dict[str, int]) -> None:
    """Set each limit as both soft and hard (the submission cannot raise a hard limit again)."""
    for name, value in limits.items():
        kind = RLIMITS[name]
        _, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        # RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one.
        soft = max(1, value - 5) if name == "cpu" else value
        resource.setrlimit(kind, (soft, value))


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


def save_weights(model, path: Path) -> None:
    """Write `model`'s state dict as safetensors (a format that cannot carry code), atomically."""
    import torch
    from safetensors.torch import save_file

    state = {}
    for key, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state dict entry {key!r} is a {type(value).__name__}, not a tensor")
        state[key] = value.detach().to("cpu").contiguous().clone()
    temporary = path.with_name(f".{path.name}.partial")
    save_file(state, str(temporary))
    os.replace(temporary, path)


def _failure_text(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"the submission called sys.exit({error.code!r})"
    try:
        text = "".join(traceback.format_exception(error))
    except Exception:  # an exception whose __str__ raises
        text = f"{type(error).__name__} (its message could not be formatted)"
    return protocol.clip_message(text)


class Worker:
    def __init__(self, job_dir: Path, out_dir: Path, channel: Channel):
        self.job_dir, self.out_dir, self.channel = job_dir, out_dir, channel
        self.pid = os.getpid()
        self.session: dict[str, Any] = {}

    def load(self) -> None:
        """Everything before the submission: limits, torch, the job (start-up paid once per sandbox)."""
        self.session = json.loads((self.job_dir / protocol.SESSION_FILE).read_text())
        apply_rlimits(self.session.get("rlimits", {}))  # before torch: every allocation is inside the limits
        import torch

        from harness.models import build_model
        from harness.sandbox.job import read_job

        self.job = read_job(self.job_dir)
        settings = self.job.settings
        torch.set_num_threads(int(settings["torch_threads"]))
        self.device = torch.device(settings["device"])
        self.template = build_model(settings["architecture"], settings["num_classes"], settings["in_channels"])
        self.template.load_state_dict(self.job.original_state)
        warm_up(self.template, self.device, self.job.splits["retain"], int(settings["batch_size"]))
        budget = settings.get("per_run_budget_seconds")
        os.environ.update(
            {
                ENV_NUM_CLASSES: str(settings["num_classes"]),
                ENV_DEVICE: settings["device"],
                ENV_COMPETITION: settings.get("competition", ""),
            }
        )
        if budget is not None:
            os.environ[ENV_TIME_BUDGET] = repr(float(budget))
        else:
            os.environ.pop(ENV_TIME_BUDGET, None)

    def classify(self, error: BaseException, otherwise: str) -> str:
        return classify_exception(
            error,
            otherwise=otherwise,
            visible_roots=self.session.get("visible_roots", ["/"]),
            hidden_roots=self.session.get("hidden_roots", []),
        )

    def exit_if_forked(self) -> None:
        # A submission that forks returns (or raises) in every child too: only the worker reports.
        if os.getpid() != self.pid:
            os._exit(0)

    def run_all(self) -> None:
        seeds = [int(seed) for seed in self.session["seeds"]]
        stop_on_failure = bool(self.session.get("stop_on_failure", True))
        function, import_failure = None, None
        for index, seed in enumerate(seeds):
            _flush_standard_streams()
            os.write(2, protocol.RUN_MARKER % index)  # the supervisor starts run `index`'s log here
            if function is None and import_failure is None:
                function, import_failure = self.load_submission()
            if import_failure is not None:
                status, message = import_failure
            else:
                status, message = self.run_one(function, index, seed)
            _flush_standard_streams()  # what the run printed belongs to its log
            self.channel.send(DONE, index=index, seed=seed, status=status, message=message)
            if status != OK and stop_on_failure:
                break
        self.channel.send(FINISHED)

    def load_submission(self) -> tuple[Callable | None, tuple[str, str] | None]:
        try:
            module = import_submission(self.job.submission_entry)
        except BaseException as error:
            self.exit_if_forked()
            _log_exception(error)
            return None, (self.classify(error, IMPORT_ERROR), _failure_text(error))
        self.exit_if_forked()
        try:
            return find_function(module), None
        except LookupError as error:
            return None, (MISSING_FUNCTION, str(error))

    def run_one(self, function: Callable, index: int, seed: int) -> tuple[str, str | None]:
        import copy

        from harness.data import make_loader

        try:
            loader_seeds = seed_everything(seed)
            os.environ[ENV_SEED] = str(seed)
            net = copy.deepcopy(self.template).to(self.device).train()
            settings = self.job.settings
            retain, forget, val = (
                make_loader(
                    self.job.splits[name],
                    settings["batch_size"],
                    shuffle=True,
                    seed=loader_seed,
                    batch_format=settings["batch_format"],
                )
                for name, loader_seed in zip(("retain", "forget", "val"), loader_seeds)
            )
            returned = function(net, retain, forget, val)
        except BaseException as error:
            self.exit_if_forked()
            _log_exception(error)
            return self.classify(error, protocol.EXCEPTION), _failure_text(error)
        self.exit_if_forked()
        return self.store(net if returned is None else returned, index)

    def store(self, model, index: int) -> tuple[str, str | None]:
        from torch import nn

        if not isinstance(model, nn.Module):
            return INVALID_MODEL, f"unlearn returned a {type(model).__name__}; it must return the network (an nn.Module) or None"
        try:
            save_weights(model, weights_path(self.out_dir, index))
        except BaseException as error:
            _log_exception(error)
            kind = self.classify(error, INVALID_MODEL)
            return kind, _failure_text(error)
        return OK, None


def _flush_standard_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # the submission may have replaced or closed them
            pass


def _log_exception(error: BaseException) -> None:
    try:
        os.write(2, _failure_text(error).encode(errors="replace"))
    except OSError:
        pass


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="harness.sandbox.worker")
    parser.add_argument("--job", type=Path, required=True, help="the job folder (read-only)")
    parser.add_argument("--out", type=Path, required=True, help="where the weights go (the one writable folder)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run one sandbox session; never returns (the process ends with os._exit)."""
    args = _parse_arguments(sys.argv[1:] if argv is None else argv)
    become_init_if_pid1()
    # The protocol keeps the original stdout; the submission's prints join stderr, the log.
    channel = Channel(os.dup(1))
    os.dup2(2, 1)
    if "" in sys.path:
        sys.path.remove("")  # nothing is imported from the working directory
    worker = Worker(args.job, args.out, channel)
    try:
        worker.load()
    except BaseException as error:
        _log_exception(error)
        channel.send(FATAL, message=_failure_text(error))
        os._exit(3)
    channel.send(READY)
    try:
        worker.run_all()
    except BaseException as error:  # the channel itself failed: the supervisor sees a crash
        worker.exit_if_forked()
        _log_exception(error)
        os._exit(4)
    _flush_standard_streams()
    os._exit(0)
