"""7th place of the NeurIPS 2023 Machine Unlearning Challenge (Jiaxi Sun).

Source: the challenge's summary talk (seeds/001), "7th place solution - Jiaxi Sun": a solution
that uses only the retain set.
Idea: reset the last (classifier) layer, add Gaussian noise to NOISY_LAYERS randomly chosen
layers (the randomness of the choice adds diversity between runs, which the metric rewards), then
fine-tune every layer on the retain set.
Hyperparameters: NOISY_LAYERS 9 (the talk's N = 9), drawn among the convolution and linear layers
other than the reset classifier (all of them when a model has fewer); noise std NOISE_SCALE 0.5 x
the layer's own weight std (the talk gives no scale; relative so that it means the same in every
layer; chosen); fine-tuning as the starting kit's example (METRIC.md): EPOCHS 5, SGD lr 0.1,
momentum 0.9, weight decay 5e-4, cosine schedule, compressed into the kit's share of the time budget when there is one.
"""

from __future__ import annotations

import torch

from harness.kit import Deadline, classification_loss, cosine, last_layer, reinitialize, train, weight_layers

NOISY_LAYERS = 9
NOISE_SCALE = 0.5
EPOCHS = 5
LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4


def add_noise_to_random_layers(net) -> list[str]:
    """Perturb the weights of NOISY_LAYERS random layers (not the classifier); return their names."""
    classifier = last_layer(net)[1]
    candidates = [(name, layer) for name, layer in weight_layers(net) if layer is not classifier]
    chosen = torch.randperm(len(candidates))[:NOISY_LAYERS].tolist()
    with torch.no_grad():
        for index in chosen:
            weight = candidates[index][1].weight
            weight.add_(torch.randn_like(weight) * (NOISE_SCALE * weight.std()))
    return [candidates[index][0] for index in chosen]


def unlearn(net, retain, forget, val):
    deadline = Deadline.from_environment()
    reinitialize(last_layer(net)[1])
    add_noise_to_random_layers(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    train(net, retain, classification_loss(net), optimizer, epochs=EPOCHS, schedule=cosine, deadline=deadline, desc="fine-tune")
    return net
