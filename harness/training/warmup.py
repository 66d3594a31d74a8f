def warm_up(template, device, split, batch_size: int) -> None:
    """Pay torch's one-time costs before the clock starts, on a throwaway copy of the model.

    The first optimizer step imports torch._dynamo (seconds on a CPU) and the first forward and
    backward passes initialise kernels; without this, the first run of every sandbox would be
    charged for them.
    """
    import copy

    import torch
    from torch.nn import functional as F

    count = min(batch_size, len(split))
    if count < 2:  # batch norm cannot train on one example; skip rather than fail
        return
    model = copy.deepcopy(template).to(device).train()
    images, labels = split.images[:count].to(device), split.labels[:count].to(device)
    for optimizer_class in (torch.optim.SGD, torch.optim.Adam):
        optimizer = optimizer_class(model.parameters(), lr=0.0)
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        model.eval()(images)
