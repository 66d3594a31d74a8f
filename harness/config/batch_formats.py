"""The batch formats a competition can hand to `unlearn(net, retain, forget, val)`: names and keys.

Standard library only: the competition reader, the loaders (harness.data), the submission kit and
the sandbox's contract messages (harness.sandbox.contract) all read these names from here.

- `tuple`: `(images, labels)` batches (default_collate makes them a two-element list).
- `kaggle_dict`: the dict batches of the 2023 Kaggle notebooks, with the keys of the 2023 data
  loader: `image` (float32, raw 0..255 pixels), `image_id` (str), `age_group` (the label), `age`
  and `person_id` (int64). A dataset serves this format only if it records ages and person ids
  (harness.config.datasets, `has_kaggle_fields`).
"""

from __future__ import annotations

from dataclasses import dataclass

TUPLE = "tuple"
KAGGLE_DICT = "kaggle_dict"

# Keys of a `kaggle_dict` batch, in the order the 2023 data loader built its examples.
IMAGE_KEY = "image"
IMAGE_ID_KEY = "image_id"
LABEL_KEY = "age_group"
AGE_KEY = "age"
PERSON_ID_KEY = "person_id"
KAGGLE_DICT_KEYS = (IMAGE_KEY, IMAGE_ID_KEY, LABEL_KEY, AGE_KEY, PERSON_ID_KEY)


@dataclass(frozen=True)
class BatchFormat:
    name: str
    description: str  # how a participant reads it, for messages
    served_by: str  # a shipped competition with this format, named in hints


FORMATS: dict[str, BatchFormat] = {
    TUPLE: BatchFormat(TUPLE, "(images, labels) tuples", served_by="digits"),
    KAGGLE_DICT: BatchFormat(
        KAGGLE_DICT,
        "the 2023 dict batches (sample['image'], sample['age_group'], also 'image_id', 'age', 'person_id')",
        served_by="digits-kaggle",
    ),
}
BATCH_FORMATS = tuple(FORMATS)

# Former names still found in competition files, mapped to today's: the reader names the new one.
RENAMED = {"surf_dict": KAGGLE_DICT}
