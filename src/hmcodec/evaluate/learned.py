"""Evaluate a trained codec on real bitstreams: every rate is measured from `.hmc` bytes.

For each image: encode all layers, decode the extracted base-only stream for the task metric
(the decoder never sees the enhancement chunk), decode the full stream for the image, and put
the estimated rate (from the same quantised latents' likelihoods) beside the measured one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from hmcodec.bitstream import Stream
from hmcodec.checkpoint import LoadedModel
from hmcodec.codec.api import decode, encode
from hmcodec.codec.scalable import BASE, ENHANCEMENT, pad_to_stride
from hmcodec.data import collate
from hmcodec.train.module import bits_per_pixel, psnr


@torch.no_grad()
def estimated_bits(model: LoadedModel, image: torch.Tensor) -> dict[int, float]:
    """Bits per layer that the entropy models estimate for ``image`` (no coding)."""
    codec = model.codec
    x = pad_to_stride(image[None])
    base = codec.forward_base(x)
    bits = {BASE: float(bits_per_pixel(base["likelihoods"], 1))}
    if codec.enhancement.has_layer:
        enhancement = codec.forward_enhancement(x, base["y_hat"])
        bits[ENHANCEMENT] = float(bits_per_pixel(enhancement["likelihoods"], 1))
    return bits


@dataclass
class Evaluation:
    """Per-image records and their means; ``bpp`` is always measured from stream bytes."""

    per_image: list[dict[str, Any]] = field(default_factory=list)
    task: dict[str, float] = field(default_factory=dict)

    def mean(self, key: str) -> float:
        values = [r[key] for r in self.per_image if key in r]
        return sum(values) / len(values) if values else float("nan")

    def summary(self) -> dict[str, float]:
        keys = [k for k in self.per_image[0] if isinstance(self.per_image[0][k], float)]
        return {k: self.mean(k) for k in keys} | self.task


def evaluate_model(
    model: LoadedModel, dataset: Dataset | Iterable[dict[str, Any]], progress: bool = False
) -> Evaluation:
    codec = model.codec
    metric = codec.task.metric()
    result = Evaluation()
    samples = tqdm(dataset, desc="evaluating", disable=not progress, leave=False)
    for index, sample in enumerate(samples):
        image = sample["image"]
        pixels = image.shape[-2] * image.shape[-1]
        stream = encode(model, image)
        full = Stream.from_bytes(stream.to_bytes())
        base_only = Stream.from_bytes(full.select([BASE]).to_bytes())
        base_decoded = decode(model, base_only, "base")
        metric.update([base_decoded.prediction], collate([sample]))
        estimate = estimated_bits(model, image)
        record: dict[str, Any] = {
            "index": index,
            "bpp": len(full.to_bytes()) * 8 / pixels,
            "bpp_base": full.chunk(BASE).payload_bytes * 8 / pixels,
            "bpp_estimated_base": estimate[BASE] / pixels,
            "overhead_bytes": float(full.overhead_bytes()),
        }
        if codec.enhancement.has_layer:
            record["bpp_enhancement"] = full.chunk(ENHANCEMENT).payload_bytes * 8 / pixels
            record["bpp_estimated_enhancement"] = estimate[ENHANCEMENT] / pixels
        record["bpp_estimated"] = sum(estimate.values()) / pixels
        decoded = decode(model, full, "all")
        if decoded.image is not None:
            record["psnr"] = float(psnr(decoded.image[None], image[None]))
        result.per_image.append(record)
    result.task = metric.compute()
    return result
