"""Retraining from scratch inside a run, by the competition's own recipe (the `retrain` baseline).

The trainer is the retrain pool's (harness.training.trainer), so the model comes out distributed like
the pool's retrained models. Imported with the kit, so that the worker loads the trainer before the
clock starts (harness.sandbox.preload), as it loads everything a submission imports.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from harness.config import load_competition
from harness.data.splits import CompetitionData, Split
from harness.errors import ConfigError
from harness.kit.batches import collect, model_device
from harness.kit.environment import RunEnvironment, read_environment
from harness.training.trainer import train_model


def retrain_from_scratch(net: nn.Module, retain: DataLoader, forget: DataLoader, val: DataLoader, *,
                         environment: RunEnvironment | None = None) -> nn.Module:
    """Load into `net` a fresh model trained on `retain` by the recipe of the competition UNLEARN_COMPETITION names.

    The seed is UNLEARN_SEED (a random one when absent). `forget` serves only the recipe's class
    weights (computed over the whole training split, as the pool's), `val` its best-validation
    checkpoint. Returns `net`.
    """
    environment = read_environment() if environment is None else environment
    if environment.competition is None:
        raise ConfigError("the retrain baseline needs UNLEARN_COMPETITION (the name of a shipped competition) to read its recipe")
    competition = load_competition(environment.competition)

    def as_split(images: torch.Tensor, labels: torch.Tensor) -> Split:
        return Split(images, labels, np.arange(len(labels)).astype(str))  # ids are positions: the trainer never reads them

    retain_split, forget_split, val_split = (as_split(*collect(loader)) for loader in (retain, forget, val))
    data = CompetitionData(
        retain=retain_split,
        forget=forget_split,
        val=val_split,
        test=as_split(val_split.images[:0], val_split.labels[:0]),
        num_classes=competition.num_classes,
        checksum="",
    )
    seed = environment.seed if environment.seed is not None else int(torch.randint(0, 2**31 - 1, ()))
    trained = train_model(competition, data, train_on="retain", seed=seed, device=model_device(net))
    net.load_state_dict(trained.model.state_dict())
    return net
