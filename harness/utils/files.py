"""The harness's cache folder, atomic file writes, and advisory locks.

Everything cached (retrain pools, manifests generated from local data, downloads) lives under one
root: `--cache-dir`, else $UNLEARN_HARNESS_CACHE, else $XDG_CACHE_HOME/unlearning-harness, else
~/.cache/unlearning-harness. Writers never leave a half-written file behind (temp file + os.replace),
so a killed process costs at most the item it was writing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

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


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(temp_path)` on a temp file beside `path`, then rename it into place atomically.

    Readers see either the old file or the complete new one; a crash leaves only a temp file
    (named .<name>.*.tmp), which never matches what readers look for.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temp_path = Path(temp_name)
    try:
        write(temp_path)
        # mkstemp creates 0600; give the file the permissions a plain open() would (a sandbox
        # running as another user must be able to read the original weights).
        os.chmod(temp_path, 0o666 & ~_UMASK)
        with open(temp_path, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temp_path, path)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise


def _read_umask() -> int:
    # os.umask can only be read by setting it; do it once, at import, before any threads exist.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda temp: temp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))


@contextlib.contextmanager
def file_lock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """An exclusive advisory lock (fcntl.flock) on `path`; yields whether it was acquired.

    With blocking=False the context yields False at once when another process holds the lock.
    The kernel drops the lock when its holder dies, even by SIGKILL, so a killed builder never
    leaves a stale lock behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        flags = fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(handle.fileno(), flags)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                yield False
                return
            raise
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
