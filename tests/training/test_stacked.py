"""Stacked training and evaluation (harness.training.stacked): each stacked model is trained and measured as alone."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from harness.evaluation.stacked import evaluate_models
from harness.training.stacked import stack_models, train_models
from harness.training.stacked.epoch_plan import draw_epoch, flip_and_crop_with, model_generators
from harness.training.stacked.stack import check_stacked, copy_selected_models, verify_stackable
from harness.training.stacked.train import per_model_cross_entropy
from harness.config.competition import TrainingRecipe
from harness.errors import ConfigError
from harness.evaluation.model import evaluate_model, predict_logits
from harness.training.architectures import build_model
from harness.training.trainer import flip_and_crop, train_model

torch.set_num_threads(1)

QUICK = TrainingRecipe(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4, epochs=1, batch_size=64)


def _models(architecture: str, in_channels: int, seeds, warm_inputs: torch.Tensor) -> list[nn.Module]:
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = build_model(architecture, 10, in_channels)
        model.train()(warm_inputs)  # non-trivial BatchNorm running statistics
        models.append(model)
    return models


def _max_difference(a: nn.Module, b: nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max(float((sa[k].double() - sb[k].double()).abs().max()) for k in sa)


@pytest.mark.parametrize("architecture, shape", [("small_cnn", (1, 8, 8)), ("resnet18_cifar", (3, 16, 16)), ("resnet18", (3, 32, 32))])
def test_a_stack_computes_each_models_own_logits_in_train_and_eval_mode(architecture, shape):
    models = _models(architecture, shape[0], [0, 1, 2], torch.randn(4, *shape))
    inputs = torch.randn(3, 4, *shape)  # a different batch per model
    for channels_last in (False, True):
        stacked = stack_models(models)
        if channels_last:
            stacked.use_channels_last()
        with torch.no_grad():
            evaluated = stacked.eval()(inputs)
            for k, model in enumerate(models):
                torch.testing.assert_close(evaluated[k], model.eval()(inputs[k]), rtol=1e-4, atol=1e-4)
        # Training mode: batch statistics and running-statistic updates stay per model.
        separate = [copy.deepcopy(model).train() for model in models]
        trained = stacked.train()(inputs)
        for k, model in enumerate(separate):
            torch.testing.assert_close(trained[k], model(inputs[k]), rtol=1e-4, atol=1e-4)
        for original, back in zip(separate, stacked.unstack()):
            assert _max_difference(original, back) < 1e-5  # running statistics moved alike


def test_unstack_gives_back_the_exact_weights():
    models = _models("small_cnn", 1, [5, 6], torch.randn(4, 1, 8, 8))
    for original, back in zip(models, stack_models(models).unstack()):
        assert _max_difference(original, back) == 0.0
        assert not back.training


def test_stacking_rejects_mixed_or_unsupported_architectures():
    with pytest.raises(ValueError, match="one architecture"):
        stack_models([build_model("small_cnn", 10, 1), build_model("small_cnn", 10, 3)])
    with pytest.raises(ValueError, match="at least one"):
        stack_models([])
    with pytest.raises(ConfigError, match="LayerNorm"):
        stack_models([nn.Sequential(nn.Flatten(), nn.LayerNorm(4))] * 2)


class _ChannelMixer(nn.Module):
    """A forward that reverses the channel order: legal alone, wrong across stacked models."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(self.conv(x).flip(1).mean(dim=(2, 3)))


def test_a_forward_that_mixes_channels_is_caught_before_use():
    with pytest.raises(ConfigError, match="mixes channels"):
        verify_stackable(_ChannelMixer(), torch.randn(2, 1, 8, 8))
    verify_stackable(build_model("small_cnn", 10, 1), torch.randn(2, 1, 8, 8))  # a good one passes
    models = _models("small_cnn", 1, [0, 1], torch.randn(4, 1, 8, 8))
    stacked = stack_models(models)
    with torch.no_grad():
        stacked.network.fc.weight[0] += 1.0  # model 0's classifier now differs from its original
    with pytest.raises(ConfigError):
        check_stacked(stacked, models, torch.randn(2, 1, 8, 8))


