"""How many models one stack holds, and how many examples one stacked forward reads, per device.

On CPU a stack's activations should stay near the caches: 8 models per stack, and a stacked
inference forward over K models reads about as many rows as one model's evaluation would
(benchmarks/RESULTS.md, "Pool throughput", has the measurements). A GPU needs many models and large
batches to be busy at all; its 64 is a starting point, not a measurement (tune it with the benchmark).
"""

from __future__ import annotations

import torch

from harness.compute.devices import resolve_device
from harness.config.architectures import ARCHITECTURES
from harness.evaluation.model import DEFAULT_BATCH_SIZE

DEFAULT_BATCH_MODELS = {"cpu": 8, "cuda": 64}
MIN_CPU_EXAMPLES_PER_FORWARD = 32


def default_batch_models(device: str | torch.device) -> int:
    """How many models one stack trains or evaluates together on `device` by default."""
    return DEFAULT_BATCH_MODELS[resolve_device(device).type]


def check_batch_models(batch_models: int | None, device: torch.device) -> int:
    """`batch_models`, or the device's default for None; ValueError unless a positive integer."""
    if batch_models is None:
        return default_batch_models(device)
    if isinstance(batch_models, bool) or not isinstance(batch_models, int) or batch_models < 1:
        raise ValueError(f"batch_models must be a positive integer (models per stack), got {batch_models!r}")
    return batch_models


def examples_per_forward(device: torch.device, n_models: int) -> int:
    """Examples per stacked inference forward: evaluate_model's batch on a GPU, that batch shared out on CPU."""
    if device.type == "cuda":
        return DEFAULT_BATCH_SIZE
    return max(MIN_CPU_EXAMPLES_PER_FORWARD, DEFAULT_BATCH_SIZE // n_models)


def pool_batch_models(architecture: str, device: str | torch.device) -> int:
    """Models per stack the retrain pool trains `architecture` with on `device` by default (1: one at a time)."""
    kind = resolve_device(device).type
    # Where that was measured faster than one at a time: the architecture's entry says (harness.config.architectures).
    return DEFAULT_BATCH_MODELS[kind] if kind in ARCHITECTURES[architecture].pool_stacking else 1
