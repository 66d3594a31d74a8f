"""Shared test set-up. tests/ mirrors the packages (config/, data/, training/, pool/, sandbox/,
evaluation/, results/, run/, kit/, scoring/, baselines/, benchmarks/), with the sandbox attack
tests in hostile/. tests/ is on sys.path, so every test module imports the shared helpers as
`locations` and `hostile.support`; the fixtures below are shared across the folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from locations import QUICK_COMPETITION


@pytest.fixture(scope="session")
def quick_digits() -> Path:
    """The test suite's digits (tests/competitions/digits-quick.toml): a 4-epoch recipe, a cutoff no test can miss."""
    return QUICK_COMPETITION


@pytest.fixture(scope="session")
def bwrap() -> None:
    """Skip (fail under CI=true) where bubblewrap cannot start a sandbox."""
    from hostile.support import require_backend

    require_backend("bwrap")


@pytest.fixture(scope="module")
def digits_data():
    """The shipped digits competition's public data (every module gets its own copy)."""
    from harness.data import load_data

    return load_data("digits", "public")
