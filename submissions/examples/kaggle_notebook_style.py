"""Example: a 2023 Kaggle notebook unchanged in form: `unlearning`, dict batches, in-place, returns None.

The notebooks of the NeurIPS 2023 challenge defined `unlearning(net, retain_loader, forget_loader,
val_loader)` and read batches as {"image", "age_group", ...} dicts; the harness accepts that name, and
competitions configured with batch_format = "kaggle_dict" (digits-kaggle, surf) hand out such
batches. This version reads both batch formats, so it also runs on the tuple-batch competitions
(digits, CIFAR-10).
"""

import os

import torch
from torch import nn, optim


def _images_and_labels(batch, device):
    if isinstance(batch, dict):
        return batch["image"].to(device), batch["age_group"].to(device)
    images, labels = batch
    return images.to(device), labels.to(device)


def unlearning(net, retain_loader, forget_loader, val_loader):
    device = os.environ.get("UNLEARN_DEVICE", "cpu")
    epochs = 1
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    net.train()
    for _ in range(epochs):
        for batch in retain_loader:
            inputs, targets = _images_and_labels(batch, device)
            optimizer.zero_grad()
            loss = criterion(net(inputs), targets)
            loss.backward()
            optimizer.step()
        scheduler.step()
    net.eval()
