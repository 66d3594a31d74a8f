"""The verdict of one phase: its status (scored, over_time or failed) and the failure behind it.

A submission-level failure (it did not import, a sandbox violation, ...) or any failed unlearning
run fails the phase, unless every failure is a time-out (over_time); so do missing models; a
complete run is over_time when the time rule says so (harness.results.time_rule), else scored.
Torch-free.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import DataError
from harness.results.outputs import RunOutputs
from harness.results.time_rule import OVER_TIME_KINDS, over_time_failure

STATUSES = ("scored", "over_time", "failed")
# One line in tables and logs, however long the message.
REASON_MAX_CHARS = 300


def with_reason(failure: dict[str, str] | None) -> dict[str, str] | None:
    """The failure with `reason`: one line for tables and logs (the message may hold a traceback).

    The reason is the kind and the message's verdict, its last line (a traceback's exception),
    leaving out the batch-format hint the harness may add after it; it keeps the message's
    "run k (seed s)" where the verdict is on a later line.
    """
    if failure is None:
        return None
    lines = [line.strip() for line in str(failure.get("message") or "").splitlines() if line.strip()]
    verdicts = [line for line in lines if not line.startswith("hint:")]
    verdict = verdicts[-1] if verdicts else ""
    if len(verdicts) > 1 and verdicts[0].startswith("run "):
        verdict = f"{verdicts[0].split(': ', 1)[0]}: {verdict}"
    reason = f"{failure['kind']}: {verdict}" if verdict else str(failure["kind"])
    if len(reason) > REASON_MAX_CHARS:
        reason = reason[: REASON_MAX_CHARS - 3] + "..."
    return {**failure, "reason": reason}


def check_retrained_pool(outputs: RunOutputs, R: np.ndarray) -> None:
    broken = [f for f in outputs.failures() if f["kind"] == "retrained"]
    if broken:
        first = broken[0]
        raise DataError(
            f"retrained model {first['index']} has status {first['status']!r}: the retrain pool is incomplete; "
            "rebuild it with `unlearn-harness pool` before scoring"
        )
    if R.shape[0] < 2:
        raise DataError(f"the outputs hold {R.shape[0]} retrained model(s); the metric needs at least 2")


def classify(outputs: RunOutputs, n_unlearned_ok: int, times: dict[str, Any]) -> tuple[str, dict[str, str] | None]:
    """The run's status and failure ({kind, message}): a submission failure, a model failure,
    missing models, or a time per model over the competition's fraction of one retrain."""
    meta = outputs.metadata
    if meta.failure is not None:
        kind = meta.failure["kind"]
        return ("over_time" if kind in OVER_TIME_KINDS else "failed"), dict(meta.failure)
    failed = [f for f in outputs.failures() if f["kind"] == "unlearned"]
    if failed:
        first = failed[0]
        status = "over_time" if all(f["status"] in OVER_TIME_KINDS for f in failed) else "failed"
        message = f"{len(failed)} of {len(failed) + n_unlearned_ok} unlearning runs failed; first: model {first['index']}"
        if first["message"]:
            message += f": {first['message']}"
        return status, {"kind": first["status"], "message": message}
    n_retrained = int(outputs.rows("retrained").sum())
    if n_unlearned_ok != n_retrained:
        return "failed", {
            "kind": "missing_models",
            "message": f"{n_unlearned_ok} unlearned models for {n_retrained} retrained ones; the run is incomplete",
        }
    over_time = over_time_failure(times, meta.time_cutoff)
    if over_time is not None:
        return "over_time", over_time
    return "scored", None
