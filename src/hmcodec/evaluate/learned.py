"""Evaluate a trained codec on real bitstreams: every rate is measured from `.hmc` bytes.

For each image: encode all layers, decode the extracted base-only stream for the task metric
(the decoder never sees the enhancement chunk), decode the full stream for the image, and put
the estimated rate (from the same quantised latents' likelihoods) beside the measured one.

:func:`evaluate_models` turns one evaluation per model into an RD results file (one point per
model) in CompressAI's layout (the file: docs/evaluation.md). Rates of one point:

* ``bpp``: what the method's RD curve is plotted against — the whole stream (container
  included) for methods that count the base rate (conditional, residual, simulcast, direct),
  the size of an enhancement-only stream for ``standalone`` (the upper baseline), and the size
  of the extracted base-only stream with ``layers="base"``;
* ``bpp_total``: the whole stream; ``bpp_base`` / ``bpp_enhancement``: the layers' payloads;
* ``bpp_payload``: the payload counterpart of ``bpp`` (the same layers, without the container's
  header and checksums; on 64×64 images the container alone is about 0.06 bpp);
* ``bpp_estimated`` (estimated counterpart of ``bpp``, without container bytes),
  ``bpp_estimated_base`` and ``bpp_estimated_enhancement``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
import yaml
from torch.utils.data import Dataset
from tqdm import tqdm

from hmcodec import __version__
from hmcodec.bitstream import Stream
from hmcodec.checkpoint import LoadedModel, load_model
from hmcodec.codec.api import decode, encode, operating_point, stream_bpp
from hmcodec.codec.scalable import BASE, ENHANCEMENT, LAYER_NAMES, pad_to_stride
from hmcodec.data import build_dataset, collate
from hmcodec.errors import ConfigError
from hmcodec.evaluate.image_metrics import ms_ssim, psnr
from hmcodec.evaluate.results import RDResults
from hmcodec.losses import bits_per_pixel
from hmcodec.tasks.base import TaskMetric

LAYERS = ("base", "all")


@torch.no_grad()
def estimated_bits(
    model: LoadedModel, image: torch.Tensor, lmbdas: dict[int, float] | None = None
) -> dict[int, float]:
    """Bits per layer that the entropy models estimate for ``image`` (no coding), at the
    operating point ``lmbdas`` of a variable-rate model (default: quality 0.5)."""
    codec = model.codec
    point = operating_point(codec) if lmbdas is None else lmbdas
    x = pad_to_stride(image[None], codec.stride)
    base = codec.forward_base(x, lmbda=point.get(BASE))
    bits = {BASE: float(bits_per_pixel(base["likelihoods"], 1))}
    if codec.enhancement.has_layer:
        enhancement = codec.forward_enhancement(x, base["y_hat"], point.get(ENHANCEMENT))
        bits[ENHANCEMENT] = float(bits_per_pixel(enhancement["likelihoods"], 1))
    return bits


@dataclass
class Evaluation:
    """Per-image records and their means; ``bpp`` is always measured from stream bytes."""

    per_image: list[dict[str, Any]] = field(default_factory=list)
    task: dict[str, float] = field(default_factory=dict)
    layers: str = "all"

    def mean(self, key: str) -> float:
        values = [r[key] for r in self.per_image if key in r]
        return sum(values) / len(values) if values else float("nan")

    def summary(self) -> dict[str, float]:
        keys = [k for k in self.per_image[0] if isinstance(self.per_image[0][k], float)]
        return {k: self.mean(k) for k in keys} | self.task


def sample_name(sample: dict[str, Any], index: int) -> str:
    """A short name for a sample: its file name if it has one, else its index."""
    meta = sample.get("meta") or {}
    if isinstance(meta, dict) and meta.get("path"):
        return Path(str(meta["path"])).name
    return str(meta.get("index", index)) if isinstance(meta, dict) else str(index)


def parse_dataset_spec(tokens: str | Sequence[str]) -> dict[str, Any]:
    """``["shapesworld", "split=test", "image_size=256"]`` → a ``build_dataset`` spec.

    The first token is the dataset name (or ``name=...``); the others are ``key=value`` with the
    value read as YAML (``256`` → int, ``true`` → bool, ``[1, 2]`` → list).
    """
    items = tokens.split() if isinstance(tokens, str) else list(tokens)
    if not items:
        raise ConfigError("the dataset spec is empty; e.g. --dataset kodak.")
    spec: dict[str, Any] = {}
    if "=" not in items[0]:
        spec["name"] = items.pop(0)
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"dataset option {item!r} is not KEY=VALUE.")
        try:
            spec[key] = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            raise ConfigError(f"dataset option {item!r} has a value that is not YAML.") from None
    if "name" not in spec:
        raise ConfigError("the dataset spec names no dataset; e.g. --dataset kodak.")
    return spec


def describe_dataset(spec: dict[str, Any]) -> str:
    """The spec as typed: ``shapesworld split=test image_size=256``."""
    options = [f"{k}={v}" for k, v in spec.items() if k != "name"]
    return " ".join([str(spec.get("name", "?")), *options])


def has_task_targets(model: LoadedModel, sample: dict[str, Any]) -> bool:
    """Whether ``sample`` carries every target that ``model``'s task metric needs."""
    keys = model.codec.task.target_keys
    return bool(keys) and all(sample.get(k) is not None for k in keys)


