"""Helpers for writing an unlearning submission: `unlearn(net, retain, forget, val)`.

Everything here runs inside the sandbox next to participant code, so it needs only torch and the
harness's progress bars (never the trusted side of the harness). It covers what every submission needs:

- the run's environment (`read_environment`): seed, time budget and its clock, number of classes, device;
- batches in either competition format (`unpack_batch`), devices, class counts, predictions;
- the time budget (`Deadline`): the supervisor rejects a submission whose runs are slower than
  UNLEARN_TIME_BUDGET_S on the clock UNLEARN_TIME_BASIS names (CPU or wall time), so
  budget-aware methods plan their work inside a share of it, on that clock;
- layers found generically (`first_layer`, `last_layer`, `conv_layers`) and re-initialisation;
- learning-rate schedules as functions of training progress, and one readable training loop
  (`train`) that follows a schedule and stops at a deadline.

A minimal budget-aware fine-tuning submission:

    import torch
    from harness.submission_kit import Deadline, classification_loss, cosine, train

    def unlearn(net, retain, forget, val):
        deadline = Deadline.from_environment()  # unlimited when UNLEARN_TIME_BUDGET_S is absent
        optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
        train(net, retain, classification_loss(net), optimizer, epochs=5, schedule=cosine, deadline=deadline)
        return net
"""

from __future__ import annotations

import copy
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from harness.progress import progress as progress_bar

# torch imports its compiler stack the first time an optimizer is built (about 2 s on a CPU).
# Paying that when the kit is imported keeps it out of the first run's deadline, which would
# otherwise expire before the first training step on a small competition.
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)

# ---------------------------------------------------------------------------------------------
# The run's environment
# ---------------------------------------------------------------------------------------------

from harness.run_environment import (  # noqa: F401 (re-exported)
    ENV_COMPETITION,
    ENV_DEVICE,
    ENV_NUM_CLASSES,
    ENV_SEED,
    ENV_TIME_BASIS,
    ENV_TIME_BUDGET,
    TIME_BASES,
    TIME_BASIS_CPU,
    TIME_BASIS_WALL,
)


@dataclass(frozen=True)
class RunEnvironment:
    """What the sandbox worker tells a submission about its run; None where a variable is absent."""

    seed: int | None = None
    time_budget_s: float | None = None  # seconds allowed for this run (cutoff x reference retrain time)
    num_classes: int | None = None
    device: str | None = None
    competition: str | None = None
    time_basis: str = TIME_BASIS_WALL  # the clock time_budget_s is charged on: "cpu" or "wall"


