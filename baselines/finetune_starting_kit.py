"""Fine-tuning on the retain set with the 2023 challenge's starting-kit recipe.

Source: NeurIPS 2023 Machine Unlearning Challenge, starting kit (the CIFAR-10 notebook's example
`unlearning` function); METRIC.md, "Starting kit".
Idea: the same method as `finetune.py` (train on the retain set only) at 100 times the Kaggle
notebook's rate, the order of a training rate: large steps carry the model out of the state that
memorised the forget set, and each run's data order takes it somewhere different.
Hyperparameters: the kit's SGD lr 0.1, momentum 0.9, weight decay 5e-4, cosine schedule to 0 over
its 5 epochs (annealed per step here, per epoch in the kit). Under a time budget
(UNLEARN_TIME_BUDGET_S) the schedule is compressed into the kit's share of the budget when the 5
epochs do not fit, as every baseline's is.
"""

from __future__ import annotations

import torch

from harness.kit import Deadline, classification_loss, cosine, train

LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
EPOCHS = 5


def unlearn(net, retain, forget, val):
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    train(
        net, retain, classification_loss(net), optimizer,
        epochs=EPOCHS, schedule=cosine, deadline=Deadline.from_environment(), desc="finetune (starting kit)",
    )
    return net