@torch.no_grad()
def score_task(
    model: LoadedModel, metric: TaskMetric, image: torch.Tensor, batch: dict[str, Any]
) -> None:
    """Add the task head's prediction on ``image`` itself (3×H×W in [0, 1], no coding) to
    ``metric``, scored against the targets of ``batch`` (``collate([sample])``).

    This is how ``uncompressed_*`` metrics are measured, and how ``hmcodec baselines
    --task-model`` scores images decoded by classical codecs.
    """
    metric.update(model.codec.task.predict(image[None]), batch)


@torch.no_grad()
def evaluate_model(
    model: LoadedModel,
    dataset: Dataset | Iterable[dict[str, Any]],
    progress: bool = False,
    layers: str = "all",
    max_images: int | None = None,
    per_image_task: bool = False,
    lmbdas: dict[int, float] | None = None,
) -> Evaluation:
    """Code every image of ``dataset`` into a real stream and score what the decoder gets.

    ``layers="base"`` skips the full decode (no image metrics); the task metric always comes
    from the extracted base-only stream and is skipped for samples without the task's targets
    (e.g. Kodak). ``per_image_task`` adds each image's own task metrics to its record.
    ``lmbdas`` is the operating point of a variable-rate model (:func:`operating_point`).
    """
    lmbdas = operating_point(model.codec) if lmbdas is None else lmbdas
    if layers not in LAYERS:
        raise ConfigError(f"layers must be one of {', '.join(LAYERS)}, not {layers!r}.")
    codec = model.codec
    metric = codec.task.metric()
    # reference: the same task model on the uncompressed image (no coding at all)
    uncompressed = codec.task.metric()
    secondary = codec.secondary_task
    secondary_metric = secondary.metric() if secondary is not None else None
    scored = 0
    result = Evaluation(layers=layers)
    # a map-style Dataset iterates through __getitem__ (until IndexError), typed or not
    samples = cast("Iterable[dict[str, Any]]", dataset)
    total = len(dataset) if hasattr(dataset, "__len__") else None  # type: ignore[arg-type]
    if max_images is not None:
        samples = itertools.islice(samples, max_images)
        total = min(total, max_images) if total is not None else max_images
    bar = tqdm(samples, desc=f"evaluating {model.name}", total=total, disable=not progress)
    for index, sample in enumerate(bar):
        image = sample["image"]
        pixels = image.shape[-2] * image.shape[-1]
        stream = encode(model, image, lmbdas=lmbdas)
        full = Stream.from_bytes(stream.to_bytes())
        base_only = Stream.from_bytes(full.select([BASE]).to_bytes())
        base_decoded = decode(model, base_only, "base")
        if has_task_targets(model, sample):
            batch = collate([sample])
            metric.update([base_decoded.prediction], batch)
            score_task(model, uncompressed, image, batch)
            scored += 1
        estimate = estimated_bits(model, image, lmbdas)
        record: dict[str, Any] = {
            "index": index,
            "image": sample_name(sample, index),
            "bpp": stream_bpp(base_only if layers == "base" else full)["bpp"],
            "bpp_total": stream_bpp(full)["bpp"],
            "bpp_base": full.chunk(BASE).payload_bytes * 8 / pixels,
            "bpp_base_stream": stream_bpp(base_only)["bpp"],
            "bpp_estimated_base": estimate[BASE] / pixels,
            "overhead_bytes": float(full.overhead_bytes()),
        }
        if codec.enhancement.has_layer:
            record["bpp_enhancement"] = full.chunk(ENHANCEMENT).payload_bytes * 8 / pixels
            record["bpp_enhancement_stream"] = stream_bpp(full.select([ENHANCEMENT]))["bpp"]
            record["bpp_estimated_enhancement"] = estimate[ENHANCEMENT] / pixels
        used = [BASE] if layers == "base" else list(estimate)
        record["bpp_estimated"] = sum(estimate[i] for i in used) / pixels
        recon_head = getattr(codec, "recon_head", None)
        if recon_head is not None:  # g_a(ŷ_b): what the base alone gives a person
            with torch.no_grad():
                direct = recon_head(base_decoded.latents[BASE])[
                    0, :, : image.shape[-2], : image.shape[-1]
                ]
            record["psnr_base_direct"] = float(psnr(image, direct.clamp(0, 1)))
        if per_image_task and has_task_targets(model, sample):
            own = codec.task.metric()
            own.update([base_decoded.prediction], collate([sample]))
            record |= {k: float(v) for k, v in own.compute().items()}
        if layers == "all":
            decoded = decode(model, full, "all")
            if (
                secondary is not None
                and secondary_metric is not None
                and all(k in sample for k in secondary.target_keys)
            ):
                secondary_metric.update([decoded.secondary_prediction], collate([sample]))
            if decoded.image is not None:
                record["psnr"] = float(psnr(image, decoded.image))
                record["ms_ssim"] = float(ms_ssim(image, decoded.image))
        result.per_image.append(record)
    if not result.per_image:
        raise ConfigError("the dataset holds no images to evaluate.")
    if scored:
        result.task = {k: float(v) for k, v in metric.compute().items()}
        result.task |= {f"uncompressed_{k}": float(v) for k, v in uncompressed.compute().items()}
    if secondary_metric is not None and layers == "all":
        result.task |= {f"enhancement_{k}": float(v) for k, v in secondary_metric.compute().items()}
    return result


