"""Batches in either competition format, devices, class counts and predictions."""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader

# Competitions with batch_format = "kaggle_dict" (digits-kaggle, surf) hand out the 2023 Kaggle
# notebooks' dict batches: image, image_id, age_group (the label), age, person_id.
from harness.config.batch_formats import IMAGE_KEY as DICT_IMAGE_KEY, LABEL_KEY as DICT_LABEL_KEY
from harness.kit.environment import RunEnvironment, read_environment
from harness.kit.layers import last_layer


def unpack_batch(batch, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) from an `(images, labels)` tuple or a 2023 dict batch (its "image" and "age_group")."""
    if isinstance(batch, Mapping):
        missing = [key for key in (DICT_IMAGE_KEY, DICT_LABEL_KEY) if key not in batch]
        if missing:
            raise ValueError(
                f"dict batch lacks {', '.join(map(repr, missing))}; expected keys {DICT_IMAGE_KEY!r} and "
                f"{DICT_LABEL_KEY!r}, got {sorted(map(str, batch))}"
            )
        images, labels = batch[DICT_IMAGE_KEY], batch[DICT_LABEL_KEY]
    elif isinstance(batch, (tuple, list)) and len(batch) >= 2:
        images, labels = batch[0], batch[1]
    else:
        raise TypeError(
            f"a batch must be an (images, labels) tuple or a dict with {DICT_IMAGE_KEY!r} and {DICT_LABEL_KEY!r}; "
            f"got {type(batch).__name__}"
        )
    if device is not None:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
    return images, labels


def batches(loader: DataLoader, device: torch.device | str | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Iterate a loader as (images, labels) pairs on `device`, whatever its batch format."""
    for batch in loader:
        yield unpack_batch(batch, device)


def endless_batches(
    loader: DataLoader, device: torch.device | str | None = None, *, min_batch_size: int = 2
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Cycle through a loader forever (reshuffled each pass if it shuffles), for training.

    Batches smaller than `min_batch_size` are skipped: a batch-norm layer in training mode fails on
    a single example once its feature maps are 1x1 (resnet18's last stage on 32x32 inputs).
    """
    while True:
        yielded = False
        for images, labels in batches(loader, device):
            if len(labels) >= min_batch_size:
                yielded = True
                yield images, labels
        if not yielded:
            raise ValueError(f"the loader has no batch of at least {min_batch_size} examples to train on")


def model_device(net: nn.Module) -> torch.device:
    """The device of the model's parameters (the run's device), falling back to UNLEARN_DEVICE, then CPU."""
    for parameter in net.parameters():
        return parameter.device
    return torch.device(read_environment().device or "cpu")


def num_classes(net: nn.Module, environment: RunEnvironment | None = None) -> int:
    """UNLEARN_NUM_CLASSES when set, else the output width of the model's last linear layer."""
    environment = read_environment() if environment is None else environment
    if environment.num_classes is not None:
        return environment.num_classes
    return last_layer(net)[1].out_features


def rebatch(loader: DataLoader, batch_size: int, *, shuffle: bool = True) -> DataLoader:
    """The same examples and batch format with another batch size (shuffled from torch's seeded RNG)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return DataLoader(loader.dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=loader.collate_fn)


def collect(loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) of every example of a loader, in its order, on the CPU (for small sets such as forget)."""
    pairs = [(images.cpu(), labels.cpu()) for images, labels in batches(loader)]
    if not pairs:
        raise ValueError("cannot collect an empty loader")
    return torch.cat([images for images, _ in pairs]), torch.cat([labels for _, labels in pairs])


def labels_of(loader: DataLoader) -> torch.Tensor:
    """All labels of a loader, in its order, on the CPU."""
    collected = [labels.cpu() for _, labels in batches(loader)]
    return torch.cat(collected) if collected else torch.empty(0, dtype=torch.long)


def class_counts(loader: DataLoader, classes: int) -> torch.Tensor:
    """Examples per class (float64, length `classes`); a label outside [0, classes) is an error."""
    labels = labels_of(loader)
    if labels.numel() and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must lie in [0, {classes}), got values in [{labels.min()}, {labels.max()}]")
    return torch.bincount(labels, minlength=classes).to(torch.float64)


@contextmanager
def evaluation_mode(net: nn.Module):
    """Run `net` in eval mode without gradients, then restore its previous train/eval mode."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            yield net
    finally:
        net.train(was_training)


def predict(net: nn.Module, loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) of every example in loader order, in eval mode, on the model's device."""
    device = model_device(net)
    all_logits, all_labels = [], []
    with evaluation_mode(net):
        for images, labels in batches(loader, device):
            all_logits.append(net(images))
            all_labels.append(labels)
    if not all_logits:
        raise ValueError("cannot predict on an empty loader")
    return torch.cat(all_logits), torch.cat(all_labels)


def accuracy(net: nn.Module, loader: DataLoader) -> float:
    """Fraction of the loader's examples that `net` classifies correctly (eval mode)."""
    logits, labels = predict(net, loader)
    return float((logits.argmax(dim=1) == labels).float().mean())


def frozen_copy(net: nn.Module) -> nn.Module:
    """A copy of `net` in eval mode with gradients off: a teacher or a reference of the original model."""
    teacher = copy.deepcopy(net).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher
