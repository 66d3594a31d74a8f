"""What a retrain pool is: its identity (the content address of its folder), its models' seeds, its layout.

The pool depends only on the competition phase, never on a submission. It is content-addressed by
(split manifest checksum, architecture, recipe, base seed): change any of them and a new pool
folder is used. Layout of <cache>/pools/<competition>.<phase>.<key>/:

    pool.json                      what the pool is (competition, phase, manifest checksum, recipe, ...)
    original.safetensors           the original model's weights (the sandbox starts from them)
    records/original.parquet       its evaluation (forget confidences, accuracies, seconds, device)
    records/retrained-00007.parquet
    weights/retrained-00007.safetensors   only with keep_weights
    timings/<hash>.json            the reference retrain timing of one device description
    locks/                         one lock file per model
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness import __version__
from harness.config.competition import Competition
from harness.training.architectures import architecture_signature
from harness.utils.cache import cache_root
from harness.utils.files import atomic_write_text

POOL_FORMAT = 1
ORIGINAL = "original"
RETRAINED = "retrained"
REFERENCE = "reference"  # the dedicated timed retrains of the reference timing (never kept)
_SEED_STREAMS = {ORIGINAL: 0, RETRAINED: 1, REFERENCE: 2}


def model_seed(competition: Competition, kind: str, index: int = 0) -> int:
    """The training seed of the original (kind="original") or of retrained model `index`.

    Derived from the competition's base seed through NumPy's SeedSequence, so streams never overlap
    and model k's seed does not depend on how many models the pool has.
    """
    sequence = np.random.SeedSequence([competition.seed, _SEED_STREAMS[kind], index])
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def pool_identity(competition: Competition, manifest_checksum: str) -> dict[str, Any]:
    """Everything a pool's models depend on; its hash names the pool folder."""
    return {
        "format": POOL_FORMAT,
        "manifest_checksum": manifest_checksum,
        "architecture": competition.architecture,
        "architecture_signature": architecture_signature(competition.architecture, competition.num_classes, competition.in_channels),
        "num_classes": competition.num_classes,
        "in_channels": competition.in_channels,
        "recipe": competition.recipe.to_dict(),
        "seed": competition.seed,
    }


def pool_path(competition: Competition, phase: str, manifest_checksum: str, cache_dir: str | Path | None = None) -> Path:
    identity = json.dumps(pool_identity(competition, manifest_checksum), sort_keys=True)
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return cache_root(cache_dir) / "pools" / f"{competition.name}.{phase}.{key}"


def write_identity(path: Path, competition: Competition, phase: str, manifest_checksum: str) -> None:
    """pool.json, once: what the folder holds, for people (the folder's name is the address)."""
    identity_file = path / "pool.json"
    if identity_file.is_file():
        return
    identity = pool_identity(competition, manifest_checksum) | {
        "competition": competition.name,
        "phase": phase,
        "created_by": f"unlearning-harness {__version__}",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_text(identity_file, json.dumps(identity, indent=2, sort_keys=True) + "\n")


def model_file(pool: Path, kind: str, index: int) -> Path:
    """Where a pool model's evaluation is stored (written last: it marks a finished model)."""
    return pool / "records" / (f"{ORIGINAL}.parquet" if kind == ORIGINAL else f"{RETRAINED}-{index:05d}.parquet")


def weights_file(pool: Path, kind: str, index: int) -> Path:
    return pool / "original.safetensors" if kind == ORIGINAL else pool / "weights" / f"{RETRAINED}-{index:05d}.safetensors"
