"""The sandbox worker: loads the job once, then runs the submission once per seed, each run in a
fresh process.

Started inside the sandbox, as its PID 1, as

    python -s -B -c "<put the harness on sys.path>; from harness.sandbox.worker import main; main()" \
        --job JOB_DIR --out OUT_DIR

The worker itself never runs participant code. It applies the session's resource limits, loads
torch and the job (architecture, original weights, data), warms torch up, imports the packages
of the declared environment that the submission imports (so a run does not pay for them), and
signals ready. Then, for each seed, it forks a run process (run_process.py), which imports the
submission and runs it once; when that process has ended, the worker ends every process the run
started, empties the scratch folders (/tmp, /dev/shm, ...), and reports the run. So nothing a
run does (memory, threads, processes, files) reaches the next run: the 2023 rule of no caching
between runs, enforced. The supervisor releases each run (a file it creates in the job folder)
and checks the weights and measures time itself, so nothing this process says is trusted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from harness.sandbox.run_environment import ENV_COMPETITION, ENV_DEVICE, ENV_NUM_CLASSES, ENV_TIME_BASIS, ENV_TIME_BUDGET
from harness.sandbox import process_control, protocol
from harness.sandbox.protocol import DONE, FATAL, FINISHED, OK, PREPARED, READY
from harness.sandbox.reporting import failure_text, flush_standard_streams, log_text

REPORT_MAX_BYTES = 64 * 1024
GO_POLL_SECONDS = 0.0005
GO_TIMEOUT_SECONDS = 24 * 3600.0  # the supervisor stops a stuck sandbox long before this

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
        self.descriptor = descriptor

    def send(self, event: str, **fields: Any) -> None:
        data = protocol.encode(event, **fields)
        while data:
            data = data[os.write(self.descriptor, data):]


def apply_rlimits(limits: dict[str, int]) -> None:
    """Set each limit as both soft and hard (the submission cannot raise a hard limit again)."""
    for name, value in limits.items():
        kind = RLIMITS[name]
        _, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        # RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one.
        soft = max(1, value - 5) if name == "cpu" else value
        resource.setrlimit(kind, (soft, value))


class Worker:
    def __init__(self, job_dir: Path, out_dir: Path, channel: Channel):
        self.job_dir, self.out_dir, self.channel = job_dir, out_dir, channel
        self.session: dict[str, Any] = {}

    def load(self) -> None:
        """Everything before the first run: limits, torch, the job (start-up, paid once per sandbox)."""
        self.session = json.loads((self.job_dir / protocol.SESSION_FILE).read_text())
        apply_rlimits(self.session.get("rlimits", {}))  # before torch: every allocation is inside the limits
        import torch

        from harness.training.architectures import build_model
        from harness.sandbox import contract, import_policy, run_process  # noqa: F401 (imported once, for every run)
        from harness.sandbox.job import read_job
        from harness.sandbox.preload import preload_environment
        from harness.training.warmup import warm_up

        self.job = read_job(self.job_dir)
        settings = self.job.settings
        # One thread here: GNU OpenMP's thread pool does not survive fork, so only the run
        # processes start theirs (at the job's thread count).
        torch.set_num_threads(1)
        self.template = build_model(settings["architecture"], settings["num_classes"], settings["in_channels"])
        self.template.load_state_dict(self.job.original_state)
        # On the CPU always (it imports torch._dynamo, seconds, once); on a GPU each run process
        # warms up there as well, before its release: CUDA cannot be initialised before a fork.
        warm_up(self.template, torch.device("cpu"), self.job.splits["retain"], int(settings["batch_size"]))
        preload_environment(self.job.submission_entry, self.session.get("environment"))
        self._set_run_environment()

    def _set_run_environment(self) -> None:
        """The UNLEARN_* variables every run sees (submissions/README.md); the seed is set per run."""
        settings = self.job.settings
        os.environ.update(
            {
                ENV_NUM_CLASSES: str(settings["num_classes"]),
                ENV_DEVICE: settings["device"],
                ENV_COMPETITION: settings.get("competition", ""),
                ENV_TIME_BASIS: str(self.session.get("time_basis", "wall")),
            }
        )
        budget = self.session.get("time_budget_seconds")
        if budget is not None:
            os.environ[ENV_TIME_BUDGET] = repr(float(budget))
        else:
            os.environ.pop(ENV_TIME_BUDGET, None)

    def run_all(self) -> None:
        import gc

        from harness.sandbox.run_process import RunProcess

        # What the worker loaded stays as it is: the garbage collector of a run process would
        # otherwise touch every object, copying the pages a fork shares.
        gc.freeze()

        seeds = [int(seed) for seed in self.session["seeds"]]
        stop_on_failure = bool(self.session.get("stop_on_failure", True))
        own_pid_namespace = bool(self.session.get("own_pid_namespace", False))
        # The sandbox's private scratch folders, emptied after every run. Only what the session
        # names: without a sandbox (`none`) they would be the host's own folders.
        scratch = [str(folder) for folder in self.session.get("scratch_folders", [])]
        private_out = bool(self.session.get("private_output", False))
        for index, seed in enumerate(seeds):
            flush_standard_streams()
            os.write(2, protocol.RUN_MARKER % index)  # the supervisor starts run `index`'s log here
            run = RunProcess(self, index, seed)
            run.start()
            if run.wait_prepared():
                self.channel.send(PREPARED, index=index)
                self._wait_for_go(index)
                if private_out:
                    process_control.empty_folder(str(self.out_dir))  # the previous run's weights were taken
                run.release()
            status, message = run.wait()
            process_control.end_run_processes(own_pid_namespace)
            for folder in scratch:
                process_control.empty_folder(folder)
            flush_standard_streams()
            self.channel.send(DONE, index=index, seed=seed, status=status, message=message)
            if status != OK and stop_on_failure:
                break
        self.channel.send(FINISHED)

    def _wait_for_go(self, index: int) -> None:
        go = self.job_dir / protocol.CONTROL_DIR / protocol.go_file_name(index)
        deadline = time.monotonic() + GO_TIMEOUT_SECONDS
        while not go.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the supervisor did not release run {index}")
            time.sleep(GO_POLL_SECONDS)


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="harness.sandbox.worker")
    parser.add_argument("--job", type=Path, required=True, help="the job folder (read-only)")
    parser.add_argument("--out", type=Path, required=True, help="where the weights go (the one writable folder)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run one sandbox session; never returns (the process ends with os._exit)."""
    args = _parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        process_control.protect_worker()
    except OSError as error:
        log_text(f"the worker cannot protect itself: {error}\n")
        os._exit(5)
    # The protocol keeps the original stdout; everything printed joins stderr, the log.
    channel = Channel(os.dup(1))
    os.dup2(2, 1)
    if "" in sys.path:
        sys.path.remove("")  # nothing is imported from the working directory
    worker = Worker(args.job, args.out, channel)
    try:
        worker.load()
    except BaseException as error:
        log_text(failure_text(error))
        channel.send(FATAL, message=failure_text(error))
        os._exit(3)
    channel.send(READY)
    try:
        worker.run_all()
    except BaseException as error:  # the channel or the worker itself failed: the supervisor sees a crash
        log_text(failure_text(error))
        os._exit(4)
    flush_standard_streams()
    os._exit(0)

