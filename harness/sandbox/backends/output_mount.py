"""A size-limited file system for a sandbox's output folder, so that the kernel enforces its quota.

The output folder is the one place a sandbox writes on the host. A quota checked by walking it can
be evaded (files unlinked while still open, paths too deep to stat); a tmpfs mounted over the host
folder for the length of a session cannot: its size and inode count are the limit (ENOSPC past
them), everything in it lives in memory charged to the sandbox's memory cgroup, and unmounting it
at the end of the session leaves nothing of the submission on the host disk. Mounting needs root.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8
MNT_DETACH = 0x2


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def mount_tmpfs(folder: Path, *, size_bytes: int, max_entries: int, uid: int, gid: int) -> str | None:
    """Mount a private tmpfs at `folder` (which must exist); None on success, else why not."""
    if os.geteuid() != 0:
        return "mounting a size-limited output folder needs a harness running as root"
    options = f"size={size_bytes},nr_inodes={max_entries + 1},mode=0700,uid={uid},gid={gid}"
    result = _libc().mount(b"tmpfs", os.fsencode(folder), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options.encode())
    if result != 0:
        number = ctypes.get_errno()
        return f"mounting a tmpfs at {folder} failed: {os.strerror(number)}"
    return None


def is_mount_point(folder: Path) -> bool:
    try:
        return os.path.ismount(folder)
    except OSError:
        return False


def unmount(folder: Path) -> None:
    """Detach the file system at `folder` (its memory is freed once nothing holds it open)."""
    if is_mount_point(folder) and _libc().umount2(os.fsencode(folder), MNT_DETACH) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"unmounting {folder}: {os.strerror(number)}")
