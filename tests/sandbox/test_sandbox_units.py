"""The sandbox's pieces without a sandbox: protocol, logs, failure classification, limits, job checks."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.sandbox import SandboxLimits, UnlearningJob, resolve_sandbox
from harness.sandbox import protocol
from harness.sandbox.failures import classify_exception
from harness.sandbox.logs import BoundedLog, LogRouter
from harness.sandbox.supervisor import folder_usage
from harness.sandbox.run_process import find_function, seed_everything
from hostile.support import tiny_job


# --- protocol ------------------------------------------------------------------------------------
def test_messages_round_trip_and_garbage_is_a_violation():
    line = protocol.encode(protocol.DONE, index=3, seed=7, status="ok", message=None)
    assert line.endswith(b"\n")
    assert protocol.decode(line.strip()) == {"event": "done", "index": 3, "seed": 7, "status": "ok", "message": None}
    garbage = [
        b"", b"not json", b"[1, 2]", b'{"index": 1}', b'{"event": 5}', b"\xff\xfe", b'{"event": "nonsense"}',
        b"[" * 100_000 + b"]" * 100_000,  # nesting deeper than the parser's recursion limit
        b'{"event": "done", "index": 0, "seed": 1, "status": ["ok"], "message": null}',  # an unhashable status
        b'{"event": "done", "index": true, "seed": 1, "status": "ok", "message": null}',  # a bool is no index
        b'{"event": "done", "index": 0, "seed": 1, "status": "ok", "message": {"a": 1}}',
        b'{"event": "prepared", "index": 1e400}',
    ]
    for line in garbage:
        with pytest.raises(protocol.ProtocolViolation):
            protocol.decode(line)


def test_no_bytes_or_json_shape_can_raise_anything_but_a_violation():
    import json
    import random

    generator = random.Random(0)

    def value(depth: int):
        makers = [lambda: None, lambda: True, lambda: generator.randint(-5, 5), lambda: "ok",
                  lambda: [value(depth + 1)], lambda: {"status": value(depth + 1)},
                  lambda: {"event": value(depth + 1), "index": value(depth + 1)}]
        return makers[generator.randrange(len(makers) if depth < 6 else 4)]()

    for _ in range(3000):
        if generator.random() < 0.5:
            line = bytes(generator.randrange(256) for _ in range(generator.randrange(40)))
        else:
            message = {"event": generator.choice(["ready", "prepared", "done", "finished", "fatal", value(0)])}
            message.update({key: value(0) for key in generator.sample(["index", "seed", "status", "message"], 3)})
            line = json.dumps(message).encode()
        try:
            decoded = protocol.decode(line)
        except protocol.ProtocolViolation:
            continue
        assert decoded["event"] in ("ready", "prepared", "done", "finished", "fatal")


def test_line_splitter_joins_chunks_and_drops_overlong_lines_without_buffering_them():
    lines = []
    splitter = protocol.LineSplitter(lines.append, max_line_bytes=10)
    for chunk in (b"ab", b"c\nde", b"f\n", b"x" * 8, b"x" * 8, b"x" * 1000, b"\nok\n"):
        splitter.feed(chunk)
        assert len(splitter._buffer) <= 10
    assert lines == [b"abc", b"def", b"ok"]
    assert splitter.dropped_lines == 1


def test_long_messages_keep_their_tail():
    text = "first line\n" + "x" * 10_000 + "\nValueError: the part that matters"
    clipped = protocol.clip_message(text, limit=100)
    assert len(clipped) == 100 and clipped.endswith("ValueError: the part that matters")


# --- logs ----------------------------------------------------------------------------------------
def test_bounded_log_keeps_head_and_tail_of_any_amount_of_output(tmp_path):
    log = BoundedLog(tmp_path / "run.log", head_bytes=100, tail_bytes=200, header="# header\n")
    written = b"".join(f"{i:07d}\n".encode() for i in range(100_000))  # 800 kB in uneven chunks
    for start in range(0, len(written), 777):
        log.write(written[start:start + 777])
    assert log._tail_size < 200 + 777  # memory stays bounded while writing
    log.close()
    text = (tmp_path / "run.log").read_bytes()
    assert text.startswith(b"# header\n" + written[:100])
    assert text.endswith(written[-200:])
    assert f"[... {len(written) - 300} bytes of output omitted ...]".encode() in text


def test_log_router_cuts_output_at_run_markers_even_across_chunks(tmp_path):
    opened = []

    def open_run(index):
        opened.append(index)
        return tmp_path / f"run-{index}.log", f"# run {index}\n"

    router = LogRouter(1000, 1000, open_run)
    router.start(tmp_path / "session.log", "# session\n")
    stream = (b"loading\n" + protocol.RUN_MARKER % 0 + b"zero says hi\n" + protocol.RUN_MARKER % 5
              + b"still zero\n" + protocol.RUN_MARKER % 1 + b"one\x1e\x1e done\n")
    for start in range(0, len(stream), 7):  # markers split at every possible place
        router.write(stream[start:start + 7])
    router.close()
    assert opened == [0, 1]  # the forged marker for run 5 was not followed
    assert (tmp_path / "session.log").read_bytes() == b"# session\nloading\n"
    assert (tmp_path / "run-0.log").read_bytes() == b"# run 0\nzero says hi\nstill zero\n"
    assert (tmp_path / "run-1.log").read_bytes() == b"# run 1\none\x1e\x1e done\n"


# --- failure classification ----------------------------------------------------------------------
def _raised(error: BaseException, cause: BaseException | None = None) -> BaseException:
    try:
        raise error from cause
    except BaseException as caught:
        return caught


VISIBLE = ["/usr", "/job", "/out", "/tmp", "/opt/unlearn-harness", "/root/.pyenv/versions/3.11"]
HIDDEN = ["/root/.pyenv/versions/3.11/lib/sklearn/datasets/data"]


@pytest.mark.parametrize(
    "error, expected",
    [
        (ValueError("bug"), "exception"),
        (KeyboardInterrupt(), "exception"),
        (SystemExit(3), "crashed"),
        (MemoryError(), "out_of_memory"),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you tried"), "out_of_memory"),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "out_of_memory"),
        (PermissionError(errno.EACCES, "Permission denied", "/job/data.safetensors"), "sandbox_violation"),
        (OSError(errno.EROFS, "Read-only file system", "/usr/x"), "sandbox_violation"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "sandbox_violation"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "sandbox_violation"),
        (socket.gaierror(-3, "Temporary failure in name resolution"), "sandbox_violation"),
        (BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"), "sandbox_violation"),
        (OSError(errno.ENOSPC, "No space left on device", "/tmp/x"), "sandbox_violation"),
        (RuntimeError("can't start new thread"), "sandbox_violation"),
        (FileNotFoundError(errno.ENOENT, "No such file", "/root/.cache/unlearning-harness/pool"), "sandbox_violation"),
        (FileNotFoundError(errno.ENOENT, "No such file", "/home/alice/notes"), "sandbox_violation"),
        (FileNotFoundError(errno.ENOENT, "No such file", HIDDEN[0] + "/digits.csv.gz"), "sandbox_violation"),
        (FileNotFoundError(errno.ENOENT, "No such file", "/tmp/my_cache.pt"), "exception"),
        (FileNotFoundError(errno.ENOENT, "No such file", "/usr/share/missing"), "exception"),
        (FileNotFoundError(errno.ENOENT, "No such file"), "exception"),
        (OSError(errno.EIO, "Input/output error"), "exception"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value,
)
def test_exceptions_are_classified(error, expected):
    assert classify_exception(_raised(error), visible_roots=VISIBLE, hidden_roots=HIDDEN) == expected


def test_a_wrapped_violation_is_still_a_violation_and_import_errors_keep_their_kind():
    wrapped = _raised(RuntimeError("could not download the weights"), PermissionError(errno.EPERM, "Operation not permitted"))
    assert classify_exception(wrapped) == "sandbox_violation"
    assert classify_exception(_raised(ModuleNotFoundError("no module named x")), otherwise="import_error") == "import_error"
    assert classify_exception(_raised(MemoryError()), otherwise="import_error") == "out_of_memory"


# --- limits and the job --------------------------------------------------------------------------
def test_the_stopping_rule_is_three_budgets_plus_grace_or_a_cap_without_budget():
    limits = SandboxLimits(timeout_factor=3.0, timeout_grace_seconds=30.0, max_run_seconds=600.0)
    assert limits.run_timeout_seconds(10.0) == 60.0
    assert limits.run_timeout_seconds(None) == 600.0


@pytest.mark.parametrize("field, value", [("memory_bytes", 0), ("max_processes", -1), ("timeout_factor", 0.5)])
def test_bad_limits_are_refused(field, value):
    with pytest.raises(HarnessError, match=field):
        SandboxLimits(**{field: value})


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"seeds": []}, "seeds is empty"),
        ({"seeds": [1, 1]}, "seeds repeat"),
        ({"device": "tpu"}, "device must be cpu, cuda or cuda:K"),
        ({"batch_format": "records"}, "batch_format must be one of"),
        ({"per_run_budget_seconds": 0.0}, "per_run_budget_seconds must be positive"),
        ({"original_weights": Path("/nonexistent/weights.safetensors")}, "original weights .* do not exist"),
        ({"retain": "not a split"}, "retain must be a harness.data.Split"),
    ],
)
def test_invalid_jobs_are_refused_with_the_reason(tmp_path, change, problem):
    job = tiny_job(tmp_path, [1])
    fields = {name: getattr(job, name) for name in job.__dataclass_fields__}
    with pytest.raises(HarnessError, match=problem):
        UnlearningJob(**{**fields, **change})


def test_gpu_jobs_name_their_device(tmp_path):
    job = tiny_job(tmp_path, [1])
    assert job.gpu_index is None and job.settings()["device"] == "cpu"
    job.device = "cuda:3"
    assert job.gpu_index == 3 and job.settings()["device"] == "cuda"


# --- backends ------------------------------------------------------------------------------------
def test_unknown_backend_is_a_usage_error():
    with pytest.raises(HarnessError, match="unknown sandbox 'podman'"):
        resolve_sandbox("podman")
    assert resolve_sandbox("none") == "none"


def test_auto_names_both_ways_to_get_a_sandbox_when_neither_works(monkeypatch, tmp_path):
    from harness.sandbox.backends import bwrap, docker_engine

    # A machine without either: no bwrap on PATH, no engine behind DOCKER_HOST.
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    bwrap.bwrap_problem.cache_clear()
    docker_engine._client_or_problem.cache_clear()
    try:
        with pytest.raises(HarnessError) as raised:
            resolve_sandbox("auto")
        message = str(raised.value)
        assert "apt-get install bubblewrap" in message and "dockerd" in message and "--sandbox none" in message
        with pytest.raises(HarnessError, match="--sandbox bwrap: bwrap is not installed"):
            resolve_sandbox("bwrap")
    finally:
        bwrap.bwrap_problem.cache_clear()
        docker_engine._client_or_problem.cache_clear()


def test_output_usage_counts_allocated_bytes_so_sparse_files_cannot_hide(tmp_path):
    (tmp_path / "sparse").write_bytes(b"")
    os.truncate(tmp_path / "sparse", 1 << 30)  # 1 GiB long, nothing allocated
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "real").write_bytes(os.urandom(1 << 20))
    size, entries = folder_usage(tmp_path, max_entries=100)
    assert entries == 3 and (1 << 20) <= size < (1 << 20) + (1 << 16)


# --- the worker's helpers ------------------------------------------------------------------------
def test_the_kaggle_name_is_accepted_and_a_missing_function_is_explained():
    class Module:
        pass

    module = Module()
    module.unlearning = lambda net, retain, forget, val: None
    assert find_function(module) is module.unlearning
    empty = Module()
    empty.train = lambda: None
    with pytest.raises(LookupError, match="defines no function unlearn.*it defines: train"):
        find_function(empty)


def test_seeding_is_deterministic_per_seed():
    import torch

    first = (seed_everything(5), torch.rand(3))
    second = (seed_everything(5), torch.rand(3))
    other = (seed_everything(6), torch.rand(3))
    assert first[0] == second[0] and torch.equal(first[1], second[1])
    assert first[0] != other[0] and not torch.equal(first[1], other[1])


def test_concurrent_sandboxes_are_bound_to_different_cores_and_release_them():
    import os
    import threading

    from harness.sandbox.cores import reserved_cores

    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs two cores")
    with reserved_cores(1) as first, reserved_cores(1) as second:
        assert first != second and {int(first), int(second)} <= set(cores)
        waited = threading.Event()

        def third() -> None:  # every core taken (on a 2-core machine): it waits, holding nothing
            with reserved_cores(len(cores) - 1):
                waited.set()

        if len(cores) == 2:
            worker = threading.Thread(target=third, daemon=True)
            worker.start()
            assert not waited.wait(0.3)
    if len(cores) == 2:
        assert waited.wait(10)  # released with the first two
    with reserved_cores(len(cores) + 5) as everything:
        assert everything == ",".join(map(str, cores))
