"""Running the benchmark: every coder on every image, interleaved, with ratios and metadata."""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import compressai
import torch
from torch import Tensor
from tqdm import tqdm

from hmcodec import __version__
from hmcodec.checkpoint import LoadedModel
from hmcodec.errors import ConfigError
from hmcodec.evaluate.bench.coders import REFERENCES, Coder, hmcodec_coders, reference_coders
from hmcodec.evaluate.bench.memory import peak_memory
from hmcodec.evaluate.bench.report import BenchResult, BenchRow


def _timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    """``function(*args)``, its wall-clock seconds and the process's CPU seconds (all threads)."""
    cpu, start = time.process_time(), time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start, time.process_time() - cpu


def _measure(
    coder: Coder, row: BenchRow, image: Tensor, name: str, repeat: int, warm_up: bool
) -> None:
    """Add one image's medians and rates to ``row`` (memory too, on the warm-up image)."""
    state = coder.setup(image)
    if warm_up:  # untimed, measuring peak memory
        encoded, enc_mem = peak_memory(coder.encode, state)
        _, dec_mem = peak_memory(coder.decode, state, encoded)
        row.memory = {f"encode_{k}": v for k, v in enc_mem.items()}
        row.memory |= {f"decode_{k}": v for k, v in dec_mem.items()}
    enc_times, dec_times, enc_cpu, dec_cpu = [], [], [], []
    for _ in range(repeat):
        encoded, seconds, cpu = _timed(coder.encode, state)
        enc_times.append(seconds)
        enc_cpu.append(cpu)
        _, seconds, cpu = _timed(coder.decode, state, encoded)
        dec_times.append(seconds)
        dec_cpu.append(cpu)
    measured, estimated = coder.rate(image, state, encoded)
    row.images.append(name)
    row.pixels.append(int(image.shape[-2] * image.shape[-1]))
    row.encode_s.append(statistics.median(enc_times))
    row.decode_s.append(statistics.median(dec_times))
    row.encode_cpu_s.append(statistics.median(enc_cpu))
    row.decode_cpu_s.append(statistics.median(dec_cpu))
    row.measured_bits.append(measured)
    row.estimated_bits.append(estimated)


@torch.no_grad()
def run_benchmark(
    models: Sequence[LoadedModel],
    images: Sequence[Tensor],
    names: Sequence[str] | None = None,
    repeat: int = 5,
    threads: int | None = None,
    compressai_references: bool = True,
    labels: Sequence[str] | None = None,
    progress: bool = False,
    reference_gain: float = 1.0,
) -> BenchResult:
    """Time every coder on every image (median of ``repeat``); see :mod:`.bench`.

    ``threads`` sets ``torch.set_num_threads`` for the run (restored afterwards);
    ``reference_gain`` is the CompressAI models' :func:`~.coders.amplify` gain.
    """
    if repeat < 1:
        raise ConfigError(f"--repeat must be at least 1, not {repeat}.")
    if not images:
        raise ConfigError("there are no images to benchmark.")
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run(
            models, images, names, repeat, compressai_references, labels, progress, reference_gain
        )
    finally:
        torch.set_num_threads(previous_threads)


def _run(
    models: Sequence[LoadedModel],
    images: Sequence[Tensor],
    names: Sequence[str] | None,
    repeat: int,
    compressai_references: bool,
    labels: Sequence[str] | None,
    progress: bool,
    reference_gain: float,
) -> BenchResult:
    names = list(names) if names is not None else [str(i) for i in range(len(images))]
    labels = list(labels) if labels else _labels(models)
    coders = [
        c for model, label in zip(models, labels, strict=True) for c in hmcodec_coders(model, label)
    ]
    if compressai_references:
        coders += reference_coders(models, reference_gain)
    rows = [
        BenchRow(c.name, c.family, c.layer, c.entropy, c.latent_channels, c.reference_channels)
        for c in coders
    ]
    total = len(images) * len(coders)
    with tqdm(total=total, desc="bench", unit="run", disable=not progress) as bar:
        for index, (image, name) in enumerate(zip(images, names, strict=True)):
            for coder, row in zip(coders, rows, strict=True):
                bar.set_postfix_str(f"{name}: {coder.name}")
                _measure(coder, row, image, name, repeat, warm_up=index == 0)
                bar.update()
    _add_ratios(rows)
    meta = {
        "hmcodec": __version__,
        "torch": torch.__version__,
        "compressai": compressai.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "repeat": repeat,
        "reference_gain": reference_gain,
        "images": names,
        "models": [
            {
                "label": label,
                "model": str(m.path) if m.path else None,
                "fingerprint": m.fingerprint.hex(),
                "config": m.codec.config.as_dict(),
            }
            for m, label in zip(models, labels, strict=True)
        ],
    }
    return BenchResult(rows, meta)


def _labels(models: Sequence[LoadedModel]) -> list[str]:
    """``hmcodec`` for one model; ``hmcodec <file stem or entropy models>`` for several."""
    if len(models) == 1:
        return ["hmcodec"]
    labels = []
    for m in models:
        config = m.codec.config
        labels.append(f"hmcodec {config.base_entropy}/{config.enhancement_entropy}")
    if len(set(labels)) < len(labels):
        labels = [f"hmcodec {m.path.stem if m.path else i}" for i, m in enumerate(models)]
    return labels


def _add_ratios(rows: list[BenchRow]) -> None:
    """hmcodec time / CompressAI time at the same latent width, per reference model."""
    references = {(r.layer, r.latent_channels): r for r in rows if r.family == "compressai"}
    for row in rows:
        if row.family != "hmcodec" or row.reference_channels is None:
            continue
        for kind in REFERENCES:
            ref = references.get((kind, row.reference_channels))
            if ref is not None:
                row.ratios[kind] = {
                    "encode": sum(row.encode_s) / sum(ref.encode_s),
                    "decode": sum(row.decode_s) / sum(ref.decode_s),
                    "encode_cpu": _safe_ratio(sum(row.encode_cpu_s), sum(ref.encode_cpu_s)),
                    "decode_cpu": _safe_ratio(sum(row.decode_cpu_s), sum(ref.decode_cpu_s)),
                }


def _safe_ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan
