# The 2023 driver passed the device as a fifth argument; some notebooks took it.
import torch
from torch import nn


def unlearning(net, retain, forget, validation, device):
    assert isinstance(device, (str, torch.device)) and torch.device(device).type in ("cpu", "cuda"), device
    net.to(device).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    sample = next(iter(retain))
    loss = nn.CrossEntropyLoss()(net(sample["image"].to(device)), sample["age_group"].to(device))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return net
