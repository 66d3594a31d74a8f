"""score.json: one phase's record, written as strict JSON and read back with clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.errors import DataError
from harness.results.folder import SCORE_FILE
from harness.results.verdict import STATUSES
from harness.utils.files import atomic_write_text


def write_score_json(path: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write score.json atomically, refusing NaN/inf (JSON has no such numbers)."""
    return atomic_write_text(path, json.dumps(record, indent=2, allow_nan=False) + "\n")


def read_score_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a score.json; raise DataError naming the file and the problem."""
    path = Path(path)
    if path.is_dir():
        path = path / SCORE_FILE
    if not path.is_file():
        raise DataError(f"{path}: no such file; is {path.parent} a result folder of `unlearn-harness run`?")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(record, dict):
        raise DataError(f"{path}: expected a JSON object")
    missing = [key for key in ("status", "score", "competition", "phase", "phases") if key not in record]
    if missing:
        raise DataError(f"{path}: missing field(s) {', '.join(missing)}; not a score.json of this harness")
    if record["status"] not in STATUSES:
        raise DataError(f"{path}: status {record['status']!r} is not one of {', '.join(STATUSES)}")
    return record
