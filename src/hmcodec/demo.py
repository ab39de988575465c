"""``hmcodec demo``: train a small scalable codec on ShapesWorld, then code a held-back image.

Writes into the output folder: ``model.ckpt``, ``example.png``, ``example.hmc`` (both layers),
``example_base.hmc`` (base layer only), the base-only task outputs, the full reconstruction and
``summary.json`` with rates measured from the streams over a held-back set.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from hmcodec.bitstream import read_stream, write_stream
from hmcodec.checkpoint import load_model
from hmcodec.codec.api import decode, encode
from hmcodec.codec.scalable import BASE
from hmcodec.data import build_dataset
from hmcodec.errors import ConfigError
from hmcodec.evaluate.image_metrics import psnr
from hmcodec.evaluate.learned import evaluate_model
from hmcodec.io import write_png
from hmcodec.train.config import load_config
from hmcodec.train.run import process_rank, train

#: the held-back evaluation: ShapesWorld's test split (never seen in training), at the training
#: images' size so that shapes have the scale the task model learned.
HELD_BACK = {"name": "shapesworld", "split": "test", "image_size": 64, "num_samples": 64}


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def parallel_overrides(processes: int, batch_size: int) -> list[str]:
    """Config overrides that train on ``processes`` CPU processes of one thread each (DDP,
    Lightning's launcher), the batch split between them so each step still sees
    ``batch_size`` samples."""
    if processes == 1:
        return []
    if batch_size % processes:
        raise ConfigError(
            f"the demo's batch of {batch_size} does not split evenly over {processes} processes."
        )
    return [
        f"trainer.devices={processes}",
        "trainer.strategy=ddp",
        "trainer.accelerator=cpu",
        f"data.batch_size={batch_size // processes}",
    ]


def run_demo(
    out: str | Path,
    overrides: list[str] | None = None,
    progress: bool = True,
    held_back: dict[str, Any] | None = None,
    processes: int = 1,
) -> dict[str, Any]:
    """Train the demo codec (on ``processes`` CPU processes), code an example, evaluate."""
    out = Path(out)
    batch = int(load_config("demo", overrides).data.get("batch_size", 8))
    config = load_config("demo", [*parallel_overrides(processes, batch), *(overrides or [])])
    started = time.time()
    model_path = train(config, out, resume=True, progress=progress)
    training_seconds = time.time() - started
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()  # what follows runs in this process alone
    if process_rank() != 0:  # a training process Lightning started: its work is done
        return {}
    model = load_model(model_path)

    dataset = build_dataset(held_back or HELD_BACK)
    sample = dataset[0]
    write_png(sample["image"], out / "example.png")
    stream = encode(model, sample["image"])
    write_stream(stream, out / "example.hmc")
    write_stream(read_stream(out / "example.hmc").select([BASE]), out / "example_base.hmc")
    base = decode(model, read_stream(out / "example_base.hmc"), "base")
    outputs = model.codec.task.save_prediction(base.prediction, out / "example_base")
    full = decode(model, read_stream(out / "example.hmc"), "all")
    assert full.image is not None  # the demo model's enhancement layer codes the image
    outputs.append(write_png(full.image, out / "example_reconstruction.png"))

    evaluation = evaluate_model(model, dataset, progress=progress)
    pixels = stream.height * stream.width
    summary: dict[str, Any] = {
        "example": {
            "size": [stream.height, stream.width],
            "bytes": {f"layer{c.index}": c.payload_bytes for c in stream.chunks}
            | {"total": len(stream.to_bytes())},
            "bpp": {f"layer{c.index}": c.payload_bytes * 8 / pixels for c in stream.chunks}
            | {"total": len(stream.to_bytes()) * 8 / pixels},
            "psnr": psnr(sample["image"], full.image),
            "outputs": [p.name for p in outputs],
        },
        "held_back": {
            "dataset": held_back or HELD_BACK,
            "images": len(evaluation.per_image),
            **evaluation.summary(),
        },
        "training_seconds": round(training_seconds, 1),
        "training_processes": processes,
        "config": config.as_dict(),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    held = summary["held_back"]
    size = summary["held_back"]["dataset"]["image_size"]
    print(
        f"\nhmcodec demo — results in {out}/ (held-back: {held['images']} ShapesWorld test "
        f"images, {size}×{size}, real streams)"
    )
    print(
        _table(
            [
                (
                    "base layer (measured)",
                    f"{held['bpp_base']:.4f} bpp  (estimated {held['bpp_estimated_base']:.4f})",
                ),
                (
                    "enhancement layer (measured)",
                    f"{held.get('bpp_enhancement', 0.0):.4f} bpp  "
                    f"(estimated {held.get('bpp_estimated_enhancement', 0.0):.4f})",
                ),
                ("whole stream incl. container", f"{held['bpp']:.4f} bpp"),
                (
                    "base-only segmentation mIoU",
                    f"{held['miou']:.3f}  (pixel accuracy {held['pixel_accuracy']:.3f})",
                ),
                (
                    "full-decode PSNR",
                    f"{held.get('psnr', float('nan')):.2f} dB  (base alone, "
                    f"through g_a: {held.get('psnr_base_direct', float('nan')):.2f} dB)",
                ),
                ("training time", f"{training_seconds:.0f} s"),
            ]
        )
    )
    return summary
