"""Helpers for writing an unlearning submission: `unlearn(net, retain, forget, val)`.

The one harness API promised to submissions: inside the sandbox, a submission may import the
names below (`__all__`) and nothing else of the harness, whose other modules may change without
notice (the former name, harness.submission_kit, still works). Everything here runs next to
participant code, so it needs only torch and the harness's progress bars. It covers what every
submission needs:

- the run's environment (`read_environment`): seed, time budget and its clock, number of classes, device;
- batches in either competition format (`unpack_batch`), devices, class counts, predictions;
- the time budget (`Deadline`): the supervisor rejects a submission whose runs are slower than
  UNLEARN_TIME_BUDGET_S on the clock UNLEARN_TIME_BASIS names (CPU or wall time), so
  budget-aware methods plan their work inside a share of it, on that clock;
- layers found generically (`first_layer`, `last_layer`, `conv_layers`) and re-initialisation;
- learning-rate schedules as functions of training progress, and one readable training loop
  (`train`) that follows a schedule and stops at a deadline;
- retraining from scratch by the competition's own recipe (`retrain_from_scratch`), the yardstick.

A minimal budget-aware fine-tuning submission:

    import torch
    from harness.kit import Deadline, classification_loss, cosine, train

    def unlearn(net, retain, forget, val):
        deadline = Deadline.from_environment()  # unlimited when UNLEARN_TIME_BUDGET_S is absent
        optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
        train(net, retain, classification_loss(net), optimizer, epochs=5, schedule=cosine, deadline=deadline)
        return net
"""

from __future__ import annotations

import torch

from harness.kit.batches import (
    DICT_IMAGE_KEY,
    DICT_LABEL_KEY,
    accuracy,
    batches,
    class_counts,
    collect,
    endless_batches,
    evaluation_mode,
    frozen_copy,
    labels_of,
    model_device,
    num_classes,
    predict,
    rebatch,
    unpack_batch,
)
from harness.kit.budget import DEFAULT_BUDGET_SHARE, Deadline, charged_clock, timed_rounds
from harness.kit.environment import RunEnvironment, read_environment
from harness.kit.layers import WEIGHT_LAYER_TYPES, conv_layers, first_layer, fresh_parameters, last_layer, reinitialize, weight_layers
from harness.kit.loop import StepLoss, TrainResult, train
from harness.kit.losses import add_input_noise, classification_loss, distillation_kl, prediction_entropy, soft_cross_entropy
from harness.kit.retrain import retrain_from_scratch
from harness.kit.schedules import Schedule, constant, cosine, set_learning_rate, step_decay, warmup_then_linear_decay
from harness.sandbox.run_environment import (
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
from harness.utils.progress import progress

# torch imports its compiler stack the first time an optimizer is built (about 2 s on a CPU).
# Paying that when the kit is imported keeps it out of the first run's deadline, which would
# otherwise expire before the first training step on a small competition.
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)

__all__ = [
    "accuracy",
    "add_input_noise",
    "batches",
    "charged_clock",
    "class_counts",
    "classification_loss",
    "collect",
    "constant",
    "conv_layers",
    "cosine",
    "Deadline",
    "DEFAULT_BUDGET_SHARE",
    "DICT_IMAGE_KEY",
    "DICT_LABEL_KEY",
    "distillation_kl",
    "endless_batches",
    "ENV_COMPETITION",
    "ENV_DEVICE",
    "ENV_NUM_CLASSES",
    "ENV_SEED",
    "ENV_TIME_BASIS",
    "ENV_TIME_BUDGET",
    "evaluation_mode",
    "first_layer",
    "fresh_parameters",
    "frozen_copy",
    "labels_of",
    "last_layer",
    "model_device",
    "num_classes",
    "predict",
    "prediction_entropy",
    "progress",
    "read_environment",
    "rebatch",
    "reinitialize",
    "retrain_from_scratch",
    "RunEnvironment",
    "Schedule",
    "set_learning_rate",
    "soft_cross_entropy",
    "step_decay",
    "StepLoss",
    "TIME_BASES",
    "TIME_BASIS_CPU",
    "TIME_BASIS_WALL",
    "timed_rounds",
    "train",
    "TrainResult",
    "unpack_batch",
    "warmup_then_linear_decay",
    "WEIGHT_LAYER_TYPES",
    "weight_layers",
]
