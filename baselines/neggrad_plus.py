"""NegGrad+: gradient ascent on the forget set balanced by descent on the retain set.

Source: Kurmanji, Triantafillou, Hayes, Triantafillou, "Towards Unbounded Machine Unlearning"
(NeurIPS 2023), the NegGrad+ baseline.
Idea: each step pairs a retain batch with a forget batch and minimises
RETAIN_WEIGHT * CE(retain) - (1 - RETAIN_WEIGHT) * CE(forget): forget examples are pushed away
from their labels while the retain loss anchors the model's utility.
Hyperparameters: RETAIN_WEIGHT 0.99 (the paper tunes it per setting; chosen), SGD lr 0.01,
momentum 0.9, weight decay 5e-4, cosine schedule, EPOCHS passes over the retain set or the kit's
share of the time budget, gradient norm clipped at MAX_GRAD_NORM because the ascent term is
unbounded.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from harness.kit import Deadline, cosine, endless_batches, model_device, train

RETAIN_WEIGHT = 0.99
LEARNING_RATE = 0.01
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
EPOCHS = 5
MAX_GRAD_NORM = 5.0


def unlearn(net, retain, forget, val):
    deadline = Deadline.from_environment()
    forget_batches = endless_batches(forget, model_device(net))

    def step_loss(images, labels):
        forget_images, forget_labels = next(forget_batches)
        retain_loss = F.cross_entropy(net(images), labels)
        forget_loss = F.cross_entropy(net(forget_images), forget_labels)
        return RETAIN_WEIGHT * retain_loss - (1 - RETAIN_WEIGHT) * forget_loss

    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    train(
        net, retain, step_loss, optimizer,
        epochs=EPOCHS, schedule=cosine, deadline=deadline, max_grad_norm=MAX_GRAD_NORM, desc="neggrad+",
    )
    return net
