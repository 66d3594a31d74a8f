"""Train K models at once by a competition's recipe: one stacked network, K independent trainings.

Each model gets exactly what `harness.training.trainer.train_model` gives it: its own seed for its initial
weights (built by the same code under the same seed, so identical) and for its data order, the
same optimizer, schedule, epochs, batch size, class weights, label smoothing, augmentation and
best-validation checkpoint. They share nothing but the kernels: the loss is the sum of the K
per-model mean losses, so each model's gradient is its own loss's gradient, and every supported
optimizer (SGD, Adam, AdamW) updates each weight from that weight's own gradient and state alone.

The data lives on the training device and each model's order is drawn there once per epoch
(harness.training.stacked.epoch_plan), so a step is: slice the K orders, gather the K batches, one forward
and one backward of the stacked network, one optimizer step. The stack runs in channels_last on
every device; on CUDA under bf16 autocast, as train_model does (on CPU only when asked: bf16=True).
"""

from __future__ import annotations

import operator
import time
from typing import Sequence

import torch
import torch.nn.functional as F

from harness.training.stacked.epoch_plan import EpochPlan, draw_epoch, flip_and_crop_with, model_generators
from harness.training.stacked.inference import stacked_accuracy
from harness.training.stacked.sizes import check_batch_models
from harness.training.stacked.stack import StackedModel, copy_selected_models, stack_models, verify_stackable
from harness.config.competition import Competition, TrainingRecipe
from harness.data.splits import CompetitionData
from harness.compute.devices import resolve_device
from harness.errors import ConfigError
from harness.training.architectures import build_model
from harness.utils.progress import progress as progress_bar
from harness.training.trainer import (
    TRAIN_ON,
    EpochRecord,
    TrainedModel,
    build_optimizer,
    build_scheduler,
    loss_class_weights,
    resolve_recipe,
    training_tensors,
)

