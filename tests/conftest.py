"""Fixtures shared by the tests that run the whole flow on a quick competition."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.competition import COMPETITIONS_DIR, load_competition

QUICK_EPOCHS = 4


@pytest.fixture(scope="session")
def quick_digits(tmp_path_factory) -> Path:
    """digits with a 4-epoch recipe (a pool model trains in a fraction of a second), as a TOML file."""
    text = (COMPETITIONS_DIR / "digits.toml").read_text()
    text = text.replace('name = "digits"', 'name = "digits-quick"').replace("epochs = 12 ", f"epochs = {QUICK_EPOCHS} ")
    path = tmp_path_factory.mktemp("competition") / "digits-quick.toml"
    path.write_text(text)
    assert load_competition(path).recipe.epochs == QUICK_EPOCHS
    return path


@pytest.fixture(scope="session")
def bwrap() -> None:
    """Skip (fail under CI=true) where bubblewrap cannot start a sandbox."""
    if shutil.which("bwrap") is None:
        message = "bubblewrap is not installed"
    else:
        probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "true"], capture_output=True)
        message = "" if probe.returncode == 0 else f"bubblewrap is not usable here: {probe.stderr.decode().strip()}"
    if message:
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
