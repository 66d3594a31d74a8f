# Checks that the loaders are what the 2023 Kaggle template's get_dataset(64) made, then fine-tunes.
import torch
from torch import nn

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def first_ids(loader):
    return next(iter(loader))["image_id"]


def unlearning(net, retain_loader, forget_loader, val_loader):
    for loader in (retain_loader, forget_loader, val_loader):
        assert loader.batch_size == 64, loader.batch_size
        assert first_ids(loader) != first_ids(loader), "every loader is shuffled anew on each pass"
    sample = next(iter(retain_loader))
    images = sample["image"]
    assert images.dtype == torch.float32 and images.shape[1:] == (3, 16, 16), (images.dtype, images.shape)
    assert 1.0 < float(images.max()) <= 255.0 and float(images.min()) >= 0.0, "raw 0..255 pixels"
    assert all(isinstance(image_id, str) for image_id in sample["image_id"])
    assert sample["age_group"].dtype == torch.int64
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    net.train()
    loss = nn.CrossEntropyLoss()(net(images.to(DEVICE)), sample["age_group"].to(DEVICE))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return net
