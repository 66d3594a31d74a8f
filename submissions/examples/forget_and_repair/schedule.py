"""Helpers of the forget_and_repair example (imported by submission.py from the same folder)."""


def phase_steps(retain_batches: int, forget_batches: int) -> tuple[int, int]:
    """Steps of gradient ascent (one pass over the forget set, bounded by the retain set) and of repair (one epoch)."""
    return min(forget_batches, retain_batches), retain_batches


def unpack(batch, device):
    """(images, labels) on `device` from a tuple batch or a {"image", "age_group"} dict batch."""
    if isinstance(batch, dict):
        return batch["image"].to(device), batch["age_group"].to(device)
    images, labels = batch
    return images.to(device), labels.to(device)
