"""Shared test set-up. tests/ is on sys.path (every test module imports the helpers as
`hostile.support`, `quick_competition`), and the fixtures below are shared by the tests that run
the whole flow on the quick competition."""

from __future__ import annotations

from pathlib import Path

import pytest

from quick_competition import QUICK_COMPETITION


@pytest.fixture(scope="session")
def quick_digits() -> Path:
    """The test suite's digits (tests/competitions/digits-quick.toml): a 4-epoch recipe, a cutoff no test can miss."""
    return QUICK_COMPETITION


@pytest.fixture(scope="session")
def bwrap() -> None:
    """Skip (fail under CI=true) where bubblewrap cannot start a sandbox."""
    from hostile.support import require_backend

    require_backend("bwrap")
