"""Package names that load from their modules on first use.

A package's `__init__` that imported all of its modules would make every import of one of them pay
for all (torch, pyarrow, the Docker SDK): the sandbox worker imports a few modules of packages whose
other modules it must never load, and `unlearn-harness score` must stay torch-free. Such a package
declares its public names and where each lives instead:

    __getattr__, __dir__ = lazy_exports(__name__, {"Split": "harness.data.splits", ...})
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package`, whose `exports` map each public name to its module."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # the next lookup is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
