# The organizers' 2023 template with the 2023 driver's checkpoint cell: the unlearned model is saved
# to /kaggle/tmp and read back, as the driver did for each of its runs. GPU guard dropped.
import os

import numpy as np
import pandas as pd
import torch
from torch import nn, optim

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
RESULTS = pd.DataFrame(columns=["run", "retain_loss"])


def unlearning(net, retain_loader, forget_loader, val_loader):
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=1)
    net.train()
    losses = []
    for sample in retain_loader:
        inputs, targets = sample["image"].to(DEVICE), sample["age_group"].to(DEVICE)
        optimizer.zero_grad()
        loss = criterion(net(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    scheduler.step()
    RESULTS.loc[len(RESULTS)] = [os.environ.get("UNLEARN_SEED"), float(np.mean(losses))]
    os.makedirs("/kaggle/tmp", exist_ok=True)
    checkpoint = "/kaggle/tmp/unlearned_checkpoint_0.pth"
    torch.save(net.state_dict(), checkpoint)
    net.load_state_dict(torch.load(checkpoint, weights_only=True))
    net.eval()
