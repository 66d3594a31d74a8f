"""What a submission is on disk: one Python file, or a folder holding submission.py and helpers.

A folder's contents are untrusted: nothing here follows a link inside it. A link that points
outside the folder is refused with a clear error (a link to a host folder would otherwise make
the harness read, hash or change host files); links that stay inside are kept as links, and
hashed as their target text, never as what they point to.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from harness.errors import HarnessError

ENTRY_FILE = "submission.py"
# Never part of a submission: caches and editor litter.
IGNORED_PARTS = frozenset({"__pycache__", ".git", ".ipynb_checkpoints"})
IGNORED_SUFFIXES = (".pyc",)


def submission_entry(path: Path) -> Path:
    """The file that defines `unlearn`: the path itself, or `submission.py` inside a folder."""
    path = Path(path)
    if path.is_dir():
        entry = path / ENTRY_FILE
        if entry.is_symlink() or not entry.is_file():
            raise HarnessError(f"submission folder {path} has no {ENTRY_FILE} (a plain file); it must define unlearn(net, retain, forget, val)")
        return entry
    if not path.is_file():
        raise HarnessError(f"submission {path} does not exist")
    if path.suffix != ".py":
        raise HarnessError(f"submission {path} is not a Python file (.py) or a folder with {ENTRY_FILE}")
    return path


def is_ignored(relative: Path) -> bool:
    return bool(IGNORED_PARTS.intersection(relative.parts)) or relative.suffix in IGNORED_SUFFIXES


def submission_files(path: Path) -> list[Path]:
    """Every file and link of the submission, sorted, relative to its root (links not followed).

    Raises HarnessError for a link that leads outside the folder.
    """
    path = Path(path)
    if path.is_file():
        return [Path(path.name)]
    submission_entry(path)
    root = Path(os.path.realpath(path))
    found = []
    for folder, dirs, files in os.walk(path, followlinks=False):
        for name in dirs + files:
            full = Path(folder) / name
            relative = full.relative_to(path)
            if is_ignored(relative):
                continue
            if full.is_symlink():
                _check_link(full, relative, root)
                found.append(relative)
            elif name in files and full.is_file():
                found.append(relative)
    return sorted(found)


def _check_link(link: Path, relative: Path, root: Path) -> None:
    resolved = Path(os.path.realpath(link))
    if resolved != root and root not in resolved.parents:
        raise HarnessError(
            f"submission file {relative} is a link to {os.readlink(link)}, outside the submission folder; "
            "copy what it points to into the folder instead (links may only point inside it)"
        )


def submission_sha256(path: Path) -> str:
    """A content hash of the submission: the file's bytes, or every entry's name and bytes (a
    link's target text) in a folder."""
    path = Path(path)
    submission_entry(path)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for relative in submission_files(path):
        full = path / relative
        digest.update(relative.as_posix().encode() + b"\0")
        content = b"link:" + os.fsencode(os.readlink(full)) if full.is_symlink() else _read_plain_file(full)
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def submission_problem(path: Path) -> str | None:
    """Why the harness refuses to run this submission (a link out of its folder, no entry file),
    or None. A refused submission fails every run with that reason; it is never copied or run."""
    try:
        submission_sha256(path)
    except HarnessError as error:
        return str(error)
    return None


def identity_sha256(path: Path) -> str:
    """The submission's content hash, or for a refused one the hash of why it was refused."""
    problem = submission_problem(path)
    return submission_sha256(path) if problem is None else hashlib.sha256(b"refused:" + problem.encode()).hexdigest()


def _read_plain_file(path: Path) -> bytes:
    """A regular file's bytes, refusing to follow a link that appeared since the walk."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(descriptor, "rb") as handle:
        return handle.read()
