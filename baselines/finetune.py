"""Fine-tuning on the retain set: the baseline of the 2023 challenge's Kaggle notebook.

Source: NeurIPS 2023 Machine Unlearning Challenge, Kaggle starting notebook ("unlearning by
fine-tuning"); METRIC.md, "Starting kit".
Idea: keep training the original model on the retain set only. The forget set is never used; its
examples drift towards how the data treats unseen examples (catastrophic forgetting).
Hyperparameters: SGD, lr 1e-3, momentum 0.9, weight decay 5e-4, cosine schedule to 0, the retain
loader's batches. Epochs: the notebook's single epoch when no time budget is given. Under a budget
(UNLEARN_TIME_BUDGET_S) the schedule is stretched over the kit's share of it, up to MAX_EPOCHS: on
small data such as digits one epoch is a few dozen steps and barely moves the model, so the epochs
are set by the budget rather than by the notebook.
The challenge's starting kit fine-tuned at lr 0.1 instead: `finetune_starting_kit.py`.
"""

from __future__ import annotations

import torch

from harness.kit import Deadline, classification_loss, cosine, train

LEARNING_RATE = 1e-3
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
EPOCHS_WITHOUT_BUDGET = 1
MAX_EPOCHS = 100


def unlearn(net, retain, forget, val):
    deadline = Deadline.from_environment()
    epochs = EPOCHS_WITHOUT_BUDGET if deadline.unlimited else MAX_EPOCHS
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    train(net, retain, classification_loss(net), optimizer, epochs=epochs, schedule=cosine, deadline=deadline, desc="finetune")
    return net
