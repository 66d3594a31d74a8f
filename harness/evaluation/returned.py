"""Trusted evaluation of the models a sandbox returned: one idempotent work item per model.

Each item reads one returned model's weights (checked against the architecture by
harness.sandbox.validation), evaluates it with the same code as the pool's models
(harness.evaluation.model.evaluate_model) and stores its outputs row atomically under the run's work
folder, keyed by the weights' SHA-256, so a re-run reuses it. Items run wherever the execution
backend sends them; a worker loads the competition data itself, once per process
(harness.data.per_process), so only the item's small description travels.

Whatever one model holds, its evaluation ends in a row: weights that do not fit, outputs that are
NaN or infinite, or any exception while evaluating it become that model's classified failure
(`invalid_model`, with a one-line reason), never an error of the phase.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.config.competition import Competition
from harness.results.outputs import OutputsRow
from harness.sandbox.protocol import INVALID_MODEL
from harness.utils.files import atomic_write_text

if TYPE_CHECKING:
    from torch import nn

    from harness.data.splits import CompetitionData
    from harness.sandbox import RunOutcome

log = logging.getLogger(__name__)

UNLEARNED = "unlearned"


@dataclass(frozen=True)
class ReturnedModel:
    """The work item: evaluate the model that run `outcome` returned. Picklable, small."""

    outcome: "RunOutcome"
    competition: Competition
    phase: str
    device: str
    data_dir: str | None
    cache_dir: str | None
    evaluations_dir: Path  # where evaluated rows are kept, one JSON file per model

    @property
    def stored_path(self) -> Path:
        return self.evaluations_dir / f"{UNLEARNED}-{self.outcome.index:05d}.json"


def evaluate_returned_model(item: ReturnedModel, data: "CompetitionData | None" = None) -> OutputsRow:
    """The outputs row of one returned model: evaluated, or its failure. Never raises for the model's sake.

    `data` is the phase's data where the caller holds it; else this process's copy is used (and
    loaded only when the model's row is not stored yet).
    """
    from harness.data.per_process import worker_data
    from harness.sandbox.validation import weights_sha256

    outcome = item.outcome
    if outcome.status != "ok":
        return _failed(outcome, outcome.status, outcome.message)
    try:
        digest = weights_sha256(outcome.weights_path)
    except OSError as error:
        return _failed(outcome, INVALID_MODEL, f"the returned weights cannot be read: {_one_line(error)}")
    stored = _stored_row(item.stored_path, digest)
    if stored is not None:
        return stored
    if data is None:  # the harness's own input: a problem loading it is the run's to report, not the model's
        data = worker_data(item.competition, item.phase, item.data_dir, item.cache_dir)
    try:
        return _evaluate(item, data, digest)
    except Exception as error:  # one model must never abort the phase or lose the other models' rows
        log.warning("evaluating returned model %d failed", outcome.index, exc_info=True)
        # Not stored: the cause may be this machine's (memory, a device), so a re-run tries again.
        return _failed(outcome, INVALID_MODEL, f"evaluating the returned model failed: {type(error).__name__}: {_one_line(error)}")


def _evaluate(item: ReturnedModel, data: "CompetitionData", digest: str) -> OutputsRow:
    from harness.evaluation.model import NonFiniteOutputs, evaluate_model
    from harness.sandbox.validation import InvalidModel, load_returned_state_dict
    from harness.training.architectures import build_model

    outcome, competition = item.outcome, item.competition
    model = build_model(competition.architecture, competition.num_classes, competition.in_channels)
    try:
        model.load_state_dict(load_returned_state_dict(outcome.weights_path, model))
        evaluation = evaluate_model(model, data, device=item.device)
    except InvalidModel as error:
        row = _failed(outcome, INVALID_MODEL, _one_line(error))
    except NonFiniteOutputs as error:
        row = _failed(outcome, INVALID_MODEL, f"the returned model cannot be scored: {_one_line(error)}{_likely_cause(model)}")
    else:
        row = evaluated_row(UNLEARNED, outcome.index, outcome.seed, outcome.seconds, evaluation)
        log.info("evaluated %s model %d of %s/%s on %s", UNLEARNED, outcome.index, competition.name, item.phase, item.device)
    # Both outcomes depend on the weights alone: keep them for a re-run.
    # "record": the key stored rows have had from the first, so that existing work folders still resume.
    atomic_write_text(item.stored_path, json.dumps({"weights_sha256": digest, "record": asdict(row)}))
    return row


def _stored_row(path: Path, digest: str) -> OutputsRow | None:
    """The row stored for these exact weights, if any (a file that cannot be read is evaluated again)."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        return OutputsRow(**stored["record"]) if stored.get("weights_sha256") == digest else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def evaluated_row(kind: str, index: int, seed: int, seconds: float | None, evaluated) -> OutputsRow:
    """An outputs row from anything carrying the evaluation fields (a ModelEvaluation or a PoolModel)."""
    return OutputsRow(
        kind=kind,
        index=index,
        seed=seed,
        retain_acc=float(evaluated.retain_acc),
        test_acc=float(evaluated.test_acc),
        forget_acc=float(evaluated.forget_acc),
        seconds=seconds,
        forget_confidences=[float(x) for x in evaluated.forget_confidences],
    )


def _failed(outcome: "RunOutcome", status: str, message: str | None) -> OutputsRow:
    return OutputsRow(kind=UNLEARNED, index=outcome.index, seed=outcome.seed, status=status, seconds=outcome.seconds, message=message)


def _likely_cause(model: "nn.Module") -> str:
    """Why finite weights gave non-finite outputs, where a buffer says so (a negative variance)."""
    negative = [name for name, buffer in model.named_buffers() if name.endswith("running_var") and bool((buffer < 0).any())]
    if not negative:
        return ""
    others = len(negative) - 1
    more = f" and {others} other BatchNorm layer{'s' if others > 1 else ''}" if others else ""
    return f"; negative running_var in {negative[0]}{more} (a variance must be >= 0)"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or "no message"
