"""scikit-learn's digits in the form of the 2023 Kaggle data: public, bundled, no files.

The same 1,797 images, ids and split as `digits` (harness.data.readers.digits), shaped as the 2023
challenge's images were: 3 channels, IMAGE_SIZE x IMAGE_SIZE, raw 0..255 float32 pixels with
integer values (the 2023 loader read uint8 images and cast them), no normalisation. Each 8x8
image (0..16 intensities) is upscaled bilinearly, scaled by 255 / 16, rounded, and repeated over
the three channels.

The 2023 examples also carried `age` and `person_id`; the digits have neither, so:

- `age`: the digit itself, the value `age_group` (the label) bins with bins of width one.
- `person_id`: a stand-in person. The digits' writers are not recorded (scikit-learn's copy of the
  UCI test set has 13 writers, unlabelled), so the stand-in people are blocks of PERSON_BLOCK
  consecutive images in scikit-learn's order: person k holds images 18k .. 18k + 17 (100 people).
  The group of an image (the manifest's `group`, forget rule "groups") is its person, as in SURF.

Why IMAGE_SIZE = 16: a training step of torchvision's resnet18 (batch 64, one CPU thread) costs
about as much at 16x16 as at 8x8 (forward and backward 90 ms against 77 ms; its last stages run at
1x1 either way, and Adam's step adds about 60 ms at any size) and 1.8x that at 32x32 (164 ms). The
retrain pool trains a resnet18 per model, so 16x16 keeps some spatial extent in the first stages at
nearly the 8x8 price.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from torch.nn import functional as F

from harness.data.readers import digits
from harness.data.examples import Examples
from harness.data.readers.digits import assign_splits  # noqa: F401 (the same split as `digits`)

IMAGE_SIZE = 16
PERSON_BLOCK = 18
_CHANNELS = 3


def read_examples(location: Path | None = None, *, expected_md5: Mapping[str, str] | None = None) -> Examples:
    """All 1,797 digits as 2023-style images, with stand-in ages and people (arguments unused)."""
    source = digits.read_examples()
    person_ids = np.arange(len(source), dtype=np.int64) // PERSON_BLOCK
    return Examples(
        ids=source.ids,
        labels=source.labels,
        groups=np.array([f"person-{person:03d}" for person in person_ids], dtype=str),
        origin=source.origin,
        content_md5=source.content_md5,
        images=kaggle_pixels(source.images),
        ages=source.labels.copy(),
        person_ids=person_ids,
    )


def kaggle_pixels(unit_images: torch.Tensor) -> torch.Tensor:
    """[N, 1, 8, 8] intensities in [0, 1] -> [N, 3, IMAGE_SIZE, IMAGE_SIZE] integer-valued 0..255 float32."""
    upscaled = F.interpolate(unit_images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    pixels = torch.round(upscaled * 255.0).clamp_(0.0, 255.0)
    return pixels.expand(-1, _CHANNELS, -1, -1).contiguous()