def test_copy_selected_models_replaces_only_the_selected_models_rows():
    models = _models("small_cnn", 1, [0, 1, 2], torch.randn(4, 1, 8, 8))
    target = stack_models(models).use_channels_last().network.state_dict()
    source_models = _models("small_cnn", 1, [7, 8, 9], torch.randn(4, 1, 8, 8))
    source = stack_models(source_models).network.state_dict()
    copy_selected_models(target, source, torch.tensor([False, True, False]))
    stacked = stack_models(models)
    stacked.network.load_state_dict(target)
    back = stacked.unstack()
    assert _max_difference(back[0], models[0]) == 0.0 and _max_difference(back[2], models[2]) == 0.0
    weights_only = {k: v for k, v in back[1].state_dict().items() if not k.endswith("num_batches_tracked")}
    for name, tensor in weights_only.items():
        assert torch.equal(tensor, source_models[1].state_dict()[name]), name


def test_per_model_cross_entropy_is_each_models_own_mean_loss():
    torch.manual_seed(0)
    logits, targets = torch.randn(3, 7, 5), torch.randint(0, 5, (3, 7))
    weight = torch.rand(5) + 0.1
    for w, smoothing in ((None, 0.0), (weight, 0.0), (weight, 0.2), (None, 0.1)):
        expected = torch.stack([nn.functional.cross_entropy(logits[k], targets[k], weight=w, label_smoothing=smoothing) for k in range(3)])
        torch.testing.assert_close(per_model_cross_entropy(logits, targets, w, smoothing), expected)


def test_stacked_augmentation_is_train_models_flip_and_crop_with_given_draws():
    images = torch.arange(6 * 3 * 8 * 8, dtype=torch.float32).reshape(6, 3, 8, 8)
    generator = torch.Generator().manual_seed(4)
    expected = flip_and_crop(images, generator, padding=2)
    draws = torch.Generator().manual_seed(4)  # the same draws, in flip_and_crop's order
    flip = torch.rand(6, generator=draws) < 0.5
    shift_y = torch.randint(0, 5, (6,), generator=draws)
    shift_x = torch.randint(0, 5, (6,), generator=draws)
    assert torch.equal(flip_and_crop_with(images, flip, shift_y, shift_x, padding=2), expected)


def test_each_model_draws_its_own_order_from_its_own_seed():
    device = torch.device("cpu")
    plan = draw_epoch(model_generators([3, 4, 3], device), 50, device, augment=True)
    assert torch.equal(plan.order[0], plan.order[2]) and not torch.equal(plan.order[0], plan.order[1])
    assert torch.equal(plan.order[0], torch.randperm(50, generator=torch.Generator().manual_seed(3)))  # train_model's draw
    assert plan.flip.shape == plan.shift_y.shape == (3, 50) and int(plan.shift_x.max()) <= 8


def test_one_stacked_epoch_follows_one_at_a_time_training_closely(digits_data):
    """Without augmentation a stacked model sees train_model's batches, so after one epoch it computes
    train_model's function up to rounding (channels_last kernels round differently and training
    amplifies that a little); another seed's model is far off by the same measures."""
    seeds = [3, 4, 5]
    stacked = train_models(QUICK, digits_data, seeds=seeds, architecture="small_cnn", batch_models=2, progress=False)
    assert [t.seed for t in stacked] == seeds
    for trained, seed in zip(stacked, seeds):
        alone = train_model(QUICK, digits_data, seed=seed, architecture="small_cnn", progress=False)
        ours, theirs = predict_logits(trained.model, digits_data.test), predict_logits(alone.model, digits_data.test)
        assert np.abs(ours - theirs).max() < 0.1
        assert np.mean(ours.argmax(1) == theirs.argmax(1)) > 0.95
        assert trained.history[0].train_loss == pytest.approx(alone.history[0].train_loss, rel=1e-3)
        assert trained.history[0].train_acc == pytest.approx(alone.history[0].train_acc, abs=3 / len(digits_data.retain))
        assert trained.seconds > 0 and not trained.model.training and trained.device == "cpu"
    other = predict_logits(train_model(QUICK, digits_data, seed=99, architecture="small_cnn", progress=False).model, digits_data.test)
    assert np.abs(predict_logits(stacked[0].model, digits_data.test) - other).max() > 0.3


