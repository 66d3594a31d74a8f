"""Weights on disk: a model's state dict as safetensors, a format that cannot carry code.

The one writer of weights, for the pool's models and for every run's returned model inside the
sandbox (harness.sandbox.run_process): it needs only torch and safetensors, imported when called.
"""

from __future__ import annotations

from pathlib import Path

from harness.utils.files import atomic_write


def save_weights(model, path: Path, *, durable: bool = True) -> None:
    """Write `model`'s state dict as safetensors (contiguous CPU copies), atomically.

    A state dict entry that is not a tensor is a TypeError (a submission's model may hold anything).
    `durable`: fsync before the rename (harness.utils.files.atomic_write), for the cache; a sandbox
    run, whose clock is running, writes to its own file system and does not.
    """
    import torch
    from safetensors.torch import save_file

    state = {}
    for key, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state dict entry {key!r} is a {type(value).__name__}, not a tensor")
        # A copy: tensors that share memory (tied weights) cannot be saved as they are.
        state[key] = value.detach().to("cpu").contiguous().clone()
    atomic_write(path, lambda temp: save_file(state, str(temp)), durable=durable)
