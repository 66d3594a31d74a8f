"""Paying torch's one-time costs before a clock starts: in the sandbox worker before its first run,
in a pool builder before the timed retrains of the reference."""

from __future__ import annotations


def warm_up(template, device, split, batch_size: int) -> None:
    """Pay torch's one-time costs before the clock starts, on a throwaway copy of the model.

    The first optimizer step imports torch._dynamo (seconds on a CPU) and the first forward and
    backward passes initialise kernels; without this, the first run of every sandbox would be
    charged for them.
    """
    import copy

    import torch
    from torch.nn import functional as F

    count = min(batch_size, len(split))
    if count < 2:  # batch norm cannot train on one example; skip rather than fail
        return
    model = copy.deepcopy(template).to(device).train()
    images, labels = split.images[:count].to(device), split.labels[:count].to(device)
    for optimizer_class in (torch.optim.SGD, torch.optim.Adam):
        optimizer = optimizer_class(model.parameters(), lr=0.0)
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        model.eval()(images)


# (architecture, device) pairs this process has warmed up: a process pays the costs once.
_warmed_up: set[tuple[str, str]] = set()


def warm_up_once(competition, device: str, split) -> None:
    """`warm_up` on a fresh model of `competition`'s architecture, once per process and device: a
    model's training time (the reference for the time limit) must not include torch's start-up
    costs, as the sandbox pays them before its clock too."""
    from harness.training.architectures import build_model

    key = (competition.architecture, device)
    if key in _warmed_up:
        return
    template = build_model(competition.architecture, competition.num_classes, competition.in_channels)
    warm_up(template, device, split, competition.recipe.batch_size)
    _warmed_up.add(key)
