"""Stacked training is statistically indistinguishable from one-at-a-time training (small_cnn, digits).

Two independent populations of the same size N, one trained one at a time (train_model) and one
stacked (train_models, 4 models per stack), with different seeds. The official rule F
(scoring.forget_score) of one against the other must look like F of two samples of ONE population:
scoring.calibration_reference over the pooled 2N models gives that null distribution at the same
N (random halves). The same holds for stacked training under bf16 autocast on CPU (bf16=True, the
CUDA path's precision). A negative control shows the check has teeth: a population trained one
epoch less (three instead of four, still about 96% accurate) scores far below it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from harness.evaluation.stacked import evaluate_models
from harness.training.stacked import train_models
from harness.config import load_competition
from harness.data import load_data
from harness.training.trainer import train_model
from scoring import calibration_reference, forget_score

torch.set_num_threads(1)

N_MODELS = 8
EPOCHS = 4
BATCH_MODELS = 4


@pytest.fixture(scope="module")
def populations():
    competition = load_competition("digits")
    competition = dataclasses.replace(competition, recipe=dataclasses.replace(competition.recipe, epochs=EPOCHS))
    data = load_data(competition, "public")
    one_at_a_time = [train_model(competition, data, seed=seed, progress=False).model for seed in range(N_MODELS)]
    stacked = [t.model for t in train_models(competition, data, seeds=range(100, 100 + N_MODELS), batch_models=BATCH_MODELS, progress=False)]
    stacked_bf16 = [t.model for t in train_models(competition, data, seeds=range(300, 300 + N_MODELS), batch_models=BATCH_MODELS, bf16=True, progress=False)]
    under_trained = dataclasses.replace(competition, recipe=dataclasses.replace(competition.recipe, epochs=EPOCHS - 1))
    control = [train_model(under_trained, data, seed=seed, progress=False).model for seed in range(200, 200 + N_MODELS)]
    names = ("one_at_a_time", "stacked", "stacked_bf16", "control")
    evaluations = evaluate_models(one_at_a_time + stacked + stacked_bf16 + control, data, batch_models=N_MODELS)
    return {name: evaluations[index * N_MODELS : (index + 1) * N_MODELS] for index, name in enumerate(names)} | {"test_size": len(data.test)}


def _confidences(evaluations) -> np.ndarray:
    return np.stack([evaluation.forget_confidences for evaluation in evaluations])


@pytest.mark.slow
@pytest.mark.parametrize("population", ["stacked", "stacked_bf16"])
def test_stacked_and_one_at_a_time_accuracies_agree_within_noise(populations, population):
    for field in ("test_acc", "retain_acc", "forget_acc"):
        a = np.array([getattr(e, field) for e in populations["one_at_a_time"]])
        b = np.array([getattr(e, field) for e in populations[population]])
        noise = 3 * np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)) + 1 / populations["test_size"]
        assert abs(a.mean() - b.mean()) <= noise, (field, a.mean(), b.mean(), noise)
    assert np.mean([e.test_acc for e in populations[population]]) > 0.9


@pytest.mark.slow
def test_the_official_rule_sees_one_population(populations):
    reference_models = _confidences(populations["one_at_a_time"])
    stacked = _confidences(populations["stacked"])
    null = calibration_reference(np.vstack([reference_models, stacked]), n_splits=10, seed=0)
    assert null.n_models == N_MODELS
    floor = null.forget_quality - 3 * max(null.spread, 0.005)
    observed = forget_score(stacked, reference_models)
    assert observed >= floor, (observed, null.forget_quality, null.spread)
    observed_bf16 = forget_score(_confidences(populations["stacked_bf16"]), reference_models)
    assert observed_bf16 >= floor, (observed_bf16, null.forget_quality, null.spread)
    # The same check rejects a population that really differs.
    control = forget_score(_confidences(populations["control"]), reference_models)
    assert control < floor, (control, null.forget_quality, null.spread)
