"""A fixed-work submission: 40 SGD steps on the retain set, whatever the budget or the machine.

Its work never adapts to a clock, so the time it is charged depends only on how the harness
measures: the time tests compare it quiet vs loaded, and through `check` vs `run`.
"""

import itertools

import torch
import torch.nn.functional as F

STEPS = 40


def unlearn(net, retain, forget, val):
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    device = next(net.parameters()).device
    for images, labels in itertools.islice(itertools.cycle(retain), STEPS):
        optimizer.zero_grad()
        F.cross_entropy(net(images.to(device)), labels.to(device)).backward()
        optimizer.step()
    return net
