"""Every baseline is a valid submission: on digits it returns a well-formed, changed model, in both
batch formats and under a small time budget; SVD class unlearning removes a digit class.

Baselines are loaded from their files, as the sandbox worker loads a submission, and called the way
the worker calls them: a copy of the original model in train mode, seeded RNGs, the UNLEARN_*
environment, and shuffled retain/forget/val loaders in the competition's batch format.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import random
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from baselines import BASELINES, BASELINES_DIR
from harness.config import load_competition
from harness.data import CompetitionData, Split, make_loader
from harness.data import load_data
from harness.errors import ConfigError
from harness.training.architectures import build_model
from harness.kit import accuracy
from harness.training.trainer import train_model

torch.set_num_threads(1)

BASELINE_FILES = [entry.path for entry in BASELINES]
CLASS_ONLY = {entry.name for entry in BASELINES if entry.forget_kinds == ("class",)}
RETRAIN = "retrain"  # trains from scratch by design (ten times the budget): tested once, on its own
SMALL_BUDGET_S = 0.4  # about a tenth of a digits retrain on one core, in CPU time


def load_submission(path: Path) -> ModuleType:
    """Import a submission file by path, as the sandbox worker does (not as a package module)."""
    spec = importlib.util.spec_from_file_location(f"submission_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Setup:
    """A competition's data and its original model."""

    def __init__(self, competition, data, original):
        self.competition, self.data, self.original = competition, data, original

    @classmethod
    def trained(cls, name: str) -> "Setup":
        """The competition's own data and an original model trained by its recipe (once per test module)."""
        competition = load_competition(name)
        data = load_data(competition)
        return cls(competition, data, train_model(competition, data, train_on="all", seed=0, progress=False).model)

    def loaders(self, seed: int, batch_format: str = "tuple"):
        def loader(split, shuffle):
            return make_loader(split, self.competition.batch_size, shuffle=shuffle, seed=seed, batch_format=batch_format)

        return loader(self.data.retain, True), loader(self.data.forget, True), loader(self.data.val, True)

    def evaluate(self, split, net) -> float:
        return accuracy(net, make_loader(split, 256, shuffle=False))


@pytest.fixture(scope="module")
def digits() -> Setup:
    return Setup.trained("digits")


@pytest.fixture(scope="module")
def digits_class() -> Setup:
    return Setup.trained("digits-class")


def run_baseline(module: ModuleType, setup: Setup, monkeypatch, *, seed: int = 1_000_000, batch_format: str = "tuple",
                 budget: float | None = SMALL_BUDGET_S, time_basis: str = "cpu"):
    """Call `unlearn` as the sandbox worker does; return the resulting model.

    The budget is charged in CPU time by default, as a sandbox with cgroup accounting charges it:
    how much work a budget-aware baseline fits in then does not depend on what else the machine runs.
    """
    monkeypatch.setenv("UNLEARN_SEED", str(seed))
    monkeypatch.setenv("UNLEARN_NUM_CLASSES", str(setup.competition.num_classes))
    monkeypatch.setenv("UNLEARN_DEVICE", "cpu")
    monkeypatch.setenv("UNLEARN_COMPETITION", setup.competition.name)
    if budget is None:
        monkeypatch.delenv("UNLEARN_TIME_BUDGET_S", raising=False)
    else:
        monkeypatch.setenv("UNLEARN_TIME_BUDGET_S", str(budget))
    monkeypatch.setenv("UNLEARN_TIME_BASIS", time_basis)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    net = copy.deepcopy(setup.original).train()
    returned = module.unlearn(net, *setup.loaders(seed, batch_format))
    return net if returned is None else returned


def assert_valid_model(net, original) -> None:
    """What the trusted side checks before using returned weights: same keys, shapes, dtypes, all finite."""
    state, reference = net.state_dict(), original.state_dict()
    assert list(state) == list(reference)
    for key, value in state.items():
        assert value.shape == reference[key].shape and value.dtype == reference[key].dtype, key
        if value.is_floating_point():
            assert torch.isfinite(value).all(), f"{key} has NaN or inf"


