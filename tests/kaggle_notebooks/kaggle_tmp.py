# The 2023 driver wrote its checkpoints to /kaggle/tmp; notebooks kept scratch files there too.
import os

import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CHECKPOINT = "/kaggle/tmp/unlearned_checkpoint_0.pth"


def unlearning(net, retain_loader, forget_loader, val_loader):
    os.makedirs("/kaggle/tmp", exist_ok=True)
    assert not os.path.exists(CHECKPOINT), "every run starts with an empty /kaggle/tmp"
    with torch.no_grad():
        net.fc.bias.add_(0.01)
    torch.save(net.state_dict(), CHECKPOINT)
    net.load_state_dict(torch.load(CHECKPOINT, weights_only=True))
    return net
