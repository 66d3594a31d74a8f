"""Refuse imports by submission code of modules outside the competition's environment.

Under bubblewrap the sandbox sees the harness's whole Python environment, which holds more than
the organizers' Docker image (pytest, pyarrow, docker, ...). A notebook that imports one of those
would pass `unlearn-harness check` and then fail in the organizers' run; this policy makes it fail
the same way everywhere, with a message that says why.

    from harness.sandbox.import_policy import install
    install(allowed={"numpy", "torch", ...}, submission_dir="/job/submission",
            competition="digits-kaggle", packages=("numpy", "torch", ...))

installs a `sys.meta_path` finder. For each import of a module that is not loaded yet, it finds the
frame that asked for it (skipping importlib's own frames, so `importlib.import_module` and
`__import__` count as the caller's). If that frame's file is under the submission folder, the
top-level module must be in the standard library (`sys.stdlib_module_names`), in `allowed`, or one
of the submission's own files; otherwise the import raises `ModuleNotInEnvironment`. Imports made
by allowed packages themselves (their dependencies) pass, and so does a module some package has
already loaded, which is by construction installed wherever that package is.

This keeps honest code consistent across sandboxes; it is not a security boundary (code can hide
its frames). Isolation comes from the sandbox itself. Standard library only: it runs inside the
sandbox before torch is imported.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from types import FrameType
from typing import Iterable

# Frames of the import machinery, skipped when looking for the code that asked for an import.
_IMPORTLIB_DIR = os.path.dirname(importlib.machinery.__file__)
_THIS_FILE = os.path.abspath(__file__)


class ModuleNotInEnvironment(ModuleNotFoundError):
    """An import by submission code of a module that the competition's environment does not have."""


class ImportPolicy:
    """The `sys.meta_path` finder; it never finds modules, it only refuses them."""

    def __init__(self, allowed: Iterable[str], submission_dir: str | os.PathLike, competition: str, packages: Iterable[str] = ()):
        self.allowed = frozenset(allowed)
        self.submission_dir = os.path.realpath(submission_dir)
        self.competition = competition
        self.packages = tuple(packages) or tuple(sorted(self.allowed))
        self.own_modules = frozenset(_top_level_modules(self.submission_dir))
        self._is_submission_file: dict[str, bool] = {}

    def find_spec(self, fullname: str, path=None, target=None):
        top = fullname.partition(".")[0]
        if self.permits(top) or not self._asked_by_submission():
            return None  # let the other finders look for it
        environment = ", ".join(self.packages)
        raise ModuleNotInEnvironment(
            f"module {top!r} is not in the environment of competition {self.competition!r} "
            f"({environment}, and the standard library)",
            name=fullname,
        )

    def permits(self, top: str) -> bool:
        return top in sys.stdlib_module_names or top in self.allowed or top in self.own_modules

    def invalidate_caches(self) -> None:
        pass

    def _asked_by_submission(self) -> bool:
        frame: FrameType | None = sys._getframe(1)  # this file and importlib are skipped below
        while frame is not None and _is_import_machinery(frame.f_code.co_filename):
            frame = frame.f_back
        return frame is not None and self._in_submission(frame.f_code.co_filename)

    def _in_submission(self, filename: str) -> bool:
        known = self._is_submission_file.get(filename)
        if known is None:
            real = os.path.realpath(filename) if os.path.isabs(filename) else ""
            known = real == self.submission_dir or real.startswith(self.submission_dir + os.sep)
            self._is_submission_file[filename] = known
        return known


def install(allowed: Iterable[str], submission_dir: str | os.PathLike, competition: str, packages: Iterable[str] = ()) -> ImportPolicy:
    """Put the policy first on sys.meta_path (replacing an installed one) and return it."""
    uninstall()
    policy = ImportPolicy(allowed, submission_dir, competition, packages)
    sys.meta_path.insert(0, policy)
    return policy


def uninstall() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, ImportPolicy)]


def _is_import_machinery(filename: str) -> bool:
    return (
        filename.startswith("<frozen importlib")
        or os.path.dirname(filename) == _IMPORTLIB_DIR
        or os.path.abspath(filename) == _THIS_FILE
    )


def _top_level_modules(folder: str) -> set[str]:
    """Names importable from the submission's folder: modules (any import suffix) and packages."""
    names = set()
    suffixes = tuple(importlib.machinery.all_suffixes())
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return names
    for entry in entries:
        if entry.is_dir():
            names.add(entry.name)  # a package, or a namespace package
            continue
        for suffix in suffixes:
            if entry.name.endswith(suffix):
                names.add(entry.name[: -len(suffix)].split(".", 1)[0])
                break
    return names
