"""8th place of the NeurIPS 2023 Machine Unlearning Challenge (team "Forget").

Source: the challenge's summary talk (seeds/001), "8th place solution - Team Forget".
Idea: repeat a forgetting phase and a remembering phase for a few cycles. Forgetting: a random
SELECTION_FRACTION of the weights of every eligible layer is re-initialised (fully connected
layers and projection shortcuts are excluded). Remembering: the model is trained to reproduce the
original model's logits (MSE, which the team found closer to retraining than cross-entropy) on
retain images with Gaussian noise added as augmentation.
Hyperparameters: CYCLE_EPOCHS (1, 2, 2) with SELECTION_FRACTION 0.1 per cycle (the talk's best
row: 3 cycles of 1-2-2 epochs, ~30% selected in all); input noise std 0.1 (the talk's sigma), here
relative to the batch's pixel std so that it means the same for 0-1 and 0-255 inputs (chosen);
eligible layers: the convolutions, projection shortcuts recognised as 1x1 convolutions (generic
for any architecture; chosen); re-initialised values from each layer's default initialisation;
element-wise selection (the talk says "parameters are stochastically selected"; chosen); the
optimizer of the starting kit's fine-tuning example (METRIC.md; not given in the talk): SGD lr 0.1,
momentum 0.9, weight decay 5e-4, with a cosine schedule within each cycle.
Under a time budget each cycle gets a share of what is left in proportion to its epochs.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from harness.kit import Deadline, add_input_noise, conv_layers, cosine, fresh_parameters, frozen_copy, train

CYCLE_EPOCHS = (1, 2, 2)
SELECTION_FRACTION = 0.1
INPUT_NOISE = 0.1
LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4


def eligible_layers(net) -> list[torch.nn.Conv2d]:
    """Convolutions that are not projection shortcuts (1x1 kernels); linear layers never qualify."""
    return [conv for _, conv in conv_layers(net) if tuple(conv.kernel_size) != (1, 1)]


def reinitialise_random_weights(net) -> None:
    """Give a random SELECTION_FRACTION of each eligible layer's weights fresh initial values."""
    with torch.no_grad():
        for conv in eligible_layers(net):
            selected = torch.rand_like(conv.weight) < SELECTION_FRACTION
            conv.weight[selected] = fresh_parameters(conv)["weight"].to(conv.weight.device)[selected]


def unlearn(net, retain, forget, val):
    deadline = Deadline.from_environment()
    original = frozen_copy(net)

    def remember_loss(images, labels):
        noisy = add_input_noise(images, INPUT_NOISE)
        with torch.no_grad():
            target = original(noisy)
        return F.mse_loss(net(noisy), target)

    for cycle, epochs in enumerate(CYCLE_EPOCHS):
        reinitialise_random_weights(net)
        optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
        share = epochs / sum(CYCLE_EPOCHS[cycle:])
        train(net, retain, remember_loss, optimizer, epochs=epochs, schedule=cosine, deadline=deadline.split(share), desc=f"cycle {cycle}")
    return net
