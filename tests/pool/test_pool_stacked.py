"""The retrain pool built with stacked training (harness.training.stacked): same records, same cache contract."""

from __future__ import annotations


import pytest
import torch

from harness.cli import main as cli
from harness.compute.machine import cpu_has_native_bf16
from harness.errors import HarnessError
from harness.pool import REFERENCE_RUNS, ensure_pool, read_pool_model
from locations import QUICK_COMPETITION, QUICK_NAME, REPO

SUBMISSION = str(  # bounded work (5 epochs), whatever the budget
    REPO / "baselines" / "finetune_starting_kit.py")


def test_a_stacked_build_records_every_model_and_keeps_a_one_at_a_time_reference(tmp_path):
    torch.set_num_threads(1)
    pool = ensure_pool(QUICK_COMPETITION, 3, cache_dir=tmp_path, jobs=1, batch_models=2, progress=False)
    assert [record.index for record in pool.retrained] == [0, 1, 2]
    stacked = [record for record in pool.retrained if "stacked x2" in record.device]
    assert [record.index for record in stacked] == [1, 2]
    assert all(record.test_acc > 0.9 for record in pool.retrained)
    # Stacked seconds are a shared-out stack time: the time limit's reference is timed one retrain at a time.
    assert "stacked" not in pool.reference.device and pool.reference.runs == REFERENCE_RUNS
    assert pool.reference.device == pool.retrained[0].device

    again = ensure_pool(QUICK_COMPETITION, 3, cache_dir=tmp_path, jobs=1, batch_models=2, progress=False)
    assert again.built_now == 0
    assert [r.forget_confidences.tolist() for r in again.retrained] == [r.forget_confidences.tolist() for r in pool.retrained]


def test_bf16_stacks_on_cpu_say_so_in_their_records(tmp_path):
    torch.set_num_threads(1)
    pool = ensure_pool(QUICK_COMPETITION, 3, cache_dir=tmp_path, jobs=1, batch_models=2, bf16=True, progress=False)
    assert [record.device.endswith("stacked x2, bf16") for record in pool.retrained] == [False, True, True]
    assert all(record.test_acc > 0.9 for record in pool.retrained)
    assert "bf16" not in pool.reference.device


def test_stacks_take_bf16_where_the_cpu_computes_in_it_natively_unless_told_otherwise(quick_digits, tmp_path):
    torch.set_num_threads(1)
    default = ensure_pool(quick_digits, 3, cache_dir=tmp_path / "default", jobs=1, batch_models=2, progress=False)
    assert [record.device.endswith(", bf16") for record in default.retrained] == [False, *[cpu_has_native_bf16()] * 2]
    float32 = ensure_pool(quick_digits, 3, cache_dir=tmp_path / "float32", jobs=1, batch_models=2, bf16=False, progress=False)
    assert [record.device.endswith("stacked x2") for record in float32.retrained] == [False, True, True]


@pytest.mark.parametrize("command", [["pool"], ["run", SUBMISSION, "--sandbox", "none"]])
def test_bf16_without_stacking_is_refused(tmp_path, capsys, command):
    assert cli([*command, "--n-models", "2", "--cache-dir", str(tmp_path), "--bf16", "--batch-models", "1"]) == 2
    assert "bf16 (--bf16) applies to stacked training, and batch_models = 1 (--batch-models 1) turns stacking off" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before any work


def test_small_cnns_on_cpu_are_stacked_by_default_and_batch_models_1_turns_it_off(quick_digits, tmp_path):
    torch.set_num_threads(1)
    stacked = ensure_pool(quick_digits, 5, cache_dir=tmp_path / "default", jobs=2, threads=1, progress=False)
    # Four models besides model 0, two workers: two stacks of two rather than one stack and an idle worker.
    assert ["stacked x2" in record.device for record in stacked.retrained] == [False, True, True, True, True]
    alone = ensure_pool(quick_digits, 2, cache_dir=tmp_path / "off", jobs=1, threads=1, batch_models=1, progress=False)
    assert not any("stacked" in record.device for record in alone.retrained)


def test_bf16_for_a_pool_that_is_not_stacked_is_refused_before_any_work(tmp_path):
    with pytest.raises(HarnessError, match=r"bf16 \(--bf16\) applies to stacked training.*resnet18 on cpu is not stacked by default"):
        ensure_pool("cifar10", 2, cache_dir=tmp_path, bf16=True, progress=False)
    assert not any(tmp_path.iterdir())


def test_run_builds_its_pool_stacked_when_asked(tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    arguments = ["run", SUBMISSION, "--competition", str(QUICK_COMPETITION), "--n-models", "3", "--phase", "public",
                 "--sandbox", "none", "--jobs", "1", "--batch-models", "2", "--cache-dir", str(cache), "--out", str(out),
                 "--no-report", "--quiet"]
    assert cli(arguments) == 0
    records = sorted(cache.glob(f"pools/{QUICK_NAME}.public.*/records/retrained-*.parquet"))
    assert ["stacked x2" in read_pool_model(path).device for path in records] == [False, True, True]
    assert (out / "score.json").is_file()
