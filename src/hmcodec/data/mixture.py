"""``mixture``: images of several datasets in one training set (reconstruction samples).

An image layer meant for natural photos trains on more than one source (for example CamVid and
COCO128 crops, issue 13). The parts may carry different targets, so a mixture yields the
``image`` key only, which is all a reconstruction layer needs.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset

from hmcodec.errors import ConfigError


class Mixture(Dataset):
    """The samples of ``parts`` one after another, each reduced to its ``image``."""

    def __init__(self, parts: Sequence[Dataset]) -> None:
        if not parts:
            raise ConfigError("a mixture dataset needs at least one part.")
        self.parts = list(parts)
        self.ends: list[int] = []
        total = 0
        for part in self.parts:
            total += len(part)  # type: ignore[arg-type]
            self.ends.append(total)

    def __len__(self) -> int:
        return self.ends[-1]

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        index %= len(self)
        part = bisect.bisect_right(self.ends, index)
        start = self.ends[part - 1] if part else 0
        return {"image": self.parts[part][index - start]["image"]}
