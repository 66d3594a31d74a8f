"""One pool model's file: what scoring needs of it, stored as one Parquet row (records/<model>.parquet)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harness.errors import DataError
from harness.pool.identity import ORIGINAL
from harness.utils.files import atomic_write


@dataclass(frozen=True)
class PoolModel:
    """What the pool keeps of one model, what scoring needs of it (accuracies are fractions in [0, 1])."""

    kind: str  # "original" or "retrained"
    index: int  # 0 for the original; k for retrained model k
    seed: int
    forget_confidences: np.ndarray  # float64 [E], forget set in manifest order
    retain_acc: float
    test_acc: float
    forget_acc: float
    val_acc: float | None
    seconds: float  # wall-clock training time (not the time limit's yardstick: see harness.pool.reference)
    device: str  # describe_device() of the device it was trained on, with its torch thread count
    threads: int
    best_epoch: int | None
    weights_path: Path | None  # None unless the weights were kept


_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("index", pa.int64()),
        ("seed", pa.int64()),
        ("forget_confidences", pa.list_(pa.float64())),
        ("retain_acc", pa.float64()),
        ("test_acc", pa.float64()),
        ("forget_acc", pa.float64()),
        ("val_acc", pa.float64()),
        ("seconds", pa.float64()),
        ("device", pa.string()),
        ("threads", pa.int64()),
        ("best_epoch", pa.int64()),
        ("weights", pa.string()),
    ]
)


def write_pool_model(model: PoolModel, path: Path) -> None:
    """Write one model's file atomically (the last file of a model: it marks the model finished)."""
    row = {
        "kind": [model.kind],
        "index": [model.index],
        "seed": [model.seed],
        "forget_confidences": [np.asarray(model.forget_confidences, dtype=np.float64).tolist()],
        "retain_acc": [model.retain_acc],
        "test_acc": [model.test_acc],
        "forget_acc": [model.forget_acc],
        "val_acc": [model.val_acc],
        "seconds": [model.seconds],
        "device": [model.device],
        "threads": [model.threads],
        "best_epoch": [model.best_epoch],
        "weights": [model.weights_path.name if model.weights_path else None],
    }
    table = pa.table(row, schema=_SCHEMA)
    atomic_write(path, lambda temp: pq.write_table(table, temp))


def read_pool_model(path: Path) -> PoolModel:
    """Read one model's file; DataError naming it (and how to rebuild it) when it cannot be read."""
    try:
        row = {name: values[0] for name, values in pq.read_table(path).to_pydict().items()}
    except (pa.ArrowException, OSError, IndexError, KeyError) as error:
        raise DataError(f"{path}: unreadable pool model file ({error}); delete it and re-run to rebuild that model") from None
    weights_folder = path.parent.parent if row["kind"] == ORIGINAL else path.parent.parent / "weights"
    return PoolModel(
        kind=row["kind"],
        index=row["index"],
        seed=row["seed"],
        forget_confidences=np.asarray(row["forget_confidences"], dtype=np.float64),
        retain_acc=row["retain_acc"],
        test_acc=row["test_acc"],
        forget_acc=row["forget_acc"],
        val_acc=row["val_acc"],
        seconds=row["seconds"],
        device=row["device"],
        threads=row["threads"],
        best_epoch=row["best_epoch"],
        weights_path=weights_folder / row["weights"] if row["weights"] else None,
    )
