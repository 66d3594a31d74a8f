"""Example: fine-tuning on the retain set, stretched over the time budget.

The 2023 challenge's Kaggle baseline (SGD, lr 1e-3, momentum 0.9, weight decay 5e-4, cosine
schedule), as a single-file submission built on harness.kit: the schedule runs over
70% of UNLEARN_TIME_BUDGET_S (at most MAX_EPOCHS epochs), or one epoch when no budget is given.
"""

import torch

from harness.kit import Deadline, classification_loss, cosine, train

MAX_EPOCHS = 20


def unlearn(net, retain, forget, val):
    deadline = Deadline.from_environment()
    epochs = 1 if deadline.unlimited else MAX_EPOCHS
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    train(net, retain, classification_loss(net), optimizer, epochs=epochs, schedule=cosine, deadline=deadline)
    return net
