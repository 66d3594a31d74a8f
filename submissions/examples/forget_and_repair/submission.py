"""Example folder submission: forget by gradient ascent, then repair on the retain set.

A submission can be a folder with `submission.py` (defining `unlearn`) and helper modules beside
it; the folder is on sys.path inside the sandbox, so `import schedule` below finds schedule.py.
Method (NegGrad+-like): a short phase that raises the loss on the forget set while keeping it low on
the retain set, then fine-tuning on the retain set to recover accuracy.
"""

import torch
from torch.nn import functional as F

from schedule import phase_steps, unpack

FORGET_WEIGHT = 0.5  # share of the forget-set (ascent) term in the first phase


def unlearn(net, retain, forget, val):
    device = next(net.parameters()).device
    ascent_steps, repair_steps = phase_steps(len(retain), len(forget))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    net.train()

    forget_batches, retain_batches = iter(forget), iter(retain)
    for _ in range(ascent_steps):
        forget_images, forget_labels = unpack(next(forget_batches), device)
        retain_images, retain_labels = unpack(next(retain_batches), device)
        loss = (1 - FORGET_WEIGHT) * F.cross_entropy(net(retain_images), retain_labels) - FORGET_WEIGHT * F.cross_entropy(
            net(forget_images), forget_labels
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for step, batch in enumerate(retain):
        if step >= repair_steps:
            break
        images, labels = unpack(batch, device)
        optimizer.zero_grad()
        F.cross_entropy(net(images), labels).backward()
        optimizer.step()
    return net
