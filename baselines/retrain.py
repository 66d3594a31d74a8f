"""Retraining from scratch on the retain set: the gold standard every unlearner is compared with.

Source: the definition of unlearning itself (DESIGN.md, METRIC.md): the retrained population is
"train a fresh model without the forget set". This submission produces one such model.
Idea: discard the original weights, draw fresh ones, and train on the retain set with the
competition's own training recipe (harness.training, the trainer of the retrain pool), so its
outputs are distributed like the pool's retrained models: the forget quality an ideal unlearner
reaches, at the cost of a full retrain.
Hyperparameters: those of the competition's recipe (optimizer, rate, epochs, schedule, batch size,
class weights, augmentation, best-validation checkpoint on the validation loader), read from the
shipped competition named by UNLEARN_COMPETITION; the seed is UNLEARN_SEED. It deliberately ignores
UNLEARN_TIME_BUDGET_S: a retrain takes ten times the allowed time and is rejected as over_time,
which is the point of the time rule (its score is still computed when time is not enforced).
"""

from __future__ import annotations

import numpy as np
import torch

from harness.competition import load_competition
from harness.data import CompetitionData, Split
from harness.errors import ConfigError
from harness.submission_kit import collect, model_device, read_environment
from harness.training import train_model


def as_split(images: torch.Tensor, labels: torch.Tensor) -> Split:
    """A Split of in-memory examples; ids are positions (the trainer never reads them)."""
    return Split(images, labels, np.arange(len(labels)).astype(str))


def empty_like(split: Split) -> Split:
    return as_split(split.images[:0], split.labels[:0])


def unlearn(net, retain, forget, val):
    environment = read_environment()
    if environment.competition is None:
        raise ConfigError("the retrain baseline needs UNLEARN_COMPETITION (the name of a shipped competition) to read its recipe")
    competition = load_competition(environment.competition)
    retain_split, forget_split, val_split = (as_split(*collect(loader)) for loader in (retain, forget, val))
    data = CompetitionData(
        retain=retain_split,
        forget=forget_split,  # only for the recipe's class weights, computed over the whole training split
        val=val_split,
        test=empty_like(val_split),
        num_classes=competition.num_classes,
        checksum="",
    )
    seed = environment.seed if environment.seed is not None else int(torch.randint(0, 2**31 - 1, ()))
    trained = train_model(competition, data, train_on="retain", seed=seed, device=model_device(net))
    net.load_state_dict(trained.model.state_dict())
    return net
