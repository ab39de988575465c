"""What the benchmark runs on: images of a folder or dataset, and random-weight models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hmcodec.checkpoint import LoadedModel, prepare
from hmcodec.codec.methods import EnhancementMethod
from hmcodec.codec.scalable import ScalableCodec
from hmcodec.data import build_dataset
from hmcodec.errors import ConfigError
from hmcodec.evaluate.bench.coders import amplify
from hmcodec.evaluate.learned import sample_name


def load_images(
    images: str | Path | None = None,
    dataset: dict[str, Any] | None = None,
    max_images: int | None = None,
) -> tuple[list[Tensor], list[str]]:
    """The images of a folder or of a dataset spec (default: Kodak), with their names."""
    if images is not None and dataset is not None:
        raise ConfigError("give either an image folder or a dataset, not both.")
    spec = {"name": "folder", "root": str(images)} if images is not None else dataset
    data = build_dataset(spec or {"name": "kodak"})
    count = len(data) if max_images is None else min(len(data), max_images)  # type: ignore[arg-type]
    samples = [data[i] for i in range(count)]
    if not samples:
        raise ConfigError("there are no images to benchmark.")
    return [s["image"] for s in samples], [sample_name(s, i) for i, s in enumerate(samples)]


def random_model(config: dict[str, Any], latent_gain: float = 1.0, seed: int = 0) -> LoadedModel:
    """A freshly built (random-weight) codec, its analysis outputs :func:`~.coders.amplify`-ed."""
    torch.manual_seed(seed)
    codec = ScalableCodec(config)
    if latent_gain != 1.0:
        amplify(codec.base_analysis[-1], latent_gain)
        enhancement = codec.enhancement
        if enhancement.has_layer:
            assert isinstance(enhancement, EnhancementMethod)  # only these send a layer
            amplify(enhancement.analysis[-1], latent_gain)
    return prepare(codec, {"random_weights": True, "latent_gain": latent_gain})
