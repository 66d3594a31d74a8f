"""How the worker and a run's process report: the run's log, failure texts, where the weights go.

Both sides of the fork use these (worker.py, run_process.py). Standard library only: the worker
loads this module before torch.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from harness.sandbox import protocol

WEIGHTS_NAME = "run-{index:05d}.safetensors"


def weights_path(out_dir: Path, index: int) -> Path:
    return Path(out_dir) / WEIGHTS_NAME.format(index=index)


def failure_text(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"the submission called sys.exit({error.code!r})"
    try:
        text = "".join(traceback.format_exception(error))
    except Exception:  # an exception whose __str__ raises
        text = f"{type(error).__name__} (its message could not be formatted)"
    return protocol.clip_message(text)


def log_text(text: str) -> None:
    try:
        os.write(2, text.encode(errors="replace"))
    except OSError:
        pass


def flush_standard_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # the submission may have replaced or closed them
            pass
