"""Progress bars that show on a terminal and stay quiet in logs, CI and pipes."""

from __future__ import annotations

import contextlib
import os
from typing import Iterable, Iterator, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

# Set by the CLI's --quiet / --verbose; UNLEARN_HARNESS_PROGRESS=0 forces bars off.
_enabled: bool | None = None


def set_progress(enabled: bool | None) -> None:
    """True forces bars on, False off, None shows them only on a terminal."""
    global _enabled
    _enabled = enabled


def progress_setting() -> bool | None:
    """The current setting (see set_progress), to restore after changing it temporarily."""
    return _enabled


@contextlib.contextmanager
def progress_disabled(disabled: bool = True) -> Iterator[None]:
    """Turn bars off inside the block when `disabled`, restoring the previous setting after."""
    previous = _enabled
    if disabled:
        set_progress(False)
    try:
        yield
    finally:
        set_progress(previous)


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "", unit: str = "it", **kwargs) -> tqdm:
    if os.environ.get("UNLEARN_HARNESS_PROGRESS") == "0":
        disable: bool | None = True
    else:
        # tqdm treats disable=None as "off unless stderr is a terminal".
        disable = None if _enabled is None else not _enabled
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=False, dynamic_ncols=True, **kwargs)
