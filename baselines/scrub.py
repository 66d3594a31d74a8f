"""SCRUB: max-min distillation from the original model, which serves as the teacher.

Source: Kurmanji, Triantafillou, Hayes, Triantafillou, "Towards Unbounded Machine Unlearning"
(NeurIPS 2023), and the hyperparameters of the authors' code (SCRUB, CIFAR settings).
Idea: the student starts as the original model. "Max" steps on the forget set push the student's
outputs away from the teacher's (maximise their KL divergence); "min" steps on the retain set keep
them close (KL) while fitting the labels (cross-entropy). Max steps run only in the first epochs.
Hyperparameters: EPOCHS 3, MAX_EPOCHS 2 (epochs with a max step), temperature 4, retain loss
GAMMA * CE + ALPHA * KL with GAMMA 0.99 and ALPHA 0.001, SGD lr 5e-4, momentum 0.9, weight decay
5e-4 (the code's decay milestones lie after epoch 3, so the rate stays constant). Batches are the
loaders' own (chosen: the code uses 128 retain and 32 forget examples per batch). Under a time
budget, an epoch starts only if it fits in what is left of the kit's share of it.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from harness.kit import Deadline, distillation_kl, frozen_copy, timed_rounds, train

EPOCHS = 3
MAX_EPOCHS = 2
TEMPERATURE = 4.0
GAMMA = 0.99
ALPHA = 0.001
LEARNING_RATE = 5e-4
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4


def unlearn(net, retain, forget, val):
    deadline = Deadline.from_environment()
    teacher = frozen_copy(net)

    def max_step_loss(images, labels):
        with torch.no_grad():
            teacher_logits = teacher(images)
        return -distillation_kl(net(images), teacher_logits, TEMPERATURE)

    def min_step_loss(images, labels):
        with torch.no_grad():
            teacher_logits = teacher(images)
        student_logits = net(images)
        return GAMMA * F.cross_entropy(student_logits, labels) + ALPHA * distillation_kl(student_logits, teacher_logits, TEMPERATURE)

    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    for epoch, _ in enumerate(timed_rounds(EPOCHS, deadline)):
        if epoch < MAX_EPOCHS:
            train(net, forget, max_step_loss, optimizer, epochs=1, deadline=deadline, desc=f"scrub max {epoch}")
        train(net, retain, min_step_loss, optimizer, epochs=1, deadline=deadline, desc=f"scrub min {epoch}")
    return net