def test_best_validation_checkpoint_weights_and_loss_options_match_one_at_a_time(digits_data):
    recipe = dataclasses.replace(QUICK, epochs=3, best_val_from_epoch=1, class_weighted=True, label_smoothing=0.1, optimizer="adam", lr=3e-3, momentum=0.0, nesterov=False)
    stacked = train_models(recipe, digits_data, seeds=[1, 2], architecture="small_cnn", progress=False)
    for trained in stacked:
        alone = train_model(recipe, digits_data, seed=trained.seed, architecture="small_cnn", progress=False)
        val = [h.val_acc for h in trained.history]
        assert val[0] is None and val[1:] == pytest.approx([h.val_acc for h in alone.history][1:], abs=2.5 / len(digits_data.val))
        assert trained.best_epoch == 1 + int(np.argmax(val[1:]))  # the first best epoch from epoch 1 on
        assert evaluate_model(trained.model, digits_data).val_acc == pytest.approx(max(val[1:]))  # its weights were kept


def test_augmented_training_runs_and_gives_each_model_its_own_weights(digits_data):
    recipe = dataclasses.replace(QUICK, augmentation="flip_crop", batch_size=256)
    first, second = train_models(recipe, digits_data, seeds=[0, 1], architecture="small_cnn", progress=False)
    assert _max_difference(first.model, second.model) > 1e-3
    again = train_models(recipe, digits_data, seeds=[0], architecture="small_cnn", progress=False)[0]
    assert _max_difference(first.model, again.model) < 1e-3  # a model depends on its seed, not on its stack-mates


def test_train_models_rejects_bad_arguments(digits_data):
    with pytest.raises(ValueError, match="empty"):
        train_models(QUICK, digits_data, seeds=[], architecture="small_cnn")
    with pytest.raises(ValueError, match="non-negative integers"):
        train_models(QUICK, digits_data, seeds=[1.5], architecture="small_cnn")
    with pytest.raises(TypeError, match="list of integers"):
        train_models(QUICK, digits_data, seeds=3, architecture="small_cnn")
    with pytest.raises(ValueError, match="batch_models"):
        train_models(QUICK, digits_data, seeds=[1], architecture="small_cnn", batch_models=0)
    with pytest.raises(ValueError, match="train_on"):
        train_models(QUICK, digits_data, seeds=[1], architecture="small_cnn", train_on="forget")


def test_stacked_evaluation_matches_evaluate_model(digits_data):
    models = _models("small_cnn", 1, [0, 1, 2], digits_data.retain.images[:64])
    stacked = evaluate_models(models, digits_data, batch_models=2)
    for model, evaluation in zip(models, stacked):
        alone = evaluate_model(model, digits_data)
        np.testing.assert_allclose(evaluation.forget_confidences, alone.forget_confidences, rtol=1e-5, atol=1e-4)
        assert evaluation.forget_confidences.dtype == np.float64
        for field in ("retain_acc", "test_acc", "forget_acc", "val_acc"):
            assert getattr(evaluation, field) == pytest.approx(getattr(alone, field)), field
    assert evaluate_models([], digits_data) == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_stacked_training_is_deterministic_with_bf16_and_channels_last(digits_data):
    recipe = dataclasses.replace(QUICK, epochs=3, augmentation="flip_crop")
    first = train_models(recipe, digits_data, seeds=[0, 1], architecture="small_cnn", device="cuda", progress=False)
    again = train_models(recipe, digits_data, seeds=[0, 1], architecture="small_cnn", device="cuda", progress=False)
    assert next(first[0].model.parameters()).is_cuda and first[0].device.startswith("cuda")
    assert _max_difference(first[0].model, again[0].model) == 0.0
    evaluations = evaluate_models([trained.model for trained in first], digits_data, device="cuda")
    alone = evaluate_model(first[1].model, digits_data, device="cuda")
    np.testing.assert_allclose(evaluations[1].forget_confidences, alone.forget_confidences, rtol=1e-3, atol=1e-2)
    assert min(evaluation.test_acc for evaluation in evaluations) > 0.5
