"""Trusted handling of the weights a sandbox returns: fetch safely, parse safely, check fully.

Nothing here imports, unpickles or executes what the sandbox wrote. Weights are safetensors (a
JSON header and raw bytes, parsed by the safetensors library, which cannot run code); a file is
copied out of the sandbox's folder without following links or blocking on special files, its
size is bounded before parsing, and every tensor is checked against the architecture.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import torch
from torch import nn

# The header of a safetensors file is JSON: about 100 bytes per tensor; allow generous room.
HEADER_BYTES_PER_TENSOR = 512
HEADER_BYTES_BASE = 64 * 1024
_CHUNK = 1024 * 1024

# safetensors' dtype names for the dtypes a state dict can hold.
SAFETENSORS_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


class InvalidModel(ValueError):
    """Returned weights that do not fit the competition's architecture (or are not weights at all)."""


def expected_state(reference_model: nn.Module) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Key -> (shape, dtype) of the architecture's state dict."""
    return {key: (tuple(value.shape), value.dtype) for key, value in reference_model.state_dict().items()}


def max_weights_bytes(reference_model: nn.Module) -> int:
    """The largest file a valid state dict of `reference_model` can be."""
    state = reference_model.state_dict()
    data = sum(value.numel() * value.element_size() for value in state.values())
    return data + HEADER_BYTES_BASE + HEADER_BYTES_PER_TENSOR * len(state)


def copy_untrusted_file(source: Path, destination: Path, max_bytes: int) -> None:
    """Copy a regular file written by the sandbox to `destination` (atomically), at most `max_bytes`.

    Links are not followed and special files (FIFOs, devices) are refused before any read, so the
    sandbox cannot make the supervisor read host files or block. Raises InvalidModel.
    """
    try:
        descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidModel("no weights file was written") from None
    except OSError as error:
        raise InvalidModel(f"the weights file cannot be opened safely ({error.strerror}); is it a link?") from None
    destination = Path(destination)
    temporary = destination.with_name(f".{destination.name}.partial")
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidModel("the weights file is not a regular file")
        if info.st_size > max_bytes:
            raise InvalidModel(f"the weights file has {info.st_size} bytes; a model of this architecture has at most {max_bytes}")
        copied = 0
        with open(temporary, "wb") as target:
            while chunk := os.read(descriptor, _CHUNK):
                copied += len(chunk)
                if copied > max_bytes:  # the file grew while being copied
                    raise InvalidModel(f"the weights file has more than {max_bytes} bytes")
                target.write(chunk)
        os.replace(temporary, destination)
    finally:
        os.close(descriptor)
        temporary.unlink(missing_ok=True)


def load_returned_state_dict(path: Path, reference_model: nn.Module) -> dict[str, torch.Tensor]:
    """Load returned weights and check them against `reference_model`'s architecture.

    Checks, in order: a regular file no larger than the architecture allows; a valid safetensors
    header; exactly the architecture's keys; each tensor's shape and dtype; all values finite.
    Returns the state dict (CPU tensors). Raises InvalidModel naming the first problem found.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    expected = expected_state(reference_model)
    limit = max_weights_bytes(reference_model)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise InvalidModel(f"weights file {path} does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidModel(f"weights file {path} is not a regular file")
    if info.st_size > limit:
        raise InvalidModel(f"weights file has {info.st_size} bytes; a model of this architecture has at most {limit}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as weights:
            keys = set(weights.keys())
            _check_keys(keys, set(expected))
            for key in sorted(keys):
                shape, dtype = expected[key]
                found = weights.get_slice(key)
                found_shape, found_dtype = tuple(found.get_shape()), found.get_dtype()
                if found_shape != shape:
                    raise InvalidModel(f"{key} has shape {list(found_shape)}; the architecture needs {list(shape)}")
                if found_dtype != SAFETENSORS_DTYPES.get(dtype, str(dtype)):
                    raise InvalidModel(f"{key} has dtype {found_dtype}; the architecture needs {SAFETENSORS_DTYPES.get(dtype, dtype)}")
            state = {key: weights.get_tensor(key) for key in sorted(keys)}
    except SafetensorError as error:
        raise InvalidModel(f"not a valid safetensors file ({error})") from None
    except (OSError, ValueError) as error:
        if isinstance(error, InvalidModel):
            raise
        raise InvalidModel(f"weights file cannot be read ({error})") from None
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise InvalidModel(f"{key} holds NaN or infinite values")
    return state


def _check_keys(found: set[str], expected: set[str]) -> None:
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if not missing and not unexpected:
        return
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} key(s) such as {', '.join(missing[:3])}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s) such as {', '.join(unexpected[:3])}")
    raise InvalidModel("the weights do not match the architecture: " + "; ".join(parts))


def weights_sha256(path: Path) -> str:
    """The SHA-256 of a weights file (identifies a returned model, e.g. for caching its evaluation)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
