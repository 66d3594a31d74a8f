"""What a submission is on disk: one Python file, or a folder holding submission.py and helpers."""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.errors import HarnessError

ENTRY_FILE = "submission.py"
# Never part of a submission's identity: caches and editor litter.
_IGNORED_PARTS = {"__pycache__", ".git", ".ipynb_checkpoints"}


def submission_entry(path: Path) -> Path:
    """The file that defines `unlearn`: the path itself, or `submission.py` inside a folder."""
    path = Path(path)
    if path.is_dir():
        entry = path / ENTRY_FILE
        if not entry.is_file():
            raise HarnessError(f"submission folder {path} has no {ENTRY_FILE}; it must define unlearn(net, retain, forget, val)")
        return entry
    if not path.is_file():
        raise HarnessError(f"submission {path} does not exist")
    if path.suffix != ".py":
        raise HarnessError(f"submission {path} is not a Python file (.py) or a folder with {ENTRY_FILE}")
    return path


def submission_files(path: Path) -> list[Path]:
    """Every file that belongs to the submission, sorted, relative to the submission's root."""
    path = Path(path)
    if path.is_file():
        return [Path(path.name)]
    submission_entry(path)
    return sorted(
        file.relative_to(path)
        for file in path.rglob("*")
        if file.is_file() and not _IGNORED_PARTS.intersection(file.relative_to(path).parts) and file.suffix != ".pyc"
    )


def submission_sha256(path: Path) -> str:
    """A content hash of the submission: the file's bytes, or every file's name and bytes in a folder."""
    path = Path(path)
    submission_entry(path)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for relative in submission_files(path):
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256((path / relative).read_bytes()).digest())
    return digest.hexdigest()
