"""Shared pieces of the sandbox tests: a tiny job, the backends' availability, leftovers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data import Split
from harness.training.architectures import build_model
from harness.sandbox import SandboxLimits, UnlearningJob
from harness.sandbox.limits import MiB

from locations import REPO

HOSTILE = Path(__file__).resolve().parent
EXAMPLES = REPO / "submissions" / "examples"

# Small enough for a shared two-core machine, large enough for torch (about 0.6 GiB resident).
TEST_LIMITS = SandboxLimits(
    memory_bytes=1536 * MiB,
    memory_headroom_bytes=256 * MiB,
    tmp_bytes=256 * MiB,
    kaggle_bytes=128 * MiB,  # a resnet18 checkpoint (45 MB) fits, as in the 2023 driver
    output_bytes=64 * MiB,
    max_processes=64,
    timeout_grace_seconds=2.0,
    startup_timeout_seconds=180.0,
    log_head_bytes=16 * 1024,
    log_tail_bytes=16 * 1024,
)


def _split(count: int, generator: torch.Generator, prefix: str) -> Split:
    return Split(
        torch.randn(count, 1, 8, 8, generator=generator),
        torch.randint(0, 10, (count,), generator=generator),
        np.array([f"{prefix}{i}" for i in range(count)]),
    )


def tiny_job(folder: Path, seeds: list[int], *, budget: float | None = None, batch_format: str = "tuple") -> UnlearningJob:
    """small_cnn on 8x8 noise: 64 retain, 16 forget, 16 validation examples (no test split exists)."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "original.safetensors"
    if not weights.exists():
        from safetensors.torch import save_file

        torch.manual_seed(0)
        save_file(build_model("small_cnn", 10, 1).state_dict(), str(weights))
    generator = torch.Generator().manual_seed(0)
    return UnlearningJob(
        architecture="small_cnn",
        num_classes=10,
        in_channels=1,
        original_weights=weights,
        retain=_split(64, generator, "r"),
        forget=_split(16, generator, "f"),
        val=_split(16, generator, "v"),
        batch_size=16,
        batch_format=batch_format,
        seeds=seeds,
        per_run_budget_seconds=budget,
        per_run_cpu_budget_seconds=budget,
        competition="tiny",
    )


def require_backend(name: str) -> None:
    """Skip when `name` cannot run here, except in CI (CI=true), where that is a failure."""
    if name == "docker":
        from harness.sandbox.backends.docker import docker_problem as problem_of
    else:
        from harness.sandbox.backends.bwrap import bwrap_problem as problem_of
    problem = problem_of()
    if problem:
        message = f"the {name} sandbox is unavailable: {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def planned_submission(template: str, destination: Path, behaviours: dict[int, str], targets: dict | None = None) -> Path:
    """Copy a hostile folder submission and write its plan (seed -> behaviour, targets)."""
    shutil.copytree(HOSTILE / template, destination)
    plan = {"behaviours": {str(seed): name for seed, name in behaviours.items()}, "targets": targets or {}}
    (destination / "plan.json").write_text(json.dumps(plan))
    return destination


def leftovers(work: Path | None = None) -> list[str]:
    """Sandbox containers, volumes, cgroups or output mounts still present (there must be none
    once a call returns); with `work`, also a mounted or non-empty output folder under it."""
    from harness.sandbox.backends.cgroups import _owner_prefix

    root, mine = Path("/sys/fs/cgroup"), f"{_owner_prefix()}{os.getpid()}-*"
    found = [str(path) for depth in range(4) for path in root.glob("*/" * depth + mine)]
    from harness.sandbox.backends.docker import LABEL, docker_problem

    if docker_problem() is None:
        from harness.sandbox.backends.docker import docker_client

        api = docker_client().api
        containers = api.containers(all=True, filters={"label": LABEL})
        found += [container["Names"][0] for container in containers if container["Labels"].get(f"{LABEL}.pid") == str(os.getpid())]
        volumes = api.volumes(filters={"label": LABEL}).get("Volumes") or []
        found += [volume["Name"] for volume in volumes if (volume.get("Labels") or {}).get(f"{LABEL}.pid") == str(os.getpid())]
    mounts = Path("/proc/self/mounts").read_text()
    found += [line.split()[1] for line in mounts.splitlines() if work is not None and line.split()[1].startswith(str(work))]
    if work is not None:
        found += [str(path) for path in work.glob("**/sandbox-out/*")]
    return found


def changed_from_original(weights: Path, job: UnlearningJob) -> bool:
    """Whether returned (already validated) weights differ from the original model's."""
    from safetensors.torch import load_file

    returned, original = load_file(str(weights)), load_file(str(job.original_weights))
    return any(not torch.equal(returned[key], original[key]) for key in original)
