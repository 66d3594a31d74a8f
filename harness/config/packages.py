"""The packages a submission may import: one registry, one default list, the same in every sandbox.

A competition names its environment as distribution names (`packages = [...]` in its TOML, a
subset of the registry below; all of them when absent). Three places must install exactly the
registry's packages, and tests/config/test_packages.py fails when they disagree:

- pyproject.toml's extra `kaggle` (`pip install "unlearning-harness[kaggle]"`),
- docker/requirements.txt, which the organizers' image (docker/Dockerfile) installs,
- DEFAULT_PACKAGES below.

Under bubblewrap the sandbox sees the harness's whole Python environment, so the worker installs
harness.sandbox.import_policy with `allowed_import_names(packages)`: submission code that imports
anything else fails there as it would in the organizers' image. Standard library only.
"""

from __future__ import annotations

import re
from typing import Iterable

# Distribution name -> the top-level modules it installs: every package the sandbox environment
# has, i.e. what the 2023 Kaggle notebooks imported (their first cell, the MIA cells, their plots).
# A competition may name a subset; adding one here means adding it to pyproject and docker too.
IMPORT_NAMES: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "pandas": ("pandas",),
    "scipy": ("scipy",),
    "scikit-learn": ("sklearn",),
    "torch": ("torch",),
    "torchvision": ("torchvision",),
    "tqdm": ("tqdm",),
    "matplotlib": ("matplotlib", "mpl_toolkits", "pylab"),
    "Pillow": ("PIL",),
}
DEFAULT_PACKAGES = tuple(IMPORT_NAMES)

# Importable in every sandbox whatever the competition names: the submission kit's package.
HARNESS_IMPORT_NAMES = ("harness",)

REQUIRED_PACKAGES = ("torch",)  # the network a submission receives is a torch module


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them ("Scikit_Learn" -> "scikit-learn")."""
    return re.sub(r"[-_.]+", "-", name).lower()


_CANONICAL = {normalize(name): name for name in IMPORT_NAMES}


def canonical_name(name: str) -> str:
    """The registry's spelling of distribution `name`; KeyError (listing the known ones) if unknown."""
    try:
        return _CANONICAL[normalize(name)]
    except KeyError:
        raise KeyError(f"unknown package {name!r}; known: {', '.join(IMPORT_NAMES)}") from None


def allowed_import_names(packages: Iterable[str]) -> frozenset[str]:
    """The top-level modules submission code may import besides the standard library and its own files."""
    names = set(HARNESS_IMPORT_NAMES)
    for package in packages:
        names.update(IMPORT_NAMES[canonical_name(package)])
    return frozenset(names)


def requirement_name(line: str) -> str | None:
    """The normalized distribution name of one requirements line ("Pillow>=10  # x" -> "pillow"); None for blanks."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", text)
    if match is None:
        raise ValueError(f"not a requirement: {line!r}")
    return normalize(match.group(0))
