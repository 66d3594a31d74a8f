"""A deterministic submission for the resume tests: two epochs of fine-tuning, no deadline.

The budget-aware baselines size their work by the wall clock, so two runs of them may differ;
the harness's resume guarantee is about its own work, which this submission isolates.
"""

import torch

from harness.submission_kit import Deadline, classification_loss, cosine, train


def unlearn(net, retain, forget, val):
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9, weight_decay=5e-4)
    train(net, retain, classification_loss(net), optimizer, epochs=2, schedule=cosine, deadline=Deadline(None), desc="fixed")
    return net
