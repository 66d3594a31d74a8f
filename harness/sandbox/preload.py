"""Import, before the first run, the environment's packages that the submission imports.

Every run is a fresh process that imports the submission itself, so its imports are charged to
every run. A 2023 notebook starts with `import pandas`, `import matplotlib.pyplot`, ...: seconds
of import per run on a small competition's budget. The worker reads the submission's import
statements (parsed, never executed) and imports the modules that belong to the competition's
environment (and the standard library) itself, before it signals ready; the run processes it
forks find them already loaded. Nothing of the submission runs here, and a module that fails to
import is left for the run to report.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path
from typing import Iterable

_MAX_SOURCE_BYTES = 4 * 1024 * 1024
# Standard-library modules whose import does something (opens a browser, prints, starts a GUI).
_NEVER_PRELOADED = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo"}


def imported_modules(folder: Path) -> list[str]:
    """Absolute module names the .py files under `folder` import (`import a.b`, `from a.b import c`)."""
    names: list[str] = []
    for path in sorted(folder.rglob("*.py")):
        try:
            if path.is_symlink() or path.stat().st_size > _MAX_SOURCE_BYTES:
                continue
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # the run will report the file's problem when it imports it
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module)
                # `from matplotlib import pyplot`: pyplot may be a submodule
                names += [f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"]
    return list(dict.fromkeys(names))


def preload_environment(submission_entry: Path, environment: Iterable[str] | None) -> list[str]:
    """Import what the submission imports from `environment` (top-level names) or the standard
    library; return the modules imported. Names the submission's own files provide are skipped,
    so a local module keeps shadowing an installed one as it would without this."""
    folder = Path(submission_entry).parent
    allowed = set(environment or ()) | set(sys.stdlib_module_names)
    loaded = []
    for name in imported_modules(folder):
        top = name.partition(".")[0]
        if top not in allowed or top in _NEVER_PRELOADED or (folder / f"{top}.py").exists() or (folder / top).is_dir():
            continue
        try:
            importlib.import_module(name)
        except BaseException:  # not a module (an attribute), or broken: the run reports it
            continue
        loaded.append(name)
    return loaded
