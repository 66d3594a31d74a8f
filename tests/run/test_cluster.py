"""On a dask cluster every work item runs on the workers: pool models, sandbox chunks, evaluations.

A real dask.distributed LocalCluster (worker processes), a real pool build, a real bwrap sandbox. A
worker plugin collects the harness's log records in every worker process ("built retrained model
k", "evaluated unlearned model k"); the client's own records are collected too and must hold none.
"""

from __future__ import annotations

import logging
import os
import sys

import pytest

distributed = pytest.importorskip("dask.distributed")
import cloudpickle  # noqa: E402  (dask's dependency)

from harness.cli import main as cli  # noqa: E402
from harness.compute.engines import execution_engine, run_tasks  # noqa: E402
from locations import REPO  # noqa: E402

FINETUNE = REPO / "baselines" / "finetune.py"
N_MODELS = 3

# The workers cannot import this test module: send its functions and the plugin by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class HarnessLogs(distributed.WorkerPlugin):
    """Keeps every INFO record of the `harness` loggers emitted in the worker's process."""

    def setup(self, worker) -> None:
        handler = _Collect()
        harness_log = logging.getLogger("harness")
        harness_log.addHandler(handler)
        harness_log.setLevel(logging.INFO)
        worker.harness_messages = handler.messages


def _messages(dask_worker) -> list[str]:
    return list(dask_worker.harness_messages)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        with distributed.Client(local) as client:
            client.register_plugin(HarnessLogs())
            yield local.scheduler_address, client


@pytest.fixture
def client_messages():
    handler = _Collect()
    harness_log = logging.getLogger("harness")
    previous = harness_log.level
    harness_log.addHandler(handler)
    harness_log.setLevel(logging.INFO)
    yield handler.messages
    harness_log.removeHandler(handler)
    harness_log.setLevel(previous)


def test_run_trains_the_pool_runs_sandboxes_and_evaluates_on_the_workers(cluster, client_messages, quick_digits, bwrap, tmp_path):
    address, client = cluster
    out = tmp_path / "result"
    code = cli(["run", str(FINETUNE), "--competition", str(quick_digits), "--n-models", str(N_MODELS), "--phase", "public",
                "--backend", "dask", "--scheduler", address, "--sandbox", "bwrap", "--cache-dir", str(tmp_path / "cache"),
                "--out", str(out), "--quiet", "--bootstrap", "0", "--no-report"])
    assert code in (0, 1)  # scored or over time: either way every model was trained and evaluated
    on_workers = [message for messages in client.run(_messages).values() for message in messages]
    built = {message.split(" of ")[0] for message in on_workers if message.startswith("built ")}
    assert built == {"built original model 0", *(f"built retrained model {k}" for k in range(N_MODELS))}
    evaluated = {message.split(" of ")[0] for message in on_workers if message.startswith("evaluated ")}
    assert evaluated == {f"evaluated unlearned model {k}" for k in range(N_MODELS)}
    # The client planned and scored: it trained and evaluated nothing itself.
    assert not [message for message in client_messages if message.startswith(("built ", "evaluated "))]
    assert (out / "score.json").is_file() and (out / "outputs.parquet").is_file()
    assert len(list((out / "logs" / "public").glob("run-*.log"))) == N_MODELS


def _where() -> int:
    return os.getpid()


def test_a_cluster_of_one_slot_still_gets_the_work():
    # joblib runs a one-slot pool in the calling process; the harness sends the work to the cluster anyway.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        with execution_engine("dask", scheduler=local.scheduler_address) as workers:
            assert workers == 1
            pids = run_tasks([_where, _where], jobs=workers, desc="where", unit="task")
    assert len(set(pids)) == 1 and os.getpid() not in pids