def read_environment(environ: Mapping[str, str] | None = None) -> RunEnvironment:
    """Parse the `UNLEARN_*` variables (from `os.environ` by default); raise ValueError on a bad value."""
    environ = os.environ if environ is None else environ

    def text(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    def number(name: str, kind: type, positive: bool):
        raw = text(name)
        if raw is None:
            return None
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
        if positive and not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be a positive finite number, got {raw!r}")
        return value

    basis = text(ENV_TIME_BASIS) or TIME_BASIS_WALL
    if basis not in TIME_BASES:
        raise ValueError(f"{ENV_TIME_BASIS} must be one of {', '.join(TIME_BASES)}, got {basis!r}")
    return RunEnvironment(
        seed=number(ENV_SEED, int, positive=False),
        time_budget_s=number(ENV_TIME_BUDGET, float, positive=True),
        num_classes=number(ENV_NUM_CLASSES, int, positive=True),
        device=text(ENV_DEVICE),
        competition=text(ENV_COMPETITION),
        time_basis=basis,
    )


# ---------------------------------------------------------------------------------------------
# Batches, devices, data
# ---------------------------------------------------------------------------------------------

# Competitions with batch_format = "kaggle_dict" (digits-kaggle, surf) hand out the 2023 Kaggle
# notebooks' dict batches: image, image_id, age_group (the label), age, person_id.
from harness.batch_formats import IMAGE_KEY as DICT_IMAGE_KEY, LABEL_KEY as DICT_LABEL_KEY  # noqa: E402


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


# ---------------------------------------------------------------------------------------------
# Time budget
# ---------------------------------------------------------------------------------------------

# Share of UNLEARN_TIME_BUDGET_S a budget-aware method plans to use: the supervisor's clock also
# counts the worker's own work around the call, and a shared machine slows down unpredictably.
DEFAULT_BUDGET_SHARE = 0.7


def charged_clock(environment: RunEnvironment | None = None) -> Callable[[], float]:
    """The clock a run is charged on, as a function returning seconds.

    "cpu": this process's CPU time, user + system of all its threads (time.process_time), which is
    what the sandbox's cgroup charges of it; it advances more slowly than wall time while the
    process waits, and faster when several threads compute at once. The cgroup also charges child
    processes (e.g. DataLoader workers), which this clock does not see. "wall": time.monotonic.
    """
    environment = read_environment() if environment is None else environment
    return time.process_time if environment.time_basis == TIME_BASIS_CPU else time.monotonic


class Deadline:
    """A time limit for a phase of work, started on creation; `Deadline(None)` never expires.

    `clock` measures the elapsed time (wall time by default; `from_environment` picks the clock
    the run is charged on).
    """

    def __init__(self, seconds: float | None, *, clock: Callable[[], float] = time.monotonic):
        if seconds is not None and not seconds >= 0:
            raise ValueError(f"a deadline needs a non-negative number of seconds or None, got {seconds!r}")
        self.seconds = seconds
        self._clock = clock
        self._start = clock()

    @classmethod
    def from_environment(
        cls,
        *,
        share: float = DEFAULT_BUDGET_SHARE,
        environment: RunEnvironment | None = None,
        clock: Callable[[], float] | None = None,
    ) -> "Deadline":
        """A deadline at `share` of UNLEARN_TIME_BUDGET_S from now; unlimited when the variable is absent.

        It runs on the clock the run is charged on (`charged_clock`: CPU time when
        UNLEARN_TIME_BASIS is "cpu", else wall time) unless `clock` is given.
        """
        if not 0 < share <= 1:
            raise ValueError(f"share must lie in (0, 1], got {share}")
        environment = read_environment() if environment is None else environment
        budget = environment.time_budget_s
        return cls(None if budget is None else share * budget, clock=clock or charged_clock(environment))

    @property
    def unlimited(self) -> bool:
        return self.seconds is None

    def elapsed(self) -> float:
        """Seconds since the deadline was created."""
        return self._clock() - self._start

    def remaining(self) -> float:
        """Seconds left (never negative); infinity when unlimited."""
        if self.seconds is None:
            return math.inf
        return max(0.0, self.seconds - self.elapsed())

    def fraction_used(self) -> float:
        """Elapsed share of the allowed time in [0, 1]; 0 when unlimited."""
        if self.seconds is None:
            return 0.0
        if self.seconds == 0:
            return 1.0
        return min(1.0, self.elapsed() / self.seconds)

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def split(self, fraction: float) -> "Deadline":
        """A deadline for the next phase: `fraction` of the time remaining now (unlimited stays unlimited)."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
        if self.seconds is None:
            return Deadline(None, clock=self._clock)
        return Deadline(fraction * self.remaining(), clock=self._clock)

    def __repr__(self) -> str:
        if self.seconds is None:
            return "Deadline(unlimited)"
        return f"Deadline({self.seconds:.3g} s, {self.remaining():.3g} s left)"


def timed_rounds(count: int, deadline: Deadline) -> Iterator[float]:
    """Drive up to `count` rounds of work (epochs, cycles) and stop early when the next would not fit.

    Yields each round's progress in [0, 1) (the larger of rounds done / count and the deadline's
    used share, for a learning-rate schedule). The body between two yields is timed, and a new
    round starts only if the deadline has at least as long left as the longest round so far, so a
    method never begins a forget round that its retain round would not have time to repair.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    longest = 0.0
    for index in range(count):
        if index and deadline.remaining() < longest:
            return
        started = deadline.elapsed()
        yield max(index / count, deadline.fraction_used())
        longest = max(longest, deadline.elapsed() - started)


# ---------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------

WEIGHT_LAYER_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def weight_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """Convolution and linear layers as (name, module), in registration order.

    Registration order is the order of the forward pass for every architecture the harness ships
    (torchvision's resnet18 and its CIFAR variant, the digits CNN); a model that registers layers
    out of order should pass its own layers to the functions that take them.
    """
    return [(name, module) for name, module in net.named_modules() if isinstance(module, WEIGHT_LAYER_TYPES)]


def conv_layers(net: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """All 2-D convolutions as (name, module), in registration order."""
    return [(name, module) for name, module in net.named_modules() if isinstance(module, nn.Conv2d)]


def first_layer(net: nn.Module) -> tuple[str, nn.Module]:
    """The input layer: the first convolution or linear layer."""
    layers = weight_layers(net)
    if not layers:
        raise ValueError(f"{type(net).__name__} has no convolution or linear layer")
    return layers[0]


def last_layer(net: nn.Module) -> tuple[str, nn.Linear]:
    """The classifier: the last linear layer."""
    linears = [(name, module) for name, module in net.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(net).__name__} has no linear layer to serve as its classifier")
    return linears[-1]


def reinitialize(module: nn.Module) -> nn.Module:
    """Re-draw the parameters of `module` and every submodule with their default initialisation.

    Uses each layer's own `reset_parameters` (which also resets batch-norm running statistics),
    so the result is distributed like a freshly built model; randomness comes from torch's RNG.
    """
    for submodule in module.modules():
        reset = getattr(submodule, "reset_parameters", None)
        if callable(reset):
            reset()
    return module


def fresh_parameters(layer: nn.Module) -> dict[str, torch.Tensor]:
    """Newly initialised values for a layer's own parameters, leaving the layer itself unchanged."""
    fresh = reinitialize(copy.deepcopy(layer))
    return {name: parameter.detach() for name, parameter in fresh.named_parameters(recurse=False)}


# ---------------------------------------------------------------------------------------------
# Losses shared by several methods
# ---------------------------------------------------------------------------------------------


def classification_loss(net: nn.Module, class_weights: torch.Tensor | None = None) -> "StepLoss":
    """The step loss of plain supervised training: (optionally class-weighted) cross-entropy of `net`."""
    return lambda images, labels: F.cross_entropy(net(images), labels, weight=class_weights)


def distillation_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher || student) of temperature-softened outputs, scaled by T^2 (Hinton et al.), batch mean."""
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * temperature**2


def soft_cross_entropy(student_logits: torch.Tensor, target_probabilities: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets (rows summing to 1), batch mean."""
    return -(target_probabilities * F.log_softmax(student_logits, dim=1)).sum(dim=1).mean()


