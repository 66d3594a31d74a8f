"""A deterministic submission for the resume tests: a fixed 15 steps of fine-tuning on retain.

The budget-aware baselines size their work by the wall clock, so two runs of them may differ;
the harness's resume guarantee is about its own work, which this submission isolates. 15 steps
stay far below the time cutoff even on a loaded machine.
"""

import torch
import torch.nn.functional as F

STEPS = 15


def unlearn(net, retain, forget, val):
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9, weight_decay=5e-4)
    device = next(net.parameters()).device
    for _, (images, labels) in zip(range(STEPS), retain):
        optimizer.zero_grad()
        F.cross_entropy(net(images.to(device)), labels.to(device)).backward()
        optimizer.step()
    return net
