"""Which failure kind an exception raised by participant code belongs to.

Runs inside the sandbox worker (standard library only, torch is looked up by name). The kinds and
the behaviour behind each are documented in submissions/README.md; the rules, in order:

- `SystemExit` (sys.exit) -> crashed: the submission tried to end the worker.
- MemoryError, torch's out-of-memory errors -> out_of_memory.
- an OSError the sandbox causes -> sandbox_violation: a denied or read-only file operation
  (EACCES, EPERM, EROFS), a quota (ENOSPC, EDQUOT, EFBIG: /tmp or file-size limits), the process
  limit (EAGAIN from fork or thread creation), the missing network (unreachable, refused, name
  resolution), or a file that is missing because the sandbox does not show that place (outside
  every mounted path, or under a hidden one such as scikit-learn's bundled datasets).
- anything else -> exception (or import_error while the submission is being imported).

The chain of causes (`raise ... from`, implicit context) is searched, so a library that wraps a
denied operation in its own error still counts as a violation.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Iterable, Iterator

from harness.sandbox.protocol import CRASHED, EXCEPTION, OUT_OF_MEMORY, SANDBOX_VIOLATION

DENIED_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
QUOTA_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EAGAIN})
NETWORK_ERRNOS = frozenset(
    {
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.ENETDOWN,
        errno.ECONNREFUSED,
        errno.EADDRNOTAVAIL,
        errno.EAFNOSUPPORT,
    }
)
MISSING_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR})

_TORCH_OOM_MARKERS = ("DefaultCPUAllocator: can't allocate memory", "CUDA out of memory", "out of memory")


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, then its causes and contexts, each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_under(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    # torch.OutOfMemoryError (CPU allocator and CUDA) subclasses RuntimeError; match by name and
    # message so this module needs no torch import.
    if type(error).__name__ in ("OutOfMemoryError", "OutOfMemory"):
        return True
    return isinstance(error, RuntimeError) and any(marker in str(error) for marker in _TORCH_OOM_MARKERS)


def _is_violation(error: BaseException, visible_roots: Iterable[str], hidden_roots: Iterable[str]) -> bool:
    if isinstance(error, socket.gaierror):
        return True  # no name resolution without a network
    if isinstance(error, RuntimeError) and "can't start new thread" in str(error):
        return True  # the process limit
    if not isinstance(error, OSError) or error.errno is None:
        return False
    if error.errno in DENIED_ERRNOS | QUOTA_ERRNOS | NETWORK_ERRNOS:
        return True
    if error.errno in MISSING_ERRNOS and isinstance(error.filename, (str, bytes)):
        filename = os.fsdecode(error.filename)
        path = os.path.normpath(os.path.join(os.getcwd(), filename)) if filename else ""
        return bool(path) and (_is_under(path, hidden_roots) or not _is_under(path, visible_roots))
    return False


def classify_exception(
    error: BaseException,
    *,
    otherwise: str = EXCEPTION,
    visible_roots: Iterable[str] = ("/",),
    hidden_roots: Iterable[str] = (),
) -> str:
    """The failure kind of `error` raised by participant code (`otherwise` when no rule matches).

    `visible_roots` are the places the sandbox shows (a missing file elsewhere was hidden by the
    sandbox); `hidden_roots` are places inside them that the sandbox masks.
    """
    if isinstance(error, SystemExit):
        return CRASHED
    visible_roots, hidden_roots = list(visible_roots), list(hidden_roots)
    chain = list(exception_chain(error))
    if any(_is_out_of_memory(link) for link in chain):
        return OUT_OF_MEMORY
    if any(_is_violation(link, visible_roots, hidden_roots) for link in chain):
        return SANDBOX_VIOLATION
    return otherwise
