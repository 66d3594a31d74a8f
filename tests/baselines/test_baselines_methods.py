"""The building blocks of the baselines do what their docstrings say (fast checks, no training)."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch
from torch import nn

from harness.data import Split, make_loader
from harness.training.architectures import build_model
from baselines import BASELINES_DIR

torch.set_num_threads(1)



def baseline(name: str):
    spec = importlib.util.spec_from_file_location(f"method_{name}", BASELINES_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_random_labels_are_always_wrong_and_cover_the_other_classes():
    torch.manual_seed(0)
    labels = torch.full((5000,), 3)
    wrong = baseline("random_labels").wrong_labels(labels, 10)
    assert not (wrong == labels).any()
    assert sorted(wrong.unique().tolist()) == [0, 1, 2, 4, 5, 6, 7, 8, 9]


def test_winner1_losses():
    module = baseline("winner1_kl_adversarial")
    assert float(module.kl_to_uniform(torch.zeros(4, 10))) == pytest.approx(0.0, abs=1e-6)
    assert float(module.kl_to_uniform(torch.tensor([[5.0, 0.0, 0.0]]))) > 1.0
    # Forget logits equally similar to every retain row: the loss is at its minimum, log(batch).
    retain = torch.eye(4)
    assert float(module.contrastive_forget_loss(torch.ones(3, 4), retain)) == pytest.approx(math.log(4))
    assert float(module.contrastive_forget_loss(torch.eye(4)[:3], retain)) > math.log(4)


def test_winner2_reinitialises_the_largest_gradient_weights_of_each_convolution():
    module = baseline("winner2_reinit_grad")
    torch.manual_seed(0)
    net = build_model("small_cnn", 10, 1)
    for conv in (layer for layer in net.modules() if isinstance(layer, nn.Conv2d)):
        conv.weight.grad = torch.arange(conv.weight.numel(), dtype=torch.float32).view_as(conv.weight)
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    chosen = module.reinitialise_largest_gradients(net)
    assert len(chosen) == 3
    for weight, mask in chosen:
        count = int(module.REINIT_FRACTION * weight.numel())
        assert int(mask.sum()) == count
        assert mask.flatten()[-count:].all()  # the largest gradients are the last positions here
    changed = {name for name, p in net.named_parameters() if not torch.equal(p, before[name])}
    assert changed == {"features.0.weight", "features.3.weight", "features.7.weight"}
    assert all(p.grad is None for p in net.parameters())


def test_winner4_keeps_only_the_largest_weights_of_each_layer():
    module = baseline("winner4_prune")
    torch.manual_seed(0)
    net = build_model("small_cnn", 10, 1)
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    module.prune_and_reinitialise(net)
    weight, original = net.fc.weight, before["fc.weight"]
    kept = weight == original
    assert int(kept.sum()) == weight.numel() - int(module.PRUNE_FRACTION * weight.numel())
    assert original.abs()[kept].min() >= original.abs()[~kept].max()
    assert int((net.fc.bias == 0).sum()) == int(module.PRUNE_FRACTION * net.fc.bias.numel())
    assert torch.equal(net.features[1].weight, before["features.1.weight"])  # batch norm kept


def test_winner5_transposes_square_kernels_only():
    module = baseline("winner5_transpose")
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, (1, 3)))
    square, oblong = net[0].weight.detach().clone(), net[1].weight.detach().clone()
    module.transpose_kernels(net)
    assert torch.equal(net[0].weight, square.transpose(2, 3)) and torch.equal(net[1].weight, oblong)


def test_winner5_pseudo_labels_follow_the_two_rules():
    module = baseline("winner5_transpose")
    labels = torch.tensor([0, 0, 1, 2])
    big = 20.0
    original = torch.tensor([[big, 0, 0], [big, 0, 0], [0, big, 0], [0, 0, big]])
    finetuned = torch.tensor([[0, big, 0], [big, 0, 0], [0, big, 0], [0, 0, big]])  # example 0 moved
    scratch = torch.tensor([[0, 0, big], [0, 0, 1.0], [big, 0, 0], [0, 0, big]])  # 2 is confident and wrong
    chosen, new_labels = module.pseudo_labels(original, finetuned, scratch, labels)
    assert chosen.tolist() == [True, False, True, False]
    assert new_labels[chosen].tolist() == [1, 0]  # rule 1 takes precedence for example 0


@pytest.mark.parametrize("architecture, channels, expected", [("small_cnn", 1, 3), ("resnet18", 3, 9)])
def test_winner7_adds_noise_to_at_most_nine_layers_never_the_classifier(architecture, channels, expected):
    module = baseline("winner7_noise")
    torch.manual_seed(0)
    net = build_model(architecture, 10, channels)
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    names = module.add_noise_to_random_layers(net)
    assert len(names) == expected and "fc" not in names
    changed = {name.rsplit(".", 1)[0] for name, p in net.named_parameters() if not torch.equal(p, before[name])}
    assert changed == set(names)


def test_winner8_leaves_classifier_and_projection_shortcuts_alone():
    module = baseline("winner8_reinit_mse")
    net = build_model("resnet18", 10, 3)
    eligible = module.eligible_layers(net)
    assert len(eligible) == 17  # 20 convolutions less the 3 downsampling shortcuts
    assert all(conv.kernel_size != (1, 1) for conv in eligible)
    torch.manual_seed(0)
    before = net.layer1[0].conv1.weight.detach().clone()
    shortcut = net.layer2[0].downsample[0].weight.detach().clone()
    module.reinitialise_random_weights(net)
    changed = float((net.layer1[0].conv1.weight != before).float().mean())
    assert changed == pytest.approx(module.SELECTION_FRACTION, abs=0.02)
    assert torch.equal(net.layer2[0].downsample[0].weight, shortcut)


def test_svd_importance_scaling():
    module = baseline("svd_class_unlearning")
    share = torch.tensor([0.5, 0.3, 0.2])
    assert torch.allclose(module.importance(share, 1.0), share)
    assert bool((module.importance(share, 1e6) > 0.999).all())
    assert bool((module.importance(share, 3.0) > share).all())


def test_svd_projection_removes_forget_only_directions_and_restores():
    module = baseline("svd_class_unlearning")
    torch.manual_seed(0)
    layer = nn.Linear(3, 2, bias=False)
    net = nn.Sequential(layer)
    # Retain activations live on axis 0; forget activations on axis 1 (plus a little of axis 0).
    retain = torch.zeros(200, 3)
    retain[:, 0] = torch.randn(200)
    forget = torch.zeros(200, 3)
    forget[:, 1] = torch.randn(200)
    forget[:, 0] = 0.1 * torch.randn(200)
    spaces = module.layer_spaces(net, retain, forget)
    projector = module.Projector(spaces)
    original = layer.weight.detach().clone()
    projector.apply(100.0, 1000.0)
    assert torch.allclose(layer.weight[:, 1], torch.zeros(2), atol=0.02)  # the forget-only direction is gone
    assert torch.allclose(layer.weight[:, 0], original[:, 0], atol=0.05)  # the shared one is kept
    projector.restore()
    assert torch.equal(layer.weight, original)


def test_svd_samples_classes_evenly_and_refuses_a_forget_set_that_is_not_a_class():
    module = baseline("svd_class_unlearning")
    labels = torch.tensor([0, 1, 2, 0, 1, 0, 0])
    loader = make_loader(Split(torch.arange(7.0).view(7, 1, 1, 1), labels, np.arange(7).astype(str)), 2, shuffle=False)
    images, sampled_labels, seen = module.class_balanced_sample(loader, [0, 1], 4)
    assert sampled_labels.tolist() == [0, 0, 1, 1] and images.flatten().tolist() == [0.0, 3.0, 1.0, 4.0]
    assert seen == {0, 1, 2}
    module.check_whole_classes([3], seen)
    with pytest.raises(ValueError, match=r"classes \[1\] also occur"):
        module.check_whole_classes([1, 3], seen)
    with pytest.raises(ValueError, match="forget set is empty"):
        module.check_whole_classes([], seen)
