"""One readable training loop that follows a schedule and stops at a deadline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from harness.kit.batches import endless_batches, model_device
from harness.kit.budget import Deadline
from harness.kit.schedules import Schedule, constant
from harness.utils.progress import progress as progress_bar


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
