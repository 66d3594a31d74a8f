"""Training, evaluation and model compatibility: deterministic, by the recipe, and 2023-checkpoint compatible."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch

from harness.config import TrainingRecipe, load_competition
from harness.data import load_data
from harness.evaluation.model import evaluate_model, predict_logits
from harness.training.architectures import build_model
from harness.training.trainer import flip_and_crop, loss_class_weights, train_model
from scoring.confidence import logit_scaled_confidence

torch.set_num_threads(1)

QUICK = TrainingRecipe(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4, epochs=2, batch_size=64)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_same_seed_gives_bit_identical_weights_and_other_seeds_do_not(digits_data):
    first = train_model(QUICK, digits_data, seed=3, architecture="small_cnn", progress=False)
    again = train_model(QUICK, digits_data, seed=3, architecture="small_cnn", progress=False)
    other = train_model(QUICK, digits_data, seed=4, architecture="small_cnn", progress=False)
    assert _same_weights(first.model, again.model)
    assert not _same_weights(first.model, other.model)
    assert [h.train_loss for h in first.history] == [h.train_loss for h in again.history]


def test_augmentation_label_smoothing_adamw_and_a_constant_schedule_are_deterministic_too(digits_data):
    recipe = dataclasses.replace(
        QUICK, optimizer="adamw", lr=2e-3, momentum=0.0, nesterov=False, schedule="constant",
        augmentation="flip_crop", label_smoothing=0.1, epochs=2,
    )
    first = train_model(recipe, digits_data, seed=7, architecture="small_cnn", progress=False)
    again = train_model(recipe, digits_data, seed=7, architecture="small_cnn", progress=False)
    assert _same_weights(first.model, again.model)
    assert [h.lr for h in first.history] == [recipe.lr, recipe.lr]
    plain = train_model(dataclasses.replace(recipe, augmentation="none"), digits_data, seed=7, architecture="small_cnn", progress=False)
    assert not _same_weights(first.model, plain.model)


def test_training_leaves_the_callers_random_state_alone(digits_data):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_model(QUICK, digits_data, seed=0, architecture="small_cnn", progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_the_digits_recipe_beats_95_percent_test_accuracy(digits_data):
    competition = load_competition("digits")
    trained = train_model(competition, digits_data, train_on="all", seed=0, progress=False)
    evaluation = evaluate_model(trained.model, digits_data)
    assert evaluation.test_acc > 0.95
    assert len(trained.history) == competition.recipe.epochs and trained.seconds > 0
    assert trained.history[0].lr == competition.recipe.lr
    assert trained.history[-1].lr < trained.history[0].lr  # cosine schedule, stepped per epoch
    assert not trained.model.training


def test_train_on_retain_never_sees_the_forget_set(digits_data, monkeypatch):
    import harness.training.trainer as training

    seen = []
    original = training._train_one_epoch
    monkeypatch.setattr(training, "_train_one_epoch", lambda model, optimizer, images, *rest: seen.append(len(images)) or original(model, optimizer, images, *rest))
    train_model(QUICK, digits_data, train_on="retain", seed=0, architecture="small_cnn", progress=False)
    train_model(QUICK, digits_data, train_on="all", seed=0, architecture="small_cnn", progress=False)
    assert seen == [len(digits_data.retain)] * 2 + [len(digits_data.retain) + len(digits_data.forget)] * 2


def test_best_validation_checkpoint_is_kept_from_epoch_k(digits_data):
    recipe = dataclasses.replace(QUICK, epochs=4, best_val_from_epoch=2, class_weighted=True, optimizer="adam", lr=3e-3, momentum=0.0, nesterov=False)
    trained = train_model(recipe, digits_data, seed=1, architecture="small_cnn", progress=False)
    val = [h.val_acc for h in trained.history]
    assert val[:2] == [None, None] and all(v is not None for v in val[2:])
    assert trained.best_epoch == 2 + int(np.argmax(val[2:]))
    kept = evaluate_model(trained.model, digits_data).val_acc
    assert kept == pytest.approx(max(val[2:]))


def test_class_weights_are_inverse_counts_over_the_training_split(digits_data):
    weights = loss_class_weights(digits_data, torch.device("cpu"))
    labels = torch.cat([digits_data.retain.labels, digits_data.forget.labels])
    assert torch.allclose(weights, 1.0 / torch.bincount(labels, minlength=10).float())


def test_class_weights_of_a_missing_class_are_one():
    data = load_data("digits-class", "public")
    empty = dataclasses.replace(data, forget=dataclasses.replace(data.forget, images=data.forget.images[:0], labels=data.forget.labels[:0], ids=data.forget.ids[:0]))
    assert loss_class_weights(empty, torch.device("cpu"))[3] == 1.0


def test_flip_and_crop_shifts_within_the_padding_and_is_seeded():
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) + 1
    first = flip_and_crop(images, torch.Generator().manual_seed(0), padding=2)
    assert torch.equal(first, flip_and_crop(images, torch.Generator().manual_seed(0), padding=2))
    assert first.shape == images.shape
    for augmented, original in zip(first, images):
        # Each output is a (possibly flipped) translate of its input, zero-filled at the border.
        candidates = [original, original.flip(2)]
        assert any(_is_translate(augmented, c, 2) for c in candidates)


def _is_translate(out: torch.Tensor, src: torch.Tensor, padding: int) -> bool:
    padded = torch.nn.functional.pad(src, (padding,) * 4)
    size = src.shape[-1]
    return any(torch.equal(out, padded[:, dy : dy + size, dx : dx + size]) for dy in range(2 * padding + 1) for dx in range(2 * padding + 1))


def test_a_bare_recipe_needs_an_architecture(digits_data):
    with pytest.raises(ValueError, match="needs architecture"):
        train_model(QUICK, digits_data, seed=0)
    with pytest.raises(ValueError, match="train_on"):
        train_model(QUICK, digits_data, seed=0, architecture="small_cnn", train_on="forget")


def test_evaluation_uses_the_official_confidence_on_the_forget_set_in_order(digits_data):
    torch.manual_seed(0)
    model = build_model("small_cnn", 10, 1)
    evaluation = evaluate_model(model, digits_data)
    logits = predict_logits(model, digits_data.forget)
    assert evaluation.forget_confidences.dtype == np.float64 and evaluation.forget_confidences.shape == (len(digits_data.forget),)
    np.testing.assert_array_equal(evaluation.forget_confidences, logit_scaled_confidence(logits, digits_data.forget.labels.numpy()))
    assert evaluation.forget_acc == pytest.approx(float(np.mean(logits.argmax(1) == digits_data.forget.labels.numpy())))
    for value in (evaluation.retain_acc, evaluation.test_acc, evaluation.forget_acc, evaluation.val_acc):
        assert 0.0 <= value <= 1.0


def test_a_2023_original_model_checkpoint_loads_into_resnet18():
    from torchvision.models import resnet18

    buffer = io.BytesIO()
    torch.save(resnet18(weights=None, num_classes=10).state_dict(), buffer)  # what original_model.pth is
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    build_model("resnet18", 10).load_state_dict(state, strict=True)
    cifar_keys = build_model("resnet18_cifar", 10).state_dict().keys()
    assert list(cifar_keys) == list(state.keys())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_is_deterministic_with_bf16_and_channels_last(digits_data):
    first = train_model(QUICK, digits_data, seed=2, architecture="small_cnn", device="cuda", progress=False)
    again = train_model(QUICK, digits_data, seed=2, architecture="small_cnn", device="cuda", progress=False)
    assert next(first.model.parameters()).is_cuda
    assert _same_weights(first.model, again.model)
    assert evaluate_model(first.model, digits_data, device="cuda").test_acc > 0.5
