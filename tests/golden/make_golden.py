"""Write the golden streams of ``tests/test_golden_streams.py`` with the hmcodec on the path.

Two tiny random-weight models (fixed seeds, latent gain 30 as in conftest, so real symbols and
the escape path are coded), two ShapesWorld test images each; for every pair the stream
(``.hmc``), the decoded image (``.png``) and the base task's prediction (``.npy``). Written
once per stream format version, by that version's code, and never rewritten: later versions
must decode them bit-identically (or refuse them by version with one sentence).

Run from the repository root:  python tests/golden/make_golden.py tests/golden/v<version>
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import torch

from hmcodec.bitstream import write_stream
from hmcodec.checkpoint import prepare, save_model
from hmcodec.codec import ScalableCodec
from hmcodec.codec.api import decode, encode
from hmcodec.data import build_dataset
from hmcodec.io import write_png

TINY = {
    "transform": "tiny",
    "base_channels": 8,
    "enhancement_channels": 16,
    "side_channels": 8,
    "task": {"name": "segmentation-tiny", "num_classes": 6, "width": 8},
}
MODELS = {
    "context-conditional": {"method": "conditional"},
    "checkerboard-residual": {
        "method": "residual",
        "base_entropy": "checkerboard",
        "enhancement_entropy": "checkerboard",
    },
}
#: (height, width, ShapesWorld test index): one on the 16-pixel grid, one off it.
IMAGES = ((32, 48, 0), (37, 29, 1))


def build(settings: dict, seed: int) -> ScalableCodec:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        codec = ScalableCodec(copy.deepcopy(TINY) | settings)
    with torch.no_grad():
        for analysis in (codec.base_analysis, codec.enhancement.analysis):
            analysis[-1].weight.mul_(30.0)
            analysis[-1].bias.mul_(30.0)
    return codec


def image(height: int, width: int, index: int) -> torch.Tensor:
    spec = {"name": "shapesworld", "split": "test", "image_size": [48, 48]}
    return build_dataset(spec | {"num_samples": index + 1})[index]["image"][:, :height, :width]


def main(out: Path) -> None:
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    for seed, (name, settings) in enumerate(MODELS.items()):
        codec = build(settings, seed)
        save_model(codec, out / f"{name}.ckpt", provenance={"golden": name})
        model = prepare(codec)
        for height, width, index in IMAGES:
            stem = out / f"{name}-{width}x{height}"
            stream = encode(model, image(height, width, index).contiguous())
            write_stream(stream, stem.with_suffix(".hmc"))
            decoded = decode(model, stream, "all")
            write_png(decoded.image, stem.with_suffix(".png"))
            np.save(stem.with_suffix(".npy"), np.asarray(decoded.prediction))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
