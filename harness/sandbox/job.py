"""The sandbox job: what a submission is entitled to, written once as read-only inputs.

The trusted side builds an `UnlearningJob` and writes it to a job folder; the worker inside the
sandbox reads that folder back. The folder holds exactly: the original weights, the retain,
forget and validation splits, the submission's files, and the settings of the runs. There is no
field for the test split or for anything from the retrain pool, so neither can leak by mistake.

    job.json               settings (format version, architecture, batches, budget, ...)
    original.safetensors   the original model's state dict
    data.safetensors       {retain,forget,val}.{images,labels}
    ids.json               example ids of each split, in order
    submission/            a copy of the submission (one .py file, or a folder)
    session.json           rewritten per sandbox: which seeds to run, limits, visible paths
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.config.batch_formats import BATCH_FORMATS
from harness.data.splits import Split
from harness.config.packages import DEFAULT_PACKAGES
from harness.errors import HarnessError
from harness.sandbox.submission_files import ENTRY_FILE, submission_entry, submission_files

FORMAT_VERSION = 1
JOB_SPLITS = ("retain", "forget", "val")  # the splits a sandbox job carries: never the test split
JOB_FILE = "job.json"
WEIGHTS_FILE = "original.safetensors"
DATA_FILE = "data.safetensors"
IDS_FILE = "ids.json"
SUBMISSION_DIR = "submission"
ETC_DIR = "etc"


@dataclass
class UnlearningJob:
    """Everything one sandbox needs to run a submission on several seeds.

    `retain`, `forget`, `val` are the competition's splits (never the test split). Run k of this
    job uses `seeds[k]` and is model number `first_index + k` of the evaluation. `device` is
    "cpu", "cuda" or "cuda:K"; `per_run_budget_seconds` is time_cutoff x the reference retrain's
    wall time and `per_run_cpu_budget_seconds` time_cutoff x its CPU time (None when unknown; the
    supervisor charges CPU time where the sandbox's cgroup accounts it, else wall time);
    `torch_threads` is the CPU threads one run may use.
    """

    architecture: str
    num_classes: int
    in_channels: int
    original_weights: Path
    retain: Split
    forget: Split
    val: Split
    batch_size: int
    batch_format: str
    seeds: list[int]
    device: str = "cpu"
    per_run_budget_seconds: float | None = None
    per_run_cpu_budget_seconds: float | None = None
    competition: str = ""
    torch_threads: int = 1
    first_index: int = 0
    # The distributions submission code may import (harness.config.packages; the competition's `packages`).
    packages: tuple[str, ...] = DEFAULT_PACKAGES

    def __post_init__(self) -> None:
        self.original_weights = Path(self.original_weights)
        self.seeds = [int(seed) for seed in self.seeds]
        problems = []
        if not self.seeds:
            problems.append("seeds is empty")
        if len(set(self.seeds)) != len(self.seeds):
            problems.append(f"seeds repeat: {self.seeds}")
        if self.num_classes < 2:
            problems.append(f"num_classes must be at least 2, got {self.num_classes}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be at least 1, got {self.batch_size}")
        if self.batch_format not in BATCH_FORMATS:
            problems.append(f"batch_format must be one of {', '.join(BATCH_FORMATS)}, got {self.batch_format!r}")
        if not (self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")):
            problems.append(f"device must be cpu, cuda or cuda:K, got {self.device!r}")
        for budget in ("per_run_budget_seconds", "per_run_cpu_budget_seconds"):
            value = getattr(self, budget)
            if value is not None and not value > 0:
                problems.append(f"{budget} must be positive or None, got {value}")
        if self.torch_threads < 1:
            problems.append(f"torch_threads must be at least 1, got {self.torch_threads}")
        if self.first_index < 0:
            problems.append(f"first_index must be non-negative, got {self.first_index}")
        for name in JOB_SPLITS:
            if not isinstance(getattr(self, name), Split):
                problems.append(f"{name} must be a harness.data.Split, got {type(getattr(self, name)).__name__}")
        if not self.original_weights.is_file():
            problems.append(f"original weights {self.original_weights} do not exist")
        if problems:
            raise HarnessError("invalid sandbox job: " + "; ".join(problems))

    @property
    def gpu_index(self) -> int | None:
        """The host GPU this job runs on (None on CPU); inside the sandbox it is always `cuda`."""
        if not self.device.startswith("cuda"):
            return None
        return int(self.device.partition(":")[2] or 0)

    def settings(self) -> dict[str, Any]:
        """The job's settings as JSON-ready data (what job.json holds besides paths)."""
        return {
            "format_version": FORMAT_VERSION,
            "architecture": self.architecture,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "batch_size": self.batch_size,
            "batch_format": self.batch_format,
            "device": "cpu" if self.gpu_index is None else "cuda",
            "per_run_budget_seconds": self.per_run_budget_seconds,
            "per_run_cpu_budget_seconds": self.per_run_cpu_budget_seconds,
            "competition": self.competition,
            "torch_threads": self.torch_threads,
            "packages": list(self.packages),
        }


def _update_with_tensor(digest: "hashlib._Hash", tensor: torch.Tensor) -> None:
    array = tensor.detach().cpu().contiguous().numpy()
    digest.update(f"{array.dtype}{array.shape}".encode())
    digest.update(memoryview(array).cast("B"))


def job_fingerprint(job: UnlearningJob, submission_digest: str) -> str:
    """A digest of everything that determines the runs' results except the seeds."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(json.dumps(job.settings(), sort_keys=True).encode())
    digest.update(submission_digest.encode())
    with open(job.original_weights, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    for name in JOB_SPLITS:
        split: Split = getattr(job, name)
        for column, tensor in sorted(split.tensors().items()):
            digest.update(column.encode())
            _update_with_tensor(digest, tensor)
        digest.update("\0".join(map(str, split.ids)).encode())
    return digest.hexdigest()


def copy_submission(submission: Path, destination: Path, max_bytes: int) -> str:
    """Copy a submission file or folder into `destination`; return the entry file's relative path.

    Nothing is followed: links inside a folder are checked to stay inside it (a clear error
    otherwise) and copied as links, so they resolve inside the sandbox, never on the host.
    """
    submission = Path(submission)
    submission_entry(submission)  # a clear error for a missing file or a folder without submission.py
    destination.mkdir(parents=True)
    if submission.is_file():
        size = submission.stat().st_size
        if size > max_bytes:
            raise HarnessError(f"submission {submission} has {size} bytes; the limit is {max_bytes}")
        shutil.copyfile(submission, destination / submission.name)
        return f"{SUBMISSION_DIR}/{submission.name}"
    entries = submission_files(submission)  # refuses links that leave the folder
    total = sum((submission / relative).lstat().st_size for relative in entries)
    if total > max_bytes:
        raise HarnessError(f"submission folder {submission} has {total} bytes; the limit is {max_bytes}")
    for relative in entries:
        source, target = submission / relative, destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            with open(source, "rb") as reader, open(target, "wb") as writer:
                shutil.copyfileobj(reader, writer)
    return f"{SUBMISSION_DIR}/{ENTRY_FILE}"


def write_job(job: UnlearningJob, submission: Path, directory: Path, fingerprint: str, *, submission_bytes: int) -> None:
    """Write the job folder from scratch (files world-readable: the sandbox may run as another user)."""
    from safetensors.torch import save_file

    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    os.chmod(directory, 0o755)
    shutil.copyfile(job.original_weights, directory / WEIGHTS_FILE)
    tensors = {}
    for name in JOB_SPLITS:
        split: Split = getattr(job, name)
        for column, tensor in split.tensors().items():
            tensors[f"{name}.{column}"] = tensor.detach().cpu().contiguous()
    save_file(tensors, str(directory / DATA_FILE))
    ids = {name: [str(i) for i in getattr(job, name).ids] for name in JOB_SPLITS}
    (directory / IDS_FILE).write_text(json.dumps(ids))
    entry = copy_submission(submission, directory / SUBMISSION_DIR, submission_bytes)
    settings = dict(job.settings(), submission_entry=entry, fingerprint=fingerprint)
    (directory / JOB_FILE).write_text(json.dumps(settings, indent=2))
    _make_world_readable(directory)


def _make_world_readable(directory: Path) -> None:
    """chmod what the harness wrote; links are skipped (chmod would change what they point to)."""
    for root, dirs, files in os.walk(directory, followlinks=False):
        for name in dirs + files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755 if name in dirs else 0o644)


def stored_fingerprint(directory: Path) -> str | None:
    """The fingerprint of the job already written in `directory`, if any."""
    try:
        return json.loads((directory / JOB_FILE).read_text()).get("fingerprint")
    except (OSError, ValueError):
        return None


# --- the worker's side ---------------------------------------------------------------------------
@dataclass
class LoadedJob:
    """A job folder read back inside the sandbox."""

    settings: dict[str, Any]
    original_state: dict[str, torch.Tensor]
    splits: dict[str, Split] = field(default_factory=dict)
    submission_entry: Path | None = None


def read_job(directory: Path) -> LoadedJob:
    """Load a job folder (the worker calls this once per sandbox, before any submission code runs)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    settings = json.loads((directory / JOB_FILE).read_text())
    if settings.get("format_version") != FORMAT_VERSION:
        raise RuntimeError(
            f"job format {settings.get('format_version')} but this worker reads format {FORMAT_VERSION}; "
            "the harness inside the sandbox differs from the one that wrote the job"
        )
    tensors = load_file(str(directory / DATA_FILE))
    ids = json.loads((directory / IDS_FILE).read_text())
    splits = {
        name: Split.from_tensors({key.partition(".")[2]: value for key, value in tensors.items() if key.startswith(f"{name}.")}, ids[name])
        for name in JOB_SPLITS
    }
    return LoadedJob(
        settings=settings,
        original_state=load_file(str(directory / WEIGHTS_FILE)),
        splits=splits,
        submission_entry=directory / settings["submission_entry"],
    )
