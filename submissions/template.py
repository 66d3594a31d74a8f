"""Template of an unlearning submission. Copy this file, fill in `unlearn`, and test it with

    unlearn-harness check my_submission.py

The harness calls `unlearn(net, retain, forget, val)` once per run, in a sandbox, each time on a
fresh copy of the original model and with its own seed (random, numpy and torch are seeded
before the call). Return the unlearned network, or None after changing `net` in place. See
README.md in this folder for the whole contract, the environment variables and the limits.
"""

import os
import time

import torch
from torch.nn import functional as F


def unlearn(net, retain, forget, val):
    """Make `net` forget the examples of `forget` while staying as good as possible on the rest.

    net:     the original model (torch.nn.Module), on UNLEARN_DEVICE, in train mode.
    retain:  DataLoader over the training examples to keep (shuffled, seeded per run).
    forget:  DataLoader over the training examples to forget.
    val:     DataLoader over held-out validation examples (never the test set).
    Batches are (images, labels) tuples, or the 2023 Kaggle dicts {"image", "image_id", "age_group",
    "age", "person_id"} in competitions that use that format (harness.kit.unpack_batch
    reads both).
    """
    device = os.environ.get("UNLEARN_DEVICE", "cpu")
    # Seconds this run may take (time cutoff x the reference retraining time); absent if unknown.
    # A run slower than this is rejected, and one far slower is stopped.
    budget = float(os.environ["UNLEARN_TIME_BUDGET_S"]) if "UNLEARN_TIME_BUDGET_S" in os.environ else None
    deadline = None if budget is None else time.monotonic() + 0.7 * budget  # leave a margin

    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    net.train()
    for images, labels in retain:  # one epoch of fine-tuning on the retain set: replace with your method
        if deadline is not None and time.monotonic() > deadline:
            break
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        F.cross_entropy(net(images), labels).backward()
        optimizer.step()
    return net