def rd_point(model: LoadedModel, evaluation: Evaluation) -> tuple[float, dict[str, float]]:
    """The RD point of one evaluation: ``bpp`` and the other ``results`` keys (module doc)."""
    enhancement = model.codec.enhancement
    mean = evaluation.mean
    if evaluation.layers == "base":
        bpp = mean("bpp_base_stream")
        metrics = {
            "bpp_total": mean("bpp_total"),
            "bpp_payload": mean("bpp_base"),
            "bpp_base": mean("bpp_base"),
            "bpp_estimated": mean("bpp_estimated_base"),
            "bpp_estimated_base": mean("bpp_estimated_base"),
            "psnr_base_direct": mean("psnr_base_direct"),
        }
        return bpp, metrics | evaluation.task
    has_layer = enhancement.has_layer
    est_base = mean("bpp_estimated_base")
    est_enh = mean("bpp_estimated_enhancement") if has_layer else 0.0
    enh = mean("bpp_enhancement") if has_layer else 0.0
    if enhancement.counts_base_rate:
        bpp, estimated, payload = mean("bpp_total"), est_base + est_enh, mean("bpp_base") + enh
    else:
        bpp, estimated, payload = mean("bpp_enhancement_stream"), est_enh, enh
    metrics = {
        "bpp_total": mean("bpp_total"),
        "bpp_payload": payload,
        "bpp_base": mean("bpp_base"),
        "bpp_enhancement": enh,
        "bpp_estimated": estimated,
        "bpp_estimated_base": est_base,
        "bpp_estimated_enhancement": est_enh,
        "psnr-rgb": mean("psnr"),
        "ms-ssim": mean("ms_ssim"),
        "psnr_base_direct": mean("psnr_base_direct"),
    }
    return bpp, metrics | evaluation.task


def point_provenance(
    model: LoadedModel,
    layers: str,
    dataset: dict[str, Any],
    images: int,
    command: str,
    lmbdas: dict[int, float] | None = None,
) -> dict[str, Any]:
    """Where one RD point comes from: the model file, its fingerprint and config, the command
    and, for a variable-rate model, the operating point (``lmbda``: λ by layer name)."""
    config = model.codec.config
    trained = model.provenance.get("config")
    operating = {LAYER_NAMES[i]: value for i, value in (lmbdas or {}).items()}
    return {
        "model": str(model.path) if model.path else None,
        "fingerprint": model.fingerprint.hex(),
        "config": trained.get("name") if isinstance(trained, dict) else None,
        "architecture": config.architecture,
        "method": config.method,
        "base_entropy": config.base_entropy,
        "enhancement_entropy": config.enhancement_entropy,
        "layers": layers,
        "dataset": dict(dataset),
        "images": images,
        "command": command,
        "hmcodec": __version__,
    } | ({"lmbda": operating} if operating else {})