def changed_parameters(net, original) -> int:
    return sum(not torch.equal(a, b) for a, b in zip(net.state_dict().values(), original.state_dict().values()))


@pytest.mark.parametrize("path", BASELINE_FILES, ids=lambda path: path.stem)
def test_baseline_files_document_their_source_and_hyperparameters(path):
    module = load_submission(path)
    assert callable(getattr(module, "unlearn", None)), f"{path.name} defines no unlearn()"
    doc = module.__doc__ or ""
    assert "Source:" in doc and "Idea:" in doc and "Hyperparameters" in doc, f"{path.name}: docstring lacks source, idea or hyperparameters"


@pytest.mark.slow
@pytest.mark.parametrize("batch_format", ["tuple", "kaggle_dict"])
@pytest.mark.parametrize("path", [p for p in BASELINE_FILES if p.stem not in CLASS_ONLY | {RETRAIN}], ids=lambda path: path.stem)
def test_baseline_returns_a_valid_changed_model_on_digits(path, batch_format, digits, monkeypatch):
    net = run_baseline(load_submission(path), digits, monkeypatch, batch_format=batch_format)
    assert_valid_model(net, digits.original)
    assert changed_parameters(net, digits.original) > 0, "the model came back unchanged"
    assert 0.0 <= digits.evaluate(digits.data.test, net) <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("probability", [0.0, 1.0], ids=["pseudo-labels", "transposed"])
def test_winner5_both_approaches_return_valid_models(probability, digits, monkeypatch):
    module = load_submission(BASELINES_DIR / "winner5_transpose.py")
    module.TRANSPOSED_PROBABILITY = probability  # each run draws one approach; force each in turn
    net = run_baseline(module, digits, monkeypatch)
    assert_valid_model(net, digits.original)
    assert changed_parameters(net, digits.original) > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CLASS_ONLY))
def test_class_baseline_returns_a_valid_model_under_a_small_budget(name, digits_class, monkeypatch):
    net = run_baseline(load_submission(BASELINES_DIR / f"{name}.py"), digits_class, monkeypatch, batch_format="kaggle_dict")
    assert_valid_model(net, digits_class.original)


@pytest.mark.slow
def test_retrain_matches_a_model_trained_without_the_forget_set(digits, monkeypatch):
    net = run_baseline(load_submission(BASELINES_DIR / f"{RETRAIN}.py"), digits, monkeypatch)
    assert_valid_model(net, digits.original)
    assert digits.evaluate(digits.data.test, net) > 0.9
    # Retrained from fresh weights: far from the original, unlike any fine-tuning of it.
    with torch.no_grad():
        distance = sum(float((a - b).abs().sum()) for a, b in zip(net.parameters(), digits.original.parameters()))
        size = sum(float(b.abs().sum()) for b in digits.original.parameters())
    assert distance > 0.5 * size


def test_retrain_explains_a_missing_competition(digits, monkeypatch):
    monkeypatch.delenv("UNLEARN_COMPETITION", raising=False)
    with pytest.raises(ConfigError, match="UNLEARN_COMPETITION"):
        load_submission(BASELINES_DIR / f"{RETRAIN}.py").unlearn(copy.deepcopy(digits.original), *digits.loaders(0))


@pytest.mark.slow
def test_svd_class_unlearning_forgets_the_digit_class(digits_class, monkeypatch):
    module = load_submission(BASELINES_DIR / "svd_class_unlearning.py")
    net = run_baseline(module, digits_class, monkeypatch, budget=None)
    assert_valid_model(net, digits_class.original)
    test = digits_class.data.test
    forgotten = digits_class.competition.forget_class("public")
    is_forgotten = test.labels == forgotten

    def subset(mask):
        return Split(test.images[mask], test.labels[mask], test.ids[mask.numpy()])

    def forget_and_retain(model):
        return (
            digits_class.evaluate(digits_class.data.forget, model),
            digits_class.evaluate(subset(is_forgotten), model),
            digits_class.evaluate(subset(~is_forgotten), model),
        )

    original_forget, original_test_forgotten, original_test_retained = forget_and_retain(digits_class.original)
    forget_acc, test_forgotten_acc, test_retained_acc = forget_and_retain(net)
    assert original_forget > 0.9 and original_test_forgotten > 0.9
    assert forget_acc < 0.1 and test_forgotten_acc < 0.1
    assert test_retained_acc > original_test_retained - 0.05


