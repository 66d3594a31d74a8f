"""1st place of the NeurIPS 2023 Machine Unlearning Challenge (team "fanchuan").

Source: the challenge's summary talk (seeds/001), "1st place solution - fanchuan".
Idea: first push the forget set's outputs to the uniform distribution (minimise KL to a uniform
pseudo-label); then alternate adversarial "forget" rounds, which make forget-set logits unlike
retain-set logits (a contrastive loss), with "retain" rounds of ordinary cross-entropy training.
Hyperparameters: ROUNDS 8 (the talk: 6 -> 8 epochs thanks to larger batches), BATCH_SIZE 256 for
both loaders (the talk says "64 to 258", read here as 256), contrastive temperature TAU 1.15 with
cosine similarity of logit vectors (the talk writes sim(x, y) without defining it; chosen), SGD lr
0.01, momentum 0.9, weight decay 5e-4, cosine decay of the rate over the rounds (optimizer and rate
not given in the talk; chosen). The uniform phase makes one pass over the forget set.
Under a time budget a round starts only if it fits in what is left of the kit's share of it.

The forget loss for forget logits x_i against a batch of retain logits y_j is
l_i = -mean_t log softmax_j(sim(x_i, y_j) / TAU)[t], minimised when every retain example looks
equally (dis)similar to x_i, so forget outputs carry no retain-set class structure.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from harness.kit import (
    Deadline,
    classification_loss,
    cosine,
    endless_batches,
    model_device,
    rebatch,
    set_learning_rate,
    timed_rounds,
    train,
)

ROUNDS = 8
BATCH_SIZE = 256
TAU = 1.15
LEARNING_RATE = 0.01
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
UNIFORM_PHASE_SHARE = 0.1  # of the budget, at most; one pass over the forget set is usually far less


def kl_to_uniform(logits: torch.Tensor) -> torch.Tensor:
    """KL(uniform || softmax(logits)), batch mean."""
    log_probs = F.log_softmax(logits, dim=1)
    classes = logits.shape[1]
    return (-log_probs.mean(dim=1) - torch.log(torch.tensor(float(classes)))).mean()


def contrastive_forget_loss(forget_logits: torch.Tensor, retain_logits: torch.Tensor) -> torch.Tensor:
    """The talk's L_forget: cross-entropy of each forget row's similarity softmax against a uniform target."""
    similarity = F.normalize(forget_logits, dim=1) @ F.normalize(retain_logits, dim=1).T / TAU
    return -F.log_softmax(similarity, dim=1).mean()


def unlearn(net, retain, forget, val):
    deadline = Deadline.from_environment()
    device = model_device(net)
    retain = rebatch(retain, BATCH_SIZE)
    forget = rebatch(forget, BATCH_SIZE)
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)

    uniform_loss = lambda images, labels: kl_to_uniform(net(images))
    train(net, forget, uniform_loss, optimizer, epochs=1, deadline=deadline.split(UNIFORM_PHASE_SHARE), desc="uniform")

    retain_batches = endless_batches(retain, device)

    def forget_round_loss(images, labels):
        retain_images, _ = next(retain_batches)
        with torch.no_grad():
            retain_logits = net(retain_images)
        return contrastive_forget_loss(net(images), retain_logits)

    retain_loss = classification_loss(net)
    for index, progress in enumerate(timed_rounds(ROUNDS, deadline)):
        set_learning_rate(optimizer, LEARNING_RATE * cosine(progress))
        train(net, forget, forget_round_loss, optimizer, epochs=1, deadline=deadline, desc=f"forget round {index}")
        train(net, retain, retain_loss, optimizer, epochs=1, deadline=deadline, desc=f"retain round {index}")
    return net
