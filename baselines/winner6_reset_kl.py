"""6th place of the NeurIPS 2023 Machine Unlearning Challenge (team "Algorithmic Amnesiacs").

Source: the challenge's summary talk (seeds/001), "6th place solution - Algorithmic Amnesiacs".
Idea: reset the first and the last layer of the original model (on CIFAR-10 these two moved most
between a model trained on everything and one retrained on the retain set); warm the network back
up by distilling the original model (teacher) into it on the validation set, which contains no
forget example; then fine-tune on the retain set with the sum of three losses: cross-entropy on
the hard labels, soft cross-entropy against the teacher's probabilities, and KL(teacher || student).
Hyperparameters (the talk gives none; chosen): WARMUP_EPOCHS 2 over the validation set with the
KL loss at temperature 1; FINETUNE_EPOCHS 4; the fine-tuning KL uses TEMPERATURE 4 (softened
outputs carry the "broader information" the talk mentions; the soft cross-entropy uses the plain
probabilities); the optimizer of the starting kit's fine-tuning example (METRIC.md): SGD lr 0.1,
momentum 0.9, weight decay 5e-4, constant rate in the warm-up and a cosine schedule in the
fine-tuning. Under a time budget the warm-up gets WARMUP_SHARE of the
kit's share of it and fine-tuning the rest.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from harness.kit import (
    Deadline,
    cosine,
    distillation_kl,
    first_layer,
    frozen_copy,
    last_layer,
    reinitialize,
    soft_cross_entropy,
    train,
)

WARMUP_EPOCHS = 2
WARMUP_SHARE = 0.25
FINETUNE_EPOCHS = 4
TEMPERATURE = 4.0
LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4


def unlearn(net, retain, forget, val):
    deadline = Deadline.from_environment()
    teacher = frozen_copy(net)
    reinitialize(first_layer(net)[1])
    reinitialize(last_layer(net)[1])

    def warmup_loss(images, labels):
        with torch.no_grad():
            teacher_logits = teacher(images)
        return distillation_kl(net(images), teacher_logits)

    def finetune_loss(images, labels):
        with torch.no_grad():
            teacher_logits = teacher(images)
        logits = net(images)
        return (
            F.cross_entropy(logits, labels)
            + soft_cross_entropy(logits, F.softmax(teacher_logits, dim=1))
            + distillation_kl(logits, teacher_logits, TEMPERATURE)
        )

    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    train(net, val, warmup_loss, optimizer, epochs=WARMUP_EPOCHS, deadline=deadline.split(WARMUP_SHARE), desc="warm-up on val")
    train(net, retain, finetune_loss, optimizer, epochs=FINETUNE_EPOCHS, schedule=cosine, deadline=deadline, desc="fine-tune")
    return net
