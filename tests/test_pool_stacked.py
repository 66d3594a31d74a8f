"""The retrain pool built with stacked training (harness.batched): same records, same cache contract."""

from __future__ import annotations

import torch

from harness.pool import ensure_pool


def test_a_stacked_build_records_every_model_and_keeps_a_one_at_a_time_reference(tmp_path):
    torch.set_num_threads(1)
    pool = ensure_pool("digits", 3, cache_dir=tmp_path, jobs=1, batch_models=2, progress=False)
    assert [record.index for record in pool.retrained] == [0, 1, 2]
    stacked = [record for record in pool.retrained if record.device.endswith("stacked x2")]
    assert len(stacked) == 2
    assert all(record.test_acc > 0.9 for record in pool.retrained)
    # Stacked seconds are a shared-out stack time: the time limit's reference is measured alone.
    assert "stacked" not in pool.reference_device
    assert pool.reference_retrain_seconds > 0

    again = ensure_pool("digits", 3, cache_dir=tmp_path, jobs=1, batch_models=2, progress=False)
    assert again.built_now == 0
    assert [r.forget_confidences.tolist() for r in again.retrained] == [r.forget_confidences.tolist() for r in pool.retrained]