def train_models(
    competition_or_recipe: Competition | TrainingRecipe,
    data: CompetitionData,
    *,
    seeds: Sequence[int],
    train_on: str = "retain",
    device: str | torch.device = "cpu",
    progress: bool = True,
    architecture: str | None = None,
    batch_models: int | None = None,
    bf16: bool | None = None,
) -> list[TrainedModel]:
    """Train one model per seed, `batch_models` at a time in one stacked network; in the order of `seeds`.

    Arguments are those of `harness.training.trainer.train_model`, with `seeds` instead of `seed`. Model k
    is trained as train_model(..., seed=seeds[k]) would train it (statistically: not bit for bit).
    `bf16`: None runs forward passes under bf16 autocast on CUDA only, as train_model; True also on
    CPU (about twice as fast where the CPU has AVX512-BF16/AMX, at the CUDA path's precision rather
    than train_model's CPU float32: an explicit choice, off by default).
    Each TrainedModel's `seconds` is its stack's wall-clock time divided by the stack's size: the
    amortised cost of one model, not the time to retrain one model alone (time limits must keep
    using a one-at-a-time retrain, harness.pool.reference.ReferenceTiming).
    """
    recipe, architecture = resolve_recipe(competition_or_recipe, architecture)
    seeds = _check_seeds(seeds)
    if train_on not in TRAIN_ON:
        raise ValueError(f"train_on must be one of {TRAIN_ON}, got {train_on!r}")
    if recipe.best_val_from_epoch is not None and len(data.val) == 0:
        raise ConfigError("the recipe keeps the best-validation checkpoint, but the validation split is empty")
    device = resolve_device(device)
    batch_models = check_batch_models(batch_models, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False  # as train_model: autotuning by timing is not reproducible
        torch.backends.cudnn.deterministic = True

    images, labels = training_tensors(data, train_on)
    images, labels = images.to(device), labels.to(device)
    class_weights = loss_class_weights(data, device) if recipe.class_weighted else None
    verify_stackable(_initial_model(architecture, data, seed=0), data.retain.images[:2])

    trained: list[TrainedModel] = []
    groups = [seeds[start : start + batch_models] for start in range(0, len(seeds), batch_models)]
    use_bf16 = device.type == "cuda" if bf16 is None else bool(bf16)
    for number, group in enumerate(groups, start=1):
        desc = f"training {len(group)} stacked ({train_on}, group {number}/{len(groups)})"
        trained += _train_group(recipe, architecture, data, images, labels, class_weights, group, device, use_bf16, desc if progress else None)
    return trained


def _train_group(recipe, architecture, data, images, labels, class_weights, seeds, device, bf16, desc) -> list[TrainedModel]:
    on_cuda = device.type == "cuda"
    start = time.perf_counter()
    # channels_last on every device: grouped convolutions are much faster in it on CPU as well.
    stacked = stack_models([_initial_model(architecture, data, seed) for seed in seeds]).to(device).use_channels_last()
    optimizer = build_optimizer(recipe, stacked)
    scheduler = build_scheduler(recipe, optimizer)
    generators = model_generators(seeds, device)
    val_images = data.val.images.to(device)
    val_labels = data.val.labels.to(device)

    n_models = len(seeds)
    histories: list[list[EpochRecord]] = [[] for _ in seeds]
    best_acc = torch.full((n_models,), -1.0, dtype=torch.float64, device=device)
    best_epoch = torch.full((n_models,), -1, dtype=torch.long, device=device)
    best_state: dict[str, torch.Tensor] | None = None
    epochs = range(recipe.epochs)
    for epoch in progress_bar(epochs, desc=desc, unit="epoch") if desc else epochs:
        lr = optimizer.param_groups[0]["lr"]
        plan = draw_epoch(generators, len(labels), device, augment=recipe.augmentation == "flip_crop")
        loss, acc = _train_one_epoch(stacked, optimizer, images, labels, plan, recipe, class_weights, bf16)
        if scheduler is not None:
            scheduler.step()
        val_acc = None
        if recipe.best_val_from_epoch is not None and epoch >= recipe.best_val_from_epoch:
            # Best among epochs >= K, per model, exactly as train_model decides it (ties keep the earlier).
            val_acc = stacked_accuracy(stacked, val_images, val_labels, autocast=bf16)
            improved = val_acc > best_acc
            state = stacked.network.state_dict()
            if best_state is None:
                best_state = {name: tensor.detach().clone() for name, tensor in state.items()}
            else:
                copy_selected_models(best_state, state, improved)
            best_acc = torch.where(improved, val_acc, best_acc)
            best_epoch = torch.where(improved, torch.full_like(best_epoch, epoch), best_epoch)
        # One host sync per epoch for all models' records.
        values = torch.stack([loss.double(), acc, val_acc if val_acc is not None else torch.zeros_like(acc)]).tolist()
        for index, history in enumerate(histories):
            history.append(EpochRecord(epoch, lr, values[0][index], values[1][index], values[2][index] if val_acc is not None else None))
    if best_state is not None:
        stacked.network.load_state_dict(best_state)
    models = [model.to(device) for model in stacked.unstack()]
    if on_cuda:
        torch.cuda.synchronize(device)
    seconds = (time.perf_counter() - start) / n_models
    kept = best_epoch.tolist() if best_state is not None else [None] * n_models
    return [
        TrainedModel(model=model, seconds=seconds, history=history, best_epoch=epoch_kept, seed=seed, device=str(device), threads=torch.get_num_threads())
        for model, history, epoch_kept, seed in zip(models, histories, kept, seeds)
    ]


def _initial_model(architecture: str, data: CompetitionData, seed: int) -> torch.nn.Module:
    """The initial weights train_model starts from for `seed` (same construction, same seed)."""
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone, as train_model
        torch.manual_seed(seed)
        return build_model(architecture, data.num_classes, data.in_channels)


def _train_one_epoch(stacked: StackedModel, optimizer, images, labels, plan: EpochPlan, recipe: TrainingRecipe, class_weights, bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One epoch of every model; per-model mean batch loss and training accuracy, as tensors [K] on the device."""
    stacked.train()
    n_models, n_examples = plan.order.shape
    total_loss = torch.zeros(n_models, device=images.device)
    correct = torch.zeros(n_models, dtype=torch.long, device=images.device)
    batches = 0
    for start in range(0, n_examples, recipe.batch_size):
        positions = slice(start, start + recipe.batch_size)
        index = plan.order[:, positions]  # [K, b]
        if index.shape[1] < 2:
            continue  # BatchNorm cannot train on a single example (train_model skips it too)
        inputs, targets = images[index], labels[index]  # [K, b, C, H, W], [K, b]
        if plan.augmented:
            flat = flip_and_crop_with(inputs.flatten(0, 1), plan.flip[:, positions].flatten(), plan.shift_y[:, positions].flatten(), plan.shift_x[:, positions].flatten())
            inputs = flat.view(inputs.shape)
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = stacked(inputs)  # [K, b, classes]
        losses = per_model_cross_entropy(logits.float(), targets, class_weights, recipe.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        optimizer.step()
        total_loss += losses.detach()
        correct += (logits.argmax(-1) == targets).sum(1)
        batches += 1
    return total_loss / max(batches, 1), correct.double() / max(n_examples, 1)


def per_model_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None, label_smoothing: float = 0.0) -> torch.Tensor:
    """[K] losses: F.cross_entropy(logits[k], targets[k], weight, label_smoothing) for each model k.

    logits [K, b, classes], targets [K, b]. With class weights, PyTorch's mean divides by the sum of
    the targets' weights (label smoothing included), so that is what each model's mean divides by.
    """
    n_models, batch, classes = logits.shape
    per_example = F.cross_entropy(logits.reshape(-1, classes), targets.reshape(-1), weight=weight, label_smoothing=label_smoothing, reduction="none")
    totals = per_example.view(n_models, batch).sum(1)
    if weight is None:
        return totals / batch
    return totals / weight[targets].sum(1)


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    if isinstance(seeds, (int, str)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be a list of integers (one per model), got {seeds!r}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty: pass one seed per model to train")
    checked = []
    for seed in seeds:
        try:
            value = operator.index(seed)  # ints and NumPy integers, not floats or bools
        except TypeError:
            value = None
        if value is None or isinstance(seed, bool) or value < 0:
            raise ValueError(f"seeds must be non-negative integers, got {seed!r}")
        checked.append(value)
    return checked
