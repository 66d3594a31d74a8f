"""Benign: the 2023 Kaggle notebooks' name `unlearning`, changing the network in place and returning None."""

import torch


def unlearning(net, retain, forget, val):
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    for images, labels in retain:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()
