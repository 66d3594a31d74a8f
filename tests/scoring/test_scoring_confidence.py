"""The confidence transform equals the official one bit for bit, for the logits models produce."""

import numpy as np
import pytest

from scoring import logit_scaled_confidence
from scoring_reference import compute_logit_scaled_confidence


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_the_official_transform(dtype):
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(2000, 10)) * rng.uniform(0.1, 30, size=(2000, 1))).astype(dtype)
    labels = rng.integers(0, 10, 2000)
    phi = logit_scaled_confidence(logits, labels)
    assert phi.dtype == np.float64
    assert np.array_equal(phi, compute_logit_scaled_confidence(logits, labels))


def test_float32_logits_are_not_upcast_before_the_exp():
    # The official code exponentiates float32 model outputs in float32; upcasting first gives
    # slightly different confidences, which can move an example across a threshold.
    rng = np.random.default_rng(1)
    logits = (rng.normal(size=(500, 10)) * 5).astype(np.float32)
    labels = rng.integers(0, 10, 500)
    upcast_first = logit_scaled_confidence(logits.astype(np.float64), labels)
    assert not np.array_equal(logit_scaled_confidence(logits, labels), upcast_first)


def test_extreme_logits_stay_finite_and_bounded():
    logits = np.array([[1000.0, -1000.0], [-1000.0, 1000.0], [0.0, 0.0]], dtype=np.float32)
    phi = logit_scaled_confidence(logits, np.array([0, 0, 0]))
    assert phi[0] == pytest.approx(-np.log(1e-45)) and phi[1] == pytest.approx(np.log(1e-45)) and phi[2] == 0.0
    assert (np.abs(phi) < 104).all()


def test_the_input_is_not_modified():
    logits = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    logit_scaled_confidence(logits, np.array([2]))
    assert logits.tolist() == [[1.0, 2.0, 3.0]]


@pytest.mark.parametrize(
    "logits, labels, message",
    [
        (np.zeros(3), np.array([0, 0, 0]), "2-D"),
        (np.zeros((3, 0)), np.array([0, 0, 0]), "at least one class"),
        (np.zeros((3, 2)), np.array([0, 0]), "one label per logits row"),
        (np.zeros((3, 2)), np.array([0.0, 1.0, 0.0]), "labels must be integers"),
        (np.zeros((3, 2)), np.array([0, 2, 0]), r"labels must lie in \[0, 2\)"),
        (np.array([[0.0, np.nan]]), np.array([0]), "NaN or inf"),
        (np.array([["a", "b"]]), np.array([0]), "logits must be real numbers"),
    ],
)
def test_bad_input(logits, labels, message):
    with pytest.raises(ValueError, match=message):
        logit_scaled_confidence(logits, labels)
