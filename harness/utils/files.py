"""Atomic file writes and advisory locks: the one writer every stage uses.

Writers never leave a half-written file behind (a temp file beside the target, fsynced, then
os.replace), so a killed process costs at most the item it was writing, and a reader sees either
the old file or the complete new one. Standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator


def atomic_write(path: Path, write: Callable[[Path], None], *, durable: bool = True) -> Path:
    """Call `write(temp_path)` on a temp file beside `path`, then rename it into place atomically.

    Readers see either the old file or the complete new one; a crash leaves only a temp file
    (named .<name>.*.tmp), which never matches what readers look for. `durable` also fsyncs the
    file first, so that a machine that goes down keeps it (a sandbox run, whose clock is running,
    writes to a file system that does not outlive it, and skips that).
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
        if durable:
            with open(temp_path, "rb") as written:
                os.fsync(written.fileno())
        os.replace(temp_path, path)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return path


def _read_umask() -> int:
    # os.umask can only be read by setting it; do it once, at import, before any threads exist.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda temp: temp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; returns the path."""
    return atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))


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
