"""Bad input to the public functions raises ValueError naming the problem."""

import numpy as np
import pytest

import scoring

rng = np.random.default_rng(0)
GOOD = rng.normal(size=(8, 5))
ACC = np.full(8, 0.9)


@pytest.mark.parametrize(
    "unlearned, retrained, message",
    [
        (GOOD[0], GOOD, r"unlearned confidences must be 2-D .* got shape \(5,\); stack one row per model"),
        (GOOD, GOOD[None], r"retrained confidences must be 2-D"),
        (GOOD, GOOD[:, :4], r"unlearned has 5 forget examples \(columns\) but retrained has 4"),
        (GOOD, GOOD[:6], r"unlearned has 8 models \(rows\) but retrained has 6"),
        (GOOD[:1], GOOD[:1], r"unlearned has 1 model\(s\); the metric needs at least 2"),
        (GOOD[:, :0], GOOD[:, :0], r"no forget examples"),
        (np.where(np.eye(8, 5) > 0, np.nan, GOOD), GOOD, r"unlearned contains 5 NaN or inf .* model 0, example 0"),
        (GOOD, np.where(np.eye(8, 5) > 0, np.inf, GOOD), r"retrained contains 5 NaN or inf"),
        (GOOD * 1000, GOOD, r"\|phi\| = 2325, beyond the 104 .*scoring.logit_scaled_confidence"),
        ([["a"] * 5] * 8, GOOD, r"unlearned confidences must be numeric"),
    ],
)
def test_bad_populations(unlearned, retrained, message):
    for function in (scoring.example_epsilons, scoring.forget_score, scoring.epsilon_lower_bounds):
        with pytest.raises(ValueError, match=message):
            function(unlearned, retrained)


def test_bad_delta():
    with pytest.raises(ValueError, match=r"delta must be in \[0, 1\)"):
        scoring.example_epsilons(GOOD, GOOD, delta=1.5)


@pytest.mark.parametrize(
    "epsilons, n_models, message",
    [
        ([0.1, np.nan], 8, r"epsilons contain 1 NaN"),
        ([-0.1], 8, r"epsilons must be >= 0"),
        ([], 8, r"non-empty 1-D"),
        ([[0.1]], 8, r"non-empty 1-D"),
        ([0.1], 1, r"n_models must be at least 2"),
        ([0.1], 8.0, r"n_models must be an integer"),
    ],
)
def test_bad_forgetting_quality_input(epsilons, n_models, message):
    with pytest.raises(ValueError, match=message):
        scoring.forgetting_quality(epsilons, n_models)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ((1.5, 0.9, 0.9, 0.9, 0.9), r"forget_quality must be one number in \[0, 1\]"),
        ((0.5, 90.0, 0.9, 0.9, 0.9), r"retain_acc_unlearned must be a fraction .* percentage"),
        ((0.5, 0.9, 0.0, 0.9, 0.9), r"retain_acc_retrained is 0; it divides the score"),
        ((0.5, 0.9, 0.9, 0.9, np.nan), r"test_acc_retrained must be finite"),
        ((0.5, ACC, 0.9, 0.9, 0.9), r"retain_acc_unlearned must be one number \(the mean"),
    ],
)
def test_bad_final_score_input(arguments, message):
    with pytest.raises(ValueError, match=message):
        scoring.final_score(*arguments)


def test_bad_extension_options():
    with pytest.raises(ValueError, match=r"correction must be one of bonferroni, none, got 'holm'"):
        scoring.epsilon_lower_bounds(GOOD, GOOD, correction="holm")
    with pytest.raises(ValueError, match=r"confidence must be strictly between 0 and 1"):
        scoring.epsilon_lower_bounds(GOOD, GOOD, confidence=95)
    with pytest.raises(ValueError, match=r"resample must be one of models, examples, got 'both'"):
        scoring.bootstrap_forget_quality(GOOD, GOOD, resample="both")
    with pytest.raises(ValueError, match=r"n_resamples must be a positive integer"):
        scoring.bootstrap_forget_quality(GOOD, GOOD, n_resamples=0)
    with pytest.raises(ValueError, match=r"retain_acc_retrained must hold one accuracy per model, shape \(8,\)"):
        scoring.bootstrap_final_score(GOOD, GOOD, ACC, ACC[:3], ACC, ACC)
    with pytest.raises(ValueError, match=r"test_acc_unlearned must be fractions .*percentages\? divide by 100"):
        scoring.bootstrap_final_score(GOOD, GOOD, ACC, ACC, ACC * 100, ACC)
    with pytest.raises(ValueError, match=r"retain_acc_retrained averages 0"):
        scoring.bootstrap_final_score(GOOD, GOOD, ACC, ACC * 0, ACC, ACC)
    with pytest.raises(ValueError, match=r"retrained has 3 models; splitting it in two halves of at least 2 needs 4"):
        scoring.calibration_reference(GOOD[:3])
    with pytest.raises(ValueError, match=r"n_splits must be a positive integer"):
        scoring.calibration_reference(GOOD, n_splits=0)