def trained_base_lmbda(model: LoadedModel) -> float | None:
    """The λ_b a variable-rate base was held at while the model's enhancement layer trained (the
    last enhancement stage's ``base_lmbda`` in the provenance), or None."""
    stages = model.provenance.get("config", {}).get("stages", [])
    held = [s.get("base_lmbda") for s in stages if s.get("stage") == "enhancement"]
    return float(held[-1]) if held and held[-1] is not None else None


def operating_points(
    model: LoadedModel,
    qualities: Sequence[float] | None = None,
    base_lmbda: float | None = None,
) -> list[dict[int, float]]:
    """The operating points an evaluation sweeps: ``[{}]`` for a fixed-rate model; for a
    variable-rate one each quality of ``qualities`` (default: one per gain anchor). A
    variable-rate base is held at ``base_lmbda`` (default: :func:`trained_base_lmbda`) while the
    enhancement sweeps; a model whose only variable-rate layer is a held base has one point."""
    ranges = model.codec.rate_ranges()
    if not ranges:
        return [{}]
    held = trained_base_lmbda(model) if base_lmbda is None else base_lmbda
    if held is not None and 0 in ranges:
        try:
            held = ranges[0].check(held, LAYER_NAMES[0])
        except ValueError as error:
            raise ConfigError(f"{model.name}: {error}.") from None
    else:
        held = None
    sweeping = [rate for index, rate in ranges.items() if not (index == 0 and held is not None)]
    if qualities is None:
        levels = max((rate.levels for rate in sweeping), default=1)
        qualities = [k / (levels - 1) for k in range(levels)] if levels > 1 else [0.5]
    points = []
    for quality in qualities:
        point = operating_point(model.codec, quality=quality)
        if held is not None:
            point[0] = held
        if point not in points:
            points.append(point)
    return points


def default_name(models: Sequence[LoadedModel], layers: str) -> str:
    """``hmcodec <method>`` (methods joined if mixed), ``(base layer)`` with ``layers="base"``."""
    methods = "+".join(dict.fromkeys(m.codec.config.method for m in models))
    return f"hmcodec {methods}" + (" (base layer)" if layers == "base" else "")


def evaluate_models(
    models: Sequence[str | Path | LoadedModel],
    dataset: dict[str, Any],
    layers: str = "all",
    max_images: int | None = None,
    per_image: bool = False,
    name: str | None = None,
    command: str = "",
    progress: bool = False,
    qualities: Sequence[float] | None = None,
    base_lmbda: float | None = None,
) -> RDResults:
    """One RD point per model on the dataset ``dataset`` (a ``build_dataset`` spec), and per
    operating point of a variable-rate model: ``qualities`` in [0, 1] (:func:`operating_point`),
    by default its gain anchors (quality k / (levels − 1)), with a variable-rate base held at
    ``base_lmbda`` (:func:`operating_points`)."""
    if not models:
        raise ConfigError("give at least one model to evaluate.")
    loaded = [m if isinstance(m, LoadedModel) else load_model(m) for m in models]
    data = build_dataset(dataset)
    if len(data) == 0:  # type: ignore[arg-type]
        raise ConfigError(f"dataset {dataset} holds no images.")
    curve = RDResults(name or default_name(loaded, layers))
    for model in loaded:
        for lmbdas in operating_points(model, qualities, base_lmbda):
            evaluation = evaluate_model(
                model, data, progress, layers, max_images, per_image_task=per_image, lmbdas=lmbdas
            )
            bpp, metrics = rd_point(model, evaluation)
            images = len(evaluation.per_image)
            provenance = point_provenance(model, layers, dataset, images, command, lmbdas)
            curve.add_point(bpp, metrics, provenance, evaluation.per_image if per_image else None)
    images = len(evaluation.per_image)
    spec = " ".join(
        [str(dataset["name"])] + [f"{k}={v}" for k, v in dataset.items() if k != "name"]
    )
    curve.description = (
        f"{images} images of {spec}; rates measured from real .hmc streams "
        f"({'base layer only' if layers == 'base' else 'all layers'})."
    )
    return curve.sorted()
