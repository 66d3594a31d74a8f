"""4th place of the NeurIPS 2023 Machine Unlearning Challenge (Sebastian Oleszko).

Source: the challenge's summary talk (seeds/001), "4th place solution - Sebastian Oleszko".
Idea: re-initialise almost the whole network (unstructured L1 pruning: the PRUNE_FRACTION
smallest-magnitude weights of each layer get fresh default-initialised values, biases of those
positions are zeroed), keeping only the largest weights as a "ticket" of the original; then
fine-tune on the retain set with class-weighted cross-entropy plus an entropy regulariser that
matches each prediction's entropy to the original model's:
    CE_w(y, f(x; w)) + (H(f(x; w)) - H(f(x; w_o)))^2,   class weights N_c^CLASS_WEIGHT_POWER.
Hyperparameters: PRUNE_FRACTION 0.99 of every convolution and linear layer's weights and biases
(per layer; the talk does not say global or per layer), batch-norm layers kept; CLASS_WEIGHT_POWER
-0.1; EPOCHS 3.2 (the final submission); ENTROPY_WEIGHT 1 (the talk's formula has no weight);
SGD lr 0.1, momentum 0.9, weight decay 5e-4, cosine schedule (the optimizer is not given; chosen
high because 99% of the weights start from scratch). Under a time budget the schedule is
compressed into the kit's share of it.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from harness.kit import (
    Deadline,
    class_counts,
    cosine,
    fresh_parameters,
    frozen_copy,
    num_classes,
    model_device,
    prediction_entropy,
    train,
    weight_layers,
)

PRUNE_FRACTION = 0.99
CLASS_WEIGHT_POWER = -0.1
ENTROPY_WEIGHT = 1.0
EPOCHS = 3.2
LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4


def prune_and_reinitialise(net) -> None:
    """Replace the PRUNE_FRACTION smallest |w| of each layer by fresh initial values; zero those biases."""
    with torch.no_grad():
        for _, layer in weight_layers(net):
            weight = layer.weight
            count = int(PRUNE_FRACTION * weight.numel())
            if count == 0:
                continue
            threshold = weight.abs().flatten().kthvalue(count).values
            pruned = weight.abs() <= threshold
            weight[pruned] = fresh_parameters(layer)["weight"].to(weight.device)[pruned]
            if layer.bias is not None:
                bias_count = int(PRUNE_FRACTION * layer.bias.numel())
                if bias_count:
                    smallest = layer.bias.abs().topk(bias_count, largest=False).indices
                    layer.bias[smallest] = 0.0


def unlearn(net, retain, forget, val):
    deadline = Deadline.from_environment()
    original = frozen_copy(net)
    counts = class_counts(retain, num_classes(net)).clamp(min=1)
    class_weights = counts.pow(CLASS_WEIGHT_POWER).to(torch.float32).to(model_device(net))
    prune_and_reinitialise(net)

    def step_loss(images, labels):
        logits = net(images)
        with torch.no_grad():
            original_entropy = prediction_entropy(original(images))
        entropy_gap = prediction_entropy(logits) - original_entropy
        return F.cross_entropy(logits, labels, weight=class_weights) + ENTROPY_WEIGHT * entropy_gap.pow(2).mean()

    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    train(net, retain, step_loss, optimizer, epochs=EPOCHS, schedule=cosine, deadline=deadline, desc="fine-tune")
    return net
