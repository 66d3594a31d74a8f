"""Known properties of the metric (METRIC.md, "Known properties"), and the package's boundary."""

import subprocess
import sys

import numpy as np

import scoring


def test_identical_gaussians_score_about_0_18_at_n128():
    # Not 1: the max over ~160,000 rules on finite samples inflates epsilon. (Mean over 4,000
    # examples: 0.186; this seed and size keep the estimate within +-0.01 of it.)
    rng = np.random.default_rng(2)
    U, R = rng.normal(size=(128, 800)), rng.normal(size=(128, 800))
    assert 0.17 <= scoring.forget_score(U, R, n_jobs=2) <= 0.20


def test_forgetting_quality_falls_as_the_populations_separate():
    rng = np.random.default_rng(1)
    U = rng.normal(size=(64, 150))
    R = rng.normal(size=(64, 150))
    qualities = [scoring.forget_score(U + shift, R) for shift in (0.0, 0.5, 1.5, 20.0)]
    assert qualities[0] > qualities[1] > qualities[2] > qualities[3] == 0.0


def test_a_deterministic_unlearner_scores_zero():
    # All N unlearned outputs equal: the peaky guard caps every example.
    rng = np.random.default_rng(2)
    R = rng.normal(size=(32, 40))
    U = np.tile(R.mean(axis=0), (32, 1))
    assert (scoring.example_epsilons(U, R) == 50.0).all()
    assert scoring.forget_score(U, R) == 0.0


def test_example_order_does_not_matter():
    rng = np.random.default_rng(3)
    U, R = rng.normal(size=(16, 60)), rng.normal(size=(16, 60)) * 1.2
    order = rng.permutation(60)
    eps = scoring.example_epsilons(U, R)
    assert np.array_equal(scoring.example_epsilons(U[:, order], R[:, order]), eps[order])


def test_model_order_does_not_matter():
    rng = np.random.default_rng(4)
    U, R = rng.normal(size=(16, 60)), rng.normal(size=(16, 60)) + 0.2
    eps = scoring.example_epsilons(U, R)
    assert np.array_equal(scoring.example_epsilons(U[rng.permutation(16)], R[rng.permutation(16)]), eps)


def test_importing_and_using_scoring_never_imports_torch():
    code = (
        "import sys, numpy as np, scoring\n"
        "rng = np.random.default_rng(0)\n"
        "U, R = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))\n"
        "eps = scoring.example_epsilons(U, R, n_jobs=2)\n"
        "scoring.final_score(scoring.forgetting_quality(eps, 6), 0.9, 0.9, 0.8, 0.8)\n"
        "scoring.epsilon_lower_bounds(U, R)\n"
        "scoring.bootstrap_forget_quality(U, R, n_resamples=3, resample='models')\n"
        "scoring.calibration_reference(R, n_splits=2)\n"
        "scoring.logit_scaled_confidence(rng.normal(size=(5, 3)), np.array([0, 1, 2, 0, 1]))\n"
        "assert 'torch' not in sys.modules, 'scoring imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
