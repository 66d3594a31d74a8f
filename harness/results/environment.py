"""The software environment score.json records: the run's own, completed by the scorer's."""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Any

import numpy as np


def describe_environment(device: str | None = None) -> dict[str, Any]:
    """The software this process runs on, without importing torch (its version comes from metadata)."""
    return {
        "device": device,
        "torch": _package_version("torch"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_environment_record(recorded: dict[str, Any], device: str | None) -> dict[str, Any]:
    # The run's own environment wins; the scorer's fills what the run did not record.
    return describe_environment(device) | {k: v for k, v in recorded.items() if v is not None}


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
