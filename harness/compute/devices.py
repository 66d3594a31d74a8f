"""Device selection and the human-readable device description that retrain timings are keyed by.

Two runs are comparable in time only on the same description: the CPU model and the torch thread
count for CPU runs, the GPU name for CUDA runs.
"""

from __future__ import annotations

import torch

from harness.compute import machine
from harness.errors import HarnessError


def resolve_device(spec: str | torch.device | None = "cpu") -> torch.device:
    """"cpu", "cuda", "cuda:N" or "auto" (a GPU when one is visible) -> torch.device, checked."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = (spec or "cpu").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise HarnessError(f"unknown device {spec!r}; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise HarnessError(f"device {spec!r} asked for, but no CUDA GPU is visible; use --device cpu")
        if device.index is not None and device.index >= count:
            raise HarnessError(f"device {spec!r} asked for, but only {count} CUDA GPU(s) are visible (cuda:0..cuda:{count - 1})")
    elif device.type != "cpu":
        raise HarnessError(f"unsupported device {spec!r}; use cpu, cuda, cuda:N or auto")
    return device


def default_jobs(device: str | torch.device) -> int:
    """Parallel workers when none are asked for: one per visible GPU, or one per CPU core.

    On CPU, one single-threaded worker per core beats fewer multi-threaded ones for the small
    models of the retrain pool: intra-op threads of tiny convolutions mostly wait on each other,
    and on a shared machine they slow down several-fold.
    """
    device = resolve_device(device)
    if device.type == "cuda":
        return 1 if device.index is not None else torch.cuda.device_count()
    return machine.usable_cores()


def describe_device(device: str | torch.device, threads: int | None = None) -> str:
    """E.g. "cpu: Intel(R) Xeon(R) Processor, 1 torch thread" or "cuda: NVIDIA H100 80GB HBM3"."""
    device = resolve_device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    threads = torch.get_num_threads() if threads is None else threads
    return f"cpu: {machine.cpu_model()}, {threads} torch thread{'s' if threads != 1 else ''}"


def worker_devices(device: str, n_workers: int) -> list[str]:
    """One GPU per worker when several are visible; otherwise every worker shares `device`."""
    if device == "cuda":
        count = torch.cuda.device_count()
        if count > 1:
            return [f"cuda:{index % count}" for index in range(n_workers)]
    return [device] * n_workers
