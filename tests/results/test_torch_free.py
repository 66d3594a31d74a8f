"""harness.results never imports torch: stored outputs are scored, reported and ranked on any machine.

Every module of the package is imported in a fresh interpreter where importing torch fails, as on
a machine without it; so are the torch-free pieces it stands on (the metric, the competition
reader and its registries, the CLI's `score` command).
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import harness.results
from locations import REPO

BLOCK_TORCH = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
"""


def results_modules() -> list[str]:
    return sorted(module.name for module in pkgutil.walk_packages(harness.results.__path__, "harness.results."))


def test_every_results_module_imports_without_torch():
    modules = results_modules() + ["harness.results", "scoring", "harness.config", "harness.cli.score", "harness.cli.arguments"]
    assert "harness.results.report.figures" in modules and "harness.results.leaderboard.table" in modules
    program = BLOCK_TORCH + f"""
import importlib
for name in {modules!r}:
    importlib.import_module(name)
from harness.config import load_competition
load_competition("digits")  # the reader checks names against the registries, never against torch
assert "torch" not in sys.modules, sorted(name for name in sys.modules if name.startswith("torch"))
"""
    completed = subprocess.run([sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
