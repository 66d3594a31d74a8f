"""The retrain pool: built model by model, cached, resumable after SIGKILL, safe under concurrent builders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.cli import main as cli_main
from harness.config import load_competition
from harness.errors import ConfigError, HarnessError
from harness.pool import ORIGINAL, REFERENCE_RUNS, RETRAINED, ReferenceTiming, ensure_pool, model_seed, pool_path
from harness.pool.identity import REFERENCE
from harness.pool.reference import TIMING_FORMAT

torch.set_num_threads(1)


def _pool(competition, cache, n_models, **kwargs):
    kwargs.setdefault("jobs", 1)  # in-process: no worker start-up in unit tests
    kwargs.setdefault("batch_models", 1)  # one model at a time: stacked builds are tests/pool/test_pool_stacked.py's
    return ensure_pool(competition, n_models, cache_dir=cache, threads=1, progress=False, **kwargs)


def test_pool_holds_the_original_and_n_retrained_models(quick_digits, tmp_path):
    from harness.data.manifest import find_manifest

    pool = _pool(quick_digits, tmp_path, 3)
    competition = load_competition(quick_digits)
    assert pool.built_now == 4 and pool.n_models == 3
    assert [record.index for record in pool.retrained] == [0, 1, 2]
    assert pool.original.kind == ORIGINAL and {r.kind for r in pool.retrained} == {RETRAINED}
    assert pool.original.seed == model_seed(competition, ORIGINAL)
    assert [r.seed for r in pool.retrained] == [model_seed(competition, RETRAINED, k) for k in range(3)]
    assert len({pool.original.seed, *(r.seed for r in pool.retrained)}) == 4
    manifest = find_manifest(competition, "public", tmp_path)
    assert list(pool.forget_ids) == list(manifest.forget_ids)
    assert pool.retrained_confidences.shape == (3, len(manifest.forget_ids))
    assert pool.retrained_confidences.dtype == np.float64
    assert not np.array_equal(pool.retrained_confidences[0], pool.retrained_confidences[1])
    for record in [pool.original, *pool.retrained]:
        assert 0.5 < record.retain_acc <= 1 and 0.5 < record.test_acc <= 1 and 0 <= record.forget_acc <= 1
        assert record.seconds > 0 and record.threads == 1 and "1 torch thread" in record.device
    assert json.loads((pool.path / "pool.json").read_text())["manifest_checksum"] == manifest.checksum


def test_original_weights_are_safetensors_that_reproduce_its_record(quick_digits, tmp_path):
    from safetensors.torch import load_file

    from harness.data import load_data
    from harness.evaluation.model import evaluate_model
    from harness.training.architectures import build_model

    pool = _pool(quick_digits, tmp_path, 1)
    assert pool.original_weights_path.is_file() and pool.original_weights_path.suffix == ".safetensors"
    assert pool.retrained[0].weights_path is None  # retrained weights are not kept by default
    model = build_model("small_cnn", 10, 1)
    model.load_state_dict(load_file(pool.original_weights_path), strict=True)
    evaluation = evaluate_model(model, load_data(quick_digits, "public", cache_dir=tmp_path))
    np.testing.assert_allclose(evaluation.forget_confidences, pool.original.forget_confidences, rtol=0, atol=1e-9)
    assert evaluation.retain_acc == pool.original.retain_acc


def test_a_second_call_is_a_cache_hit_and_a_larger_pool_builds_only_the_rest(quick_digits, tmp_path):
    first = _pool(quick_digits, tmp_path, 2)
    again = _pool(quick_digits, tmp_path, 2)
    assert again.built_now == 0 and again.path == first.path
    np.testing.assert_array_equal(again.retrained_confidences, first.retrained_confidences)
    smaller = _pool(quick_digits, tmp_path, 1)
    assert smaller.built_now == 0 and smaller.n_models == 1
    larger = _pool(quick_digits, tmp_path, 3, keep_weights=True)
    assert larger.built_now == 1
    np.testing.assert_array_equal(larger.retrained_confidences[:2], first.retrained_confidences)
    assert larger.retrained[2].weights_path.is_file() and larger.retrained[0].weights_path is None


def test_the_pool_is_addressed_by_recipe_and_split(quick_digits, tmp_path):
    import dataclasses

    competition = load_competition(quick_digits)
    base = pool_path(competition, "public", "sha256:a", tmp_path)
    assert pool_path(competition, "public", "sha256:b", tmp_path) != base
    other_recipe = dataclasses.replace(competition, recipe=dataclasses.replace(competition.recipe, lr=0.01))
    assert pool_path(other_recipe, "public", "sha256:a", tmp_path) != base
    assert pool_path(dataclasses.replace(competition, seed=1), "public", "sha256:a", tmp_path) != base
    assert pool_path(dataclasses.replace(competition, n_models=99), "public", "sha256:a", tmp_path) == base
    assert _pool(quick_digits, tmp_path, 1, phase="private").path != _pool(quick_digits, tmp_path, 1).path


def _timing_files(pool) -> list[Path]:
    return sorted((pool.path / "timings").glob("*.json"))


def _no_more_timing(monkeypatch) -> None:
    import harness.pool.reference

    def must_not_train(task, runs):
        raise AssertionError("the stored reference timing should have been used")

    monkeypatch.setattr(harness.pool.reference, "timed_retrains", must_not_train)


def test_the_reference_is_its_own_timed_retrains_stored_with_the_pool(quick_digits, tmp_path):
    pool = _pool(quick_digits, tmp_path, 2)
    reference = pool.reference
    assert isinstance(reference, ReferenceTiming)
    assert reference.runs == REFERENCE_RUNS and reference.threads == 1 and reference.device == pool.retrained[0].device
    assert reference.cpu_seconds > 0 and reference.wall_seconds > 0  # CPU: both clocks
    assert reference.seconds("cpu") == reference.cpu_seconds and reference.seconds("wall") == reference.wall_seconds
    [timing_file] = _timing_files(pool)
    stored = json.loads(timing_file.read_text())
    assert stored["format"] == TIMING_FORMAT and stored["device"] == reference.device
    competition = load_competition(quick_digits)
    # Dedicated retrains with seeds of their own: not the pool's models, whose number and load vary.
    assert [run["seed"] for run in stored["runs"]] == [model_seed(competition, REFERENCE, k) for k in range(REFERENCE_RUNS)]
    assert not {run["seed"] for run in stored["runs"]} & {r.seed for r in [pool.original, *pool.retrained]}
    assert stored["cpu_seconds"] == float(np.median([run["cpu_seconds"] for run in stored["runs"]])) == reference.cpu_seconds
    assert stored["wall_seconds"] == float(np.median([run["wall_seconds"] for run in stored["runs"]])) == reference.wall_seconds


def test_every_n_and_every_command_gets_the_same_reference(quick_digits, tmp_path, monkeypatch):
    first = _pool(quick_digits, tmp_path, 1)
    _no_more_timing(monkeypatch)
    # `check` (N = 2) and `run` (N = 3 here) on the same pool: one measurement, whatever N.
    assert _pool(quick_digits, tmp_path, 2).reference == first.reference
    assert _pool(quick_digits, tmp_path, 3).reference == first.reference
    assert len(_timing_files(first)) == 1


def test_another_device_description_re_measures_and_stores_the_time(quick_digits, tmp_path, monkeypatch):
    import harness.compute.machine

    built = _pool(quick_digits, tmp_path, 2)
    monkeypatch.setattr(harness.compute.machine, "cpu_model", lambda: "Some Other CPU")
    moved = _pool(quick_digits, tmp_path, 2)
    assert moved.built_now == 0
    assert moved.reference.device.startswith("cpu: Some Other CPU") and moved.reference.device != built.reference.device
    files = _timing_files(moved)
    assert len(files) == 2
    stored = [json.loads(path.read_text()) for path in files]
    assert {document["device"] for document in stored} == {built.reference.device, moved.reference.device}
    _no_more_timing(monkeypatch)
    assert _pool(quick_digits, tmp_path, 2).reference == moved.reference


def test_a_pool_cached_with_the_old_timing_format_loads_and_is_re_measured(quick_digits, tmp_path):
    pool = _pool(quick_digits, tmp_path, 2)
    [timing_file] = _timing_files(pool)
    # Before the reference had its own runs: one model's seconds, no format, no CPU time.
    old = {"device": pool.reference.device, "threads": 1, "seconds": 123.0, "model_seed": 1, "measured_at": "2026-11-23T10:00:00+0000"}
    timing_file.write_text(json.dumps(old))
    again = _pool(quick_digits, tmp_path, 2)
    assert again.built_now == 0 and again.reference.runs == REFERENCE_RUNS and again.reference.wall_seconds != 123.0
    assert json.loads(timing_file.read_text())["format"] == TIMING_FORMAT
    timing_file.write_text("{not json")  # a torn or foreign file is measured again too
    assert _pool(quick_digits, tmp_path, 2).reference.runs == REFERENCE_RUNS


def test_a_reference_without_cpu_time_is_charged_on_the_wall_clock():
    on_gpu = ReferenceTiming(cpu_seconds=None, wall_seconds=2.0, runs=3, device="cuda: NVIDIA H200", threads=1)
    assert on_gpu.seconds("wall") == 2.0
    with pytest.raises(HarnessError, match="has no CPU time"):
        on_gpu.seconds("cpu")
    with pytest.raises(HarnessError, match="unknown time basis 'gpu'"):
        on_gpu.seconds("gpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_the_reference_has_wall_time_only(quick_digits, tmp_path):
    pool = _pool(quick_digits, tmp_path, 1, device="cuda")
    assert pool.reference.cpu_seconds is None and pool.reference.wall_seconds > 0
    assert pool.reference.device.startswith("cuda: ")


def test_bad_arguments_are_usage_errors(quick_digits, tmp_path):
    with pytest.raises(HarnessError, match="n_models must be a positive integer"):
        _pool(quick_digits, tmp_path, 0)
    with pytest.raises(HarnessError, match="jobs must be a positive integer"):
        _pool(quick_digits, tmp_path, 1, jobs=0)
    with pytest.raises(ConfigError, match="has no phase 'final'"):
        _pool(quick_digits, tmp_path, 1, phase="final")


_BUILDER = textwrap.dedent(
    """
    import sys, torch
    torch.set_num_threads(1)
    from harness.pool import ensure_pool
    pool = ensure_pool(sys.argv[1], int(sys.argv[2]), cache_dir=sys.argv[3], jobs=1, threads=1, batch_models=1, progress=False)
    print("built", pool.built_now)
    """
)


def _start_builder(competition: Path, n_models: int, cache: Path) -> subprocess.Popen:
    env = os.environ | {"UNLEARN_HARNESS_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, "-c", _BUILDER, str(competition), str(n_models), str(cache)], stdout=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
def test_a_build_killed_midway_resumes_with_only_what_is_missing(quick_digits, tmp_path):
    _pool(quick_digits, tmp_path, 1)  # make the manifest and pool folder, so the subprocess starts training at once
    records = next((tmp_path / "pools").iterdir()) / "records"
    builder = _start_builder(quick_digits, 8, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while len(list(records.glob("*.parquet"))) < 4 and builder.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert builder.poll() is None, "the build finished before it could be interrupted"
        builder.send_signal(signal.SIGKILL)
    finally:
        builder.kill()
        builder.wait()
    done = {path.name: path.read_bytes() for path in records.glob("*.parquet")}
    assert 4 <= len(done) < 9
    resumed = _pool(quick_digits, tmp_path, 8)
    assert resumed.built_now == 9 - len(done)
    assert all((records / name).read_bytes() == content for name, content in done.items())  # untouched
    assert not list(records.glob(".*.tmp"))  # no half-written record is ever visible as a record


@pytest.mark.slow
def test_concurrent_builders_build_each_model_exactly_once(quick_digits, tmp_path):
    _pool(quick_digits, tmp_path, 1)
    builders = [_start_builder(quick_digits, 6, tmp_path) for _ in range(2)]
    outputs = [builder.communicate(timeout=300)[0] for builder in builders]
    assert all(builder.returncode == 0 for builder in builders), outputs
    built = [int(output.split()[-1]) for output in outputs]
    assert sum(built) == 5  # models 1..5: every one built exactly once, by one of the two
    final = _pool(quick_digits, tmp_path, 6)
    assert final.built_now == 0 and final.n_models == 6


def test_the_pool_command_prints_where_how_many_and_the_reference_time(quick_digits, tmp_path, capsys):
    argv = ["pool", "--competition", str(quick_digits), "--n-models", "2", "--cache-dir", str(tmp_path), "--jobs", "1", "--threads", "1", "--quiet"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert f"pool: {tmp_path / 'pools'}" in out
    assert "the original + 2 retrained (3 built now" in out
    assert "reference retrain time:" in out and "CPU time" in out and "1 torch thread" in out
    assert f"(median of {REFERENCE_RUNS} timed retrains)" in out
    assert cli_main(argv) == 0
    assert "(0 built now" in capsys.readouterr().out


def test_cache_root_follows_flag_then_environment_then_xdg(tmp_path, monkeypatch):
    from harness.utils.cache import cache_root

    monkeypatch.delenv("UNLEARN_HARNESS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "unlearning-harness"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "unlearning-harness"
    monkeypatch.setenv("UNLEARN_HARNESS_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "flag") == tmp_path / "flag"


def test_devices_default_to_one_single_threaded_worker_per_core_and_reject_unknown_devices(monkeypatch):
    import harness.compute.devices as devices
    import harness.compute.machine as machine

    monkeypatch.setattr(machine, "usable_cores", lambda: 8)
    assert devices.default_jobs("cpu") == 8 and machine.threads_per_worker(8) == 1
    assert machine.threads_per_worker(1) == 8 and machine.threads_per_worker(3) == 2
    assert devices.describe_device("cpu", 1).endswith(", 1 torch thread")
    assert devices.describe_device("cpu", 4).endswith(", 4 torch threads")
    with pytest.raises(HarnessError, match="unknown device 'tpu'"):
        devices.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(HarnessError, match="no CUDA GPU is visible; use --device cpu"):
            devices.resolve_device("cuda")
    assert devices.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
