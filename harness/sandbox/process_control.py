"""Process control inside the sandbox: keep the worker out of reach, end every process of a run.

Standard library only: the worker uses this before it imports torch. The worker is the sandbox's
PID 1 under bwrap (`--as-pid-1`) and Docker, so the kernel drops the signals that processes of
the same namespace send it without a handler (SIGKILL and SIGSTOP included): a run cannot stop
or kill the worker that reports on it. Made non-dumpable, its /proc entries (file descriptors,
memory, environment) are closed to the runs as well, so the protocol channel stays its own.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import stat
import time

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
_KILL_ROUNDS = 1000  # a pids cgroup bounds how many rounds a fork loop can force


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"prctl({option}, {value}): {os.strerror(number)}")


def protect_worker() -> None:
    """Make this process non-dumpable and the reaper of every orphan of its runs."""
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def reap_children() -> list[tuple[int, int]]:
    """Collect every child that has ended, without waiting: (pid, wait status) pairs."""
    ended = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.append((pid, status))


def _has_children() -> bool:
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def _descendants(root: int) -> list[int]:
    """Every live descendant of `root` (Linux /proc/<pid>/task/<tid>/children)."""
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                    children = [int(child) for child in handle.read().split()]
            except (OSError, ValueError):
                continue
            found += children
            stack += children
    return found


def end_run_processes(own_pid_namespace: bool) -> None:
    """SIGKILL every process of the finished run and reap them all.

    In the sandbox's own PID namespace, kill(-1) reaches every process but the caller and PID 1
    (the caller itself here): nothing of the run can hide. Without one (the unsafe `none`
    backend) the worker's descendants are found through /proc; as the subreaper, the worker
    inherits every orphan, so a process that left its parent is still among them.
    """
    me = os.getpid()
    for _ in range(_KILL_ROUNDS):
        targets = [-1] if own_pid_namespace else _descendants(me)
        for target in targets:
            try:
                os.kill(target, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        reap_children()
        if not _has_children():
            return
        time.sleep(0.001)
    raise RuntimeError("the run's processes could not all be ended")


def empty_folder(folder: str) -> None:
    """Remove everything under `folder` that lies on its file system (mounts inside are kept).

    Walks directory descriptors with an explicit stack, so no depth of nesting (paths far past
    PATH_MAX) and no symlink can stop or redirect it. It runs once the run's processes are gone,
    so nothing changes underneath. A run may have removed its own permissions from what it
    wrote; the worker runs as the same user and restores them.
    """
    try:
        root = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    device = os.fstat(root).st_dev
    # (descriptor, names still to remove in it, its own name in the folder above)
    stack: list[tuple[int, list[str], str | None]] = [(root, _names(root), None)]
    while stack:
        descriptor, pending, own_name = stack[-1]
        if not pending:
            stack.pop()
            os.close(descriptor)
            if own_name is not None:
                _ignore_refusal(os.rmdir, own_name, dir_fd=stack[-1][0])
            continue
        name = pending.pop()
        try:
            info = os.stat(name, dir_fd=descriptor, follow_symlinks=False)
        except OSError:
            continue
        if info.st_dev != device:
            continue  # a mount point (e.g. a Python environment bound under /tmp)
        if not stat.S_ISDIR(info.st_mode):
            _ignore_refusal(os.unlink, name, dir_fd=descriptor)
            continue
        try:
            os.chmod(name, 0o700, dir_fd=descriptor)  # a directory, not a link (lstat above)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=descriptor)
        except OSError:
            continue
        stack.append((child, _names(child), name))


def _names(descriptor: int) -> list[str]:
    try:
        return [entry.name for entry in os.scandir(descriptor)]
    except OSError:
        return []


def _ignore_refusal(function, *args, **kwargs) -> None:
    """What cannot be removed (a read-only mount's contents, a busy mount point) stays."""
    try:
        function(*args, **kwargs)
    except OSError as error:
        if error.errno not in (errno.ENOENT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EBUSY, errno.ENOTEMPTY):
            raise
