# The organizers' 2023 Kaggle template, cell for cell; only the GPU guard and the driver are dropped.
import os
import subprocess

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torchvision
from torch import nn, optim
from torch.utils.data import DataLoader, Dataset
from torchvision.models import resnet18

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# if DEVICE != "cuda":
#     raise RuntimeError("Make sure you have added an accelerator to your notebook; the submission will fail otherwise!")


def unlearning(net, retain_loader, forget_loader, val_loader):
    """Unlearning by fine-tuning on the retain set (one epoch), changing `net` in place."""
    epochs = 1
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    net.train()
    for _ in range(epochs):
        net.train()
        for sample in retain_loader:
            inputs = sample["image"]
            targets = sample["age_group"]
            inputs, targets = inputs.to(DEVICE), targets.to(DEVICE)
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
        scheduler.step()
    net.eval()
