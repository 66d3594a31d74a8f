# Reads the batches as (inputs, targets) tuples, as CIFAR-10 starting-kit code did.
import torch
from torch import nn

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def unlearning(net, retain_loader, forget_loader, val_loader):
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3)
    for inputs, targets in retain_loader:
        loss = nn.CrossEntropyLoss()(net(inputs.to(DEVICE)), targets.to(DEVICE))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