def test_svd_class_unlearning_refuses_a_forget_set_that_is_not_a_class(digits, monkeypatch):
    module = load_submission(BASELINES_DIR / "svd_class_unlearning.py")
    with pytest.raises(ValueError, match="also occur in the retain set"):
        run_baseline(module, digits, monkeypatch, budget=None)


def _synthetic_cifar_split(patterns: torch.Tensor, per_class: int, seed: int) -> Split:
    """CIFAR-shaped images (3x32x32) whose class is a smooth colour pattern plus noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(patterns)).repeat_interleave(per_class)
    images = patterns[labels] + torch.randn(len(labels), 3, 32, 32, generator=generator)
    return Split(images, labels, np.array([f"{seed}-{k}" for k in range(len(labels))]))


@pytest.mark.slow
def test_svd_class_unlearning_forgets_a_class_of_the_cifar10_class_model(monkeypatch):
    # CIFAR-10 itself cannot be read here (no archive, no download), so the data are synthetic
    # CIFAR-shaped classes; the model is the competition's own (resnet18 at 32x32), trained briefly.
    competition = load_competition("cifar10-class")
    torch.manual_seed(0)
    patterns = torch.nn.functional.interpolate(torch.randn(competition.num_classes, 3, 4, 4), size=32, mode="bilinear")
    train, val = _synthetic_cifar_split(patterns, 40, seed=1), _synthetic_cifar_split(patterns, 10, seed=2)
    original = build_model(competition.architecture, competition.num_classes, competition.in_channels)
    optimizer = torch.optim.Adam(original.parameters(), lr=1e-3)
    for _ in range(8):
        for images, labels in make_loader(train, 64, shuffle=True):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(original(images), labels).backward()
            optimizer.step()

    forgotten = competition.forget_class("public")
    is_forgotten = train.labels == forgotten
    retain, forget = (Split(train.images[mask], train.labels[mask], train.ids[mask.numpy()]) for mask in (~is_forgotten, is_forgotten))
    setup = Setup(competition, CompetitionData(retain, forget, val, val, competition.num_classes, checksum="synthetic"), original)
    net = run_baseline(load_submission(BASELINES_DIR / "svd_class_unlearning.py"), setup, monkeypatch, budget=20.0)
    assert_valid_model(net, original)

    def class_accuracies(model) -> tuple[float, float]:
        on_class = val.labels == forgotten
        return tuple(setup.evaluate(Split(val.images[mask], val.labels[mask], val.ids[mask.numpy()]), model) for mask in (on_class, ~on_class))

    original_forgotten, original_retained = class_accuracies(original)
    forgotten_acc, retained_acc = class_accuracies(net)
    assert original_forgotten > 0.5 and original_retained > 0.5
    assert forgotten_acc < 0.1
    assert retained_acc > original_retained - 0.05


@pytest.mark.slow
def test_svd_class_unlearning_tries_the_recommended_pair_even_when_the_deadline_passes(digits_class, monkeypatch):
    # The deadline passing while the original model is scored (a slow, shared machine) must not
    # end the search before its first pair, which would hand back the original model.
    module = load_submission(BASELINES_DIR / "svd_class_unlearning.py")
    measure = module.accuracy_on
    scored = []

    def slow_first_scoring(net, images, labels):
        if not scored:
            time.sleep(1.1 * float(os.environ["UNLEARN_TIME_BUDGET_S"]))
        scored.append(1)
        return measure(net, images, labels)

    monkeypatch.setattr(module, "accuracy_on", slow_first_scoring)
    # On the wall clock, where sleeping spends the budget (it costs no CPU time).
    net = run_baseline(module, digits_class, monkeypatch, budget=1.0, time_basis="wall")
    assert changed_parameters(net, digits_class.original) > 0
    assert digits_class.evaluate(digits_class.data.forget, net) < 0.5 < digits_class.evaluate(digits_class.data.forget, digits_class.original)
