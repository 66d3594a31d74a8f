"""Train one model from scratch by a competition's recipe: the original model and every retrained one.

Deterministic per seed: the seed fixes the initial weights, the data order and the augmentation, so
the same seed on the same device (and torch thread count) gives bit-identical weights. On CUDA the
loop runs under bf16 autocast with channels_last tensors; on CPU in float32.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from harness.config.competition import Competition, TrainingRecipe
from harness.data.splits import CompetitionData
from harness.compute.devices import resolve_device
from harness.errors import ConfigError
from harness.training.architectures import build_model
from harness.utils.progress import progress as progress_bar

TRAIN_ON = ("retain", "all")
CROP_PADDING = 4


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 0-based
    lr: float  # the learning rate used during this epoch
    train_loss: float  # mean over the epoch's batches
    train_acc: float  # on the batches as trained (augmented), fraction
    val_acc: float | None  # only on epochs where the recipe picks a best-validation checkpoint


@dataclass
class TrainedModel:
    """A trained model (in eval mode, on the training device) and how it was trained."""

    model: nn.Module
    seconds: float  # wall-clock training time, model construction to final weights
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int | None = None  # the epoch whose weights were kept, when the recipe picks one
    seed: int = 0
    device: str = "cpu"
    threads: int = 1


def train_model(
    competition_or_recipe: Competition | TrainingRecipe,
    data: CompetitionData,
    *,
    train_on: str = "retain",
    seed: int,
    device: str | torch.device = "cpu",
    progress: bool = True,
    architecture: str | None = None,
) -> TrainedModel:
    """Train a fresh model on `data.retain` (train_on="retain") or retain + forget (train_on="all").

    `competition_or_recipe` is a Competition (its architecture and recipe are used) or a bare
    TrainingRecipe, which then needs `architecture`. Validation data is used only when the recipe
    keeps the best-validation checkpoint.
    """
    recipe, architecture = resolve_recipe(competition_or_recipe, architecture)
    if train_on not in TRAIN_ON:
        raise ValueError(f"train_on must be one of {TRAIN_ON}, got {train_on!r}")
    if recipe.best_val_from_epoch is not None and len(data.val) == 0:
        raise ConfigError("the recipe keeps the best-validation checkpoint, but the validation split is empty")
    device = resolve_device(device)
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.backends.cudnn.benchmark = False  # autotuning picks kernels by timing: not reproducible
        torch.backends.cudnn.deterministic = True

    images, labels = training_tensors(data, train_on)
    memory_format = torch.channels_last if on_cuda else torch.contiguous_format
    images = images.to(device).contiguous(memory_format=memory_format)
    labels = labels.to(device)
    class_weights = loss_class_weights(data, device) if recipe.class_weighted else None

    start = time.perf_counter()
    # fork_rng: seeding the initialisation must not reset the caller's global random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(architecture, data.num_classes, data.in_channels)
    model = model.to(device=device, memory_format=memory_format)
    optimizer = build_optimizer(recipe, model)
    scheduler = build_scheduler(recipe, optimizer)
    generator = torch.Generator().manual_seed(seed)  # data order and augmentation

    history: list[EpochRecord] = []
    best_acc, best_epoch, best_state = -1.0, None, None
    epochs = range(recipe.epochs)
    for epoch in progress_bar(epochs, desc=f"training ({train_on}, seed {seed})", unit="epoch") if progress else epochs:
        lr = optimizer.param_groups[0]["lr"]
        loss, acc = _train_one_epoch(model, optimizer, images, labels, recipe, class_weights, generator, on_cuda)
        if scheduler is not None:
            scheduler.step()
        val_acc = None
        if recipe.best_val_from_epoch is not None and epoch >= recipe.best_val_from_epoch:
            # Best among epochs >= K only. (The 2023 reference code also carried its running best
            # from earlier epochs, so it could keep no checkpoint at all; "best from epoch K on" is
            # the rule the challenge states.)
            val_acc = _accuracy(model, data.val.images, data.val.labels, device, on_cuda)
            if val_acc > best_acc:
                best_acc, best_epoch = val_acc, epoch
                best_state = copy.deepcopy(model.state_dict())
        history.append(EpochRecord(epoch, lr, loss, acc, val_acc))
    if best_state is not None:
        model.load_state_dict(best_state)
    model = model.to(memory_format=torch.contiguous_format).eval()
    if on_cuda:
        torch.cuda.synchronize(device)
    return TrainedModel(
        model=model,
        seconds=time.perf_counter() - start,
        history=history,
        best_epoch=best_epoch,
        seed=seed,
        device=str(device),
        threads=torch.get_num_threads(),
    )


def resolve_recipe(source: Competition | TrainingRecipe, architecture: str | None) -> tuple[TrainingRecipe, str]:
    if isinstance(source, Competition):
        if architecture is not None and architecture != source.architecture:
            raise ValueError(f"competition {source.name!r} trains {source.architecture!r}; do not pass architecture={architecture!r}")
        return source.recipe, source.architecture
    if isinstance(source, TrainingRecipe):
        if architecture is None:
            raise ValueError("train_model(recipe, ...) needs architecture=...; or pass the Competition")
        return source, architecture
    raise TypeError(f"expected a Competition or TrainingRecipe, got {type(source).__name__}")


def training_tensors(data: CompetitionData, train_on: str) -> tuple[torch.Tensor, torch.Tensor]:
    if train_on == "retain":
        return data.retain.images, data.retain.labels
    return torch.cat([data.retain.images, data.forget.images]), torch.cat([data.retain.labels, data.forget.labels])


def loss_class_weights(data: CompetitionData, device: torch.device) -> torch.Tensor:
    """1 / class count over the whole training split (retain + forget), as the 2023 recipe; 1 for absent classes.

    Retrained models use the same weights as the original: the reference code computes them once
    from the training split.
    """
    labels = torch.cat([data.retain.labels, data.forget.labels])
    counts = torch.bincount(labels, minlength=data.num_classes).to(torch.float32)
    weights = torch.where(counts > 0, 1.0 / counts.clamp(min=1), torch.ones_like(counts))
    return weights.to(device)


def build_optimizer(recipe: TrainingRecipe, model: nn.Module) -> torch.optim.Optimizer:
    parameters = model.parameters()
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            parameters, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov, weight_decay=recipe.weight_decay
        )
    if recipe.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.AdamW(parameters, lr=recipe.lr, weight_decay=recipe.weight_decay)


def build_scheduler(recipe: TrainingRecipe, optimizer: torch.optim.Optimizer):
    if recipe.schedule == "constant":
        return None
    # Stepped once per epoch, as the 2023 reference code does.
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.schedule_t_max or recipe.epochs)


def _train_one_epoch(model, optimizer, images, labels, recipe, class_weights, generator, on_cuda) -> tuple[float, float]:
    model.train()
    order = torch.randperm(len(labels), generator=generator).to(images.device)
    total_loss, correct, batches = 0.0, 0, 0
    for start in range(0, len(order), recipe.batch_size):
        index = order[start : start + recipe.batch_size]
        if len(index) < 2:
            continue  # BatchNorm cannot train on a single example
        inputs, targets = images[index], labels[index]
        if recipe.augmentation == "flip_crop":
            inputs = flip_and_crop(inputs, generator)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_cuda):
            logits = model(inputs)
        loss = F.cross_entropy(logits.float(), targets, weight=class_weights, label_smoothing=recipe.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.detach()
        correct += (logits.argmax(1) == targets).sum()
        batches += 1
    # One host sync per epoch instead of one per batch.
    return float(total_loss) / max(batches, 1), float(correct) / max(len(labels), 1)


def flip_and_crop(images: torch.Tensor, generator: torch.Generator, padding: int = CROP_PADDING) -> torch.Tensor:
    """Random horizontal flips and random crops after zero-padding by `padding` pixels, per example."""
    n, channels, height, width = images.shape
    flip = torch.rand(n, generator=generator) < 0.5
    shift_y = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    shift_x = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    device = images.device
    images = torch.where(flip.to(device).view(n, 1, 1, 1), images.flip(3), images)
    padded = F.pad(images, (padding, padding, padding, padding))
    rows = (shift_y.view(n, 1) + torch.arange(height)).to(device)
    cols = (shift_x.view(n, 1) + torch.arange(width)).to(device)
    batch = torch.arange(n, device=device).view(n, 1, 1, 1)
    channel = torch.arange(channels, device=device).view(1, channels, 1, 1)
    return padded[batch, channel, rows.view(n, 1, height, 1), cols.view(n, 1, 1, width)]


@torch.no_grad()
def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device, on_cuda: bool, batch_size: int = 1024) -> float:
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(labels), batch_size):
        inputs = images[start : start + batch_size].to(device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_cuda):
            correct += int((model(inputs).argmax(1) == labels[start : start + batch_size].to(device)).sum())
    model.train(was_training)
    return correct / max(len(labels), 1)
