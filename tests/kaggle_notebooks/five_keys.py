# Reads every key of the 2023 batches (some 2023 notebooks grouped the forget set by person).
import pandas as pd
import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def unlearning(net, retain_loader, forget_loader, val_loader):
    rows = []
    for sample in forget_loader:
        assert set(sample) == {"image", "image_id", "age_group", "age", "person_id"}, sorted(sample)
        assert sample["age"].dtype == torch.int64 and sample["person_id"].dtype == torch.int64
        rows += [
            {"image_id": image_id, "person_id": int(person), "age": int(age), "age_group": int(group)}
            for image_id, person, age, group in zip(sample["image_id"], sample["person_id"], sample["age"], sample["age_group"])
        ]
    people = pd.DataFrame(rows).groupby("person_id").size()
    assert len(people) >= 2, people
    net.train()
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3)
    sample = next(iter(retain_loader))
    loss = torch.nn.functional.cross_entropy(net(sample["image"].to(DEVICE)), sample["age_group"].to(DEVICE))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
