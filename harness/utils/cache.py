"""The harness's cache folder: retrain pools, manifests generated from local data, downloads.

Everything cached lives under one root: `--cache-dir`, else $UNLEARN_HARNESS_CACHE, else
$XDG_CACHE_HOME/unlearning-harness, else ~/.cache/unlearning-harness. Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "UNLEARN_HARNESS_CACHE"
CACHE_FOLDER_NAME = "unlearning-harness"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache root: the argument, else $UNLEARN_HARNESS_CACHE, else the XDG cache folder."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / CACHE_FOLDER_NAME