def prediction_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of each row's softmax, shape [batch]."""
    log_probs = F.log_softmax(logits, dim=1)
    return -(log_probs.exp() * log_probs).sum(dim=1)


def add_input_noise(images: torch.Tensor, relative_std: float) -> torch.Tensor:
    """Gaussian noise with std `relative_std` x the batch's own pixel std: scale-free for 0-1 or 0-255 inputs."""
    return images + torch.randn_like(images) * (relative_std * images.std())


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules: multipliers of the base rate as a function of progress in [0, 1]
# ---------------------------------------------------------------------------------------------

Schedule = Callable[[float], float]


def set_learning_rate(optimizer: torch.optim.Optimizer, rate: float) -> None:
    """Set every parameter group's learning rate (for methods that schedule by round, not by step)."""
    for group in optimizer.param_groups:
        group["lr"] = rate


def constant(progress: float) -> float:
    return 1.0


def cosine(progress: float) -> float:
    """Cosine annealing from 1 to 0 over the run (as CosineAnnealingLR over the planned steps)."""
    return 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def warmup_then_linear_decay(warmup: float, start: float, end: float) -> Schedule:
    """Linear warm-up from `start` to 1 over the first `warmup` of the run, then linear decay to `end`."""
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup must lie in [0, 1), got {warmup}")

    def schedule(progress: float) -> float:
        progress = min(max(progress, 0.0), 1.0)
        if progress < warmup:
            return start + (1.0 - start) * progress / warmup
        return 1.0 + (end - 1.0) * (progress - warmup) / (1.0 - warmup)

    return schedule


def step_decay(milestones: tuple[float, ...], factor: float) -> Schedule:
    """Multiply by `factor` at each milestone (fractions of the run), like MultiStepLR."""

    def schedule(progress: float) -> float:
        return factor ** sum(progress >= milestone for milestone in milestones)

    return schedule


# ---------------------------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------------------------

StepLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TrainResult:
    """What one call of `train` did."""

    steps: int
    epochs: float  # passes over the loader, fractional when stopped mid-epoch
    seconds: float
    stopped_by_deadline: bool


def train(
    net: nn.Module,
    loader: DataLoader,
    step_loss: StepLoss,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: float,
    schedule: Schedule = constant,
    deadline: Deadline | None = None,
    max_grad_norm: float | None = None,
    desc: str = "train",
) -> TrainResult:
    """Minimise `step_loss(images, labels)` over `loader` for up to `epochs` passes or until `deadline`.

    Progress is the larger of the share of planned steps done and the share of the deadline used,
    so the learning rate `base_lr * schedule(progress)` completes its schedule whichever limit
    comes first: a time budget that allows fewer epochs than planned gets a compressed schedule,
    not a truncated one. Each parameter group keeps its own base rate (its lr at the call).
    """
    if epochs <= 0:
        raise ValueError(f"epochs must be positive, got {epochs}")
    if len(loader) == 0:
        raise ValueError("cannot train on an empty loader")
    deadline = deadline or Deadline(None)
    device = model_device(net)
    base_rates = [group["lr"] for group in optimizer.param_groups]
    planned_steps = max(1, round(epochs * len(loader)))
    started = deadline.elapsed()
    net.train()

    step, stopped_by_deadline = 0, False
    training_batches = endless_batches(loader, device)
    with progress_bar(total=planned_steps, desc=desc, unit="step") as bar:
        for step in range(planned_steps):
            progress = max(step / planned_steps, deadline.fraction_used())
            if progress >= 1.0:
                stopped_by_deadline = True
                break
            images, labels = next(training_batches)
            for group, base_rate in zip(optimizer.param_groups, base_rates):
                group["lr"] = base_rate * schedule(progress)
            loss = step_loss(images, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm is not None:
                nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm)
            optimizer.step()
            bar.update()
        else:
            step = planned_steps

    for group, base_rate in zip(optimizer.param_groups, base_rates):
        group["lr"] = base_rate  # the optimizer can be reused for another phase from its base rates
    return TrainResult(step, step / len(loader), deadline.elapsed() - started, stopped_by_deadline)
