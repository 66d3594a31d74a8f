"""Random labels: train the forget set towards wrong labels while training on the retain set.

Source: Graves, Nagisetty, Ganesh, "Amnesiac Machine Learning" (AAAI 2021), relabelling; used as
the "random labels" baseline in later unlearning benchmarks.
Idea: each step pairs a retain batch (true labels) with a forget batch whose labels are redrawn
uniformly among the other classes; the sum of both cross-entropies makes the model unlearn the
forget labels without driving their loss to infinity as gradient ascent does.
Hyperparameters: FORGET_WEIGHT 1 (plain sum), SGD lr 0.01, momentum 0.9, weight decay 5e-4, cosine
schedule, EPOCHS passes over the retain set or the kit's share of the time budget. Labels are
redrawn at every step (chosen: a fixed relabelling would teach a new, equally memorised label).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from harness.kit import Deadline, cosine, endless_batches, model_device, num_classes, train

FORGET_WEIGHT = 1.0
LEARNING_RATE = 0.01
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
EPOCHS = 5


def wrong_labels(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """A uniformly random label different from each true label."""
    offsets = torch.randint(1, classes, labels.shape, device=labels.device)
    return (labels + offsets) % classes


def unlearn(net, retain, forget, val):
    deadline = Deadline.from_environment()
    classes = num_classes(net)
    forget_batches = endless_batches(forget, model_device(net))

    def step_loss(images, labels):
        forget_images, forget_labels = next(forget_batches)
        retain_loss = F.cross_entropy(net(images), labels)
        forget_loss = F.cross_entropy(net(forget_images), wrong_labels(forget_labels, classes))
        return retain_loss + FORGET_WEIGHT * forget_loss

    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    train(net, retain, step_loss, optimizer, epochs=EPOCHS, schedule=cosine, deadline=deadline, desc="random labels")
    return net
