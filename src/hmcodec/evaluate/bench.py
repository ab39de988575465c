"""Coding speed, peak memory and rate gap of hmcodec against CompressAI's models.

Every coder runs on the same images in the same process, image by image, coder after coder
(interleaved, so a slow-down of the machine hits all of them alike):

* hmcodec, per layer: ``base`` (encode: base analysis, rounding, base entropy coder; decode:
  :func:`~hmcodec.codec.api.decode` of the base-only stream, i.e. entropy decoding, base
  synthesis and the task head), ``enhancement`` (the method's ``compress``/``decompress``
  given the decoded base latent: side information, entropy coding, synthesis) and ``all``
  (the public :func:`~hmcodec.codec.api.encode` and ``decode(..., "all")``);
* CompressAI's ``bmshj2018-hyperprior`` (:class:`~compressai.models.ScaleHyperprior`) and
  ``mbt2018`` (:class:`~compressai.models.JointAutoregressiveHierarchicalPriors`) built with
  random weights at the hmcodec model's latent sizes: ``M`` = the base or enhancement latent
  channels, ``N`` = the hmcodec transform width; ``update()``, then ``compress``/``decompress``
  on the image padded to a multiple of 64.

Times are wall-clock (``time.perf_counter``) per image, the median of ``repeat`` runs; a
row's time is the mean of its per-image medians and its MPix/s is the images' pixels over the
sum of those medians. Peak memory is measured once per coder on the first image, in an extra
untimed run that also serves as warm-up: ``tracemalloc``'s peak (Python allocations only; torch
tensors are not seen) and the peak resident set size above the level before the call, sampled
every 2 ms from ``/proc/self/statm`` (``ru_maxrss`` growth where ``/proc`` is missing, which is
0 unless the process reaches a new high-water mark). The rate gap is
``(measured bits − estimated bits) / estimated bits`` summed over the images, measured from the
coded strings (payload, no container) and estimated from the same latents' likelihoods.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import compressai
import torch
import torch.nn.functional as F
from compressai.models import (
    CompressionModel,
    JointAutoregressiveHierarchicalPriors,
    ScaleHyperprior,
)
from torch import Tensor
from tqdm import tqdm

from hmcodec import __version__
from hmcodec.bitstream import LayerChunk, Stream
from hmcodec.checkpoint import LoadedModel, prepare
from hmcodec.codec.api import decode, encode, latent_crc, operating_point
from hmcodec.codec.methods import EnhancementMethod
from hmcodec.codec.scalable import BASE, ENHANCEMENT, ScalableCodec, pad_to_stride
from hmcodec.data import build_dataset
from hmcodec.errors import ConfigError
from hmcodec.evaluate.learned import estimated_bits, sample_name

#: CompressAI's models used as references, by their zoo names.
REFERENCES = ("bmshj2018-hyperprior", "mbt2018")
MIB = 2**20


# ----------------------------------------------------------------------------------- coders
@dataclass
class Coder:
    """One thing to time: ``setup`` (untimed) → ``encode`` → ``decode``, plus its rate."""

    name: str
    family: str
    layer: str
    entropy: str
    latent_channels: int
    setup: Callable[[Tensor], Any]
    encode: Callable[[Any], Any]
    decode: Callable[[Any, Any], Any]
    #: (measured bits, estimated bits) of one image given its setup and encoded form.
    rate: Callable[[Tensor, Any, Any], tuple[float, float]]
    #: the latent width of the CompressAI models this row is compared with (hmcodec rows).
    reference_channels: int | None = None


def hmcodec_coders(model: LoadedModel, label: str = "hmcodec") -> list[Coder]:
    """The base layer, the enhancement layer (if any) and the whole stream of ``model`` (a
    variable-rate model at its default operating point, quality 0.5)."""
    codec, config = model.codec, model.codec.config
    has_layer = codec.enhancement.has_layer
    estimates: dict[int, dict[int, float]] = {}
    point = operating_point(codec)
    base_lmbda, enhancement_lmbda = point.get(BASE), point.get(ENHANCEMENT)

    def estimate(image: Tensor) -> dict[int, float]:
        key = id(image)
        if key not in estimates:
            estimates.clear()
            estimates[key] = estimated_bits(model, image)
        return estimates[key]

    def base_setup(image: Tensor) -> tuple[Tensor, int, int]:
        return pad_to_stride(image[None].float(), codec.stride), image.shape[-2], image.shape[-1]

    def base_encode(state: tuple[Tensor, int, int]) -> Stream:
        x, height, width = state
        y_hat = codec.base_symbols(x, base_lmbda)
        chunk = LayerChunk(
            BASE,
            tuple(codec.base_entropy.compress(y_hat)),
            latent_crc(y_hat, height, width, base_lmbda),
            base_lmbda,
        )
        return Stream(model.fingerprint, height, width, "RGB", (chunk,))

    def base_rate(image: Tensor, state: Any, stream: Stream) -> tuple[float, float]:
        return stream.chunk(BASE).payload_bytes * 8.0, estimate(image)[BASE]

    def enh_setup(image: Tensor) -> tuple[Tensor, Tensor]:
        x = pad_to_stride(image[None].float(), codec.stride)
        return x, codec.base_latent(codec.base_symbols(x, base_lmbda), base_lmbda)

    def enh_rate(image: Tensor, state: Any, encoded: Any) -> tuple[float, float]:
        return sum(len(s) for s in encoded[0]) * 8.0, estimate(image)[ENHANCEMENT]

    def all_rate(image: Tensor, state: Any, stream: Stream) -> tuple[float, float]:
        payload = sum(c.payload_bytes for c in stream.chunks)
        return payload * 8.0, sum(estimate(image).values())

    enh_channels = config.enhancement_channels if has_layer else config.base_channels
    coders = [
        Coder(
            f"{label} base",
            "hmcodec",
            "base",
            config.base_entropy,
            config.base_channels,
            base_setup,
            base_encode,
            lambda state, stream: decode(model, stream, "base"),
            base_rate,
            config.base_channels,
        )
    ]
    enhancement = codec.enhancement
    if has_layer:
        assert isinstance(enhancement, EnhancementMethod)  # only these send a layer
        coders.append(
            Coder(
                f"{label} enhancement",
                "hmcodec",
                "enhancement",
                f"{config.enhancement_entropy} ({config.method})",
                config.enhancement_channels,
                enh_setup,
                lambda state: enhancement.compress(state[0], state[1], enhancement_lmbda),
                lambda state, encoded: enhancement.decompress(
                    encoded[0], state[1], enhancement_lmbda
                ),
                enh_rate,
                config.enhancement_channels,
            )
        )
    coders.append(
        Coder(
            f"{label} all layers",
            "hmcodec",
            "all",
            f"{config.base_entropy} + {config.enhancement_entropy}"
            if has_layer
            else config.base_entropy,
            config.base_channels + (config.enhancement_channels if has_layer else 0),
            lambda image: image,
            lambda image: encode(model, image),
            lambda image, stream: decode(model, stream, "all"),
            all_rate,
            enh_channels,
        )
    )
    return coders


def amplify(conv: torch.nn.Module, gain: float) -> None:
    """Multiply a convolution's weight and bias by ``gain`` (in place).

    Random-weight analysis transforms give latents of standard deviation ~0.1, which all round
    to 0; a gain on the last analysis convolution spreads them over a few integers, so the
    entropy coders code non-trivial symbols as a trained model's would.
    """
    with torch.no_grad():
        cast(Tensor, conv.weight).mul_(gain)
        bias = getattr(conv, "bias", None)
        if bias is not None:
            bias.mul_(gain)


def compressai_model(
    kind: str, n: int, m: int, seed: int = 0, latent_gain: float = 1.0
) -> CompressionModel:
    """``bmshj2018-hyperprior`` or ``mbt2018`` with random weights, tables built."""
    torch.manual_seed(seed)
    if kind == "bmshj2018-hyperprior":
        net = ScaleHyperprior(n, m)
    elif kind == "mbt2018":
        net = JointAutoregressiveHierarchicalPriors(n, m)
    else:
        raise ValueError(f"unknown CompressAI reference {kind!r}; known: {', '.join(REFERENCES)}")
    if latent_gain != 1.0:
        amplify(net.g_a[-1], latent_gain)
    net.eval()
    net.update(force=True)
    return net


def compressai_coder(kind: str, n: int, m: int, latent_gain: float = 1.0) -> Coder:
    """A CompressAI reference model as a :class:`Coder` (image padded to a multiple of 64)."""
    net = compressai_model(kind, n, m, latent_gain=latent_gain)

    def setup(image: Tensor) -> Tensor:
        height, width = image.shape[-2:]
        pad_h, pad_w = -height % 64, -width % 64
        x = image[None].float()
        return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x

    def rate(image: Tensor, x: Tensor, encoded: dict[str, Any]) -> tuple[float, float]:
        measured = sum(len(s) for group in encoded["strings"] for s in group) * 8.0
        likelihoods = net(x)["likelihoods"]
        estimated = sum(float((-torch.log2(v)).sum()) for v in likelihoods.values())
        return measured, estimated

    entropy = "hyperprior" if kind == "bmshj2018-hyperprior" else "hyperprior + context"
    return Coder(
        f"{kind} N={n} M={m}",
        "compressai",
        kind,
        entropy,
        m,
        setup,
        net.compress,
        lambda x, encoded: net.decompress(encoded["strings"], encoded["shape"]),
        rate,
    )


def reference_coders(models: Sequence[LoadedModel], latent_gain: float = 1.0) -> list[Coder]:
    """CompressAI's models at every latent width of ``models`` (N = the transform width)."""
    sizes: dict[tuple[int, int], None] = {}
    for model in models:
        config = model.codec.config
        sizes[(config.transform_size().width, config.base_channels)] = None
        if model.codec.enhancement.has_layer:
            width = config.transform_size("enhancement").width
            sizes[(width, config.enhancement_channels)] = None
    return [compressai_coder(kind, n, m, latent_gain) for n, m in sizes for kind in REFERENCES]


# ----------------------------------------------------------------------------------- memory
def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class _RssSampler:
    """Peak resident set size above the starting level, sampled in a background thread."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.start_rss = _rss_bytes()
        self.start_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.peak = self.start_rss or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, _rss_bytes() or 0)

    def __enter__(self) -> _RssSampler:
        if self.start_rss is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.start_rss is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _rss_bytes() or 0)

    def growth(self) -> int:
        if self.start_rss is not None:
            return self.peak - self.start_rss
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.start_maxrss
        return kib * 1024


def peak_memory(function: Callable[..., Any], *args: Any) -> tuple[Any, dict[str, float]]:
    """``function(*args)`` with its peak Python heap (tracemalloc) and peak RSS growth, in MiB."""
    with _RssSampler() as sampler:
        tracemalloc.start()
        try:
            result = function(*args)
            _, python_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return result, {"python_mib": python_peak / MIB, "rss_mib": sampler.growth() / MIB}


# ----------------------------------------------------------------------------------- results
@dataclass
class BenchRow:
    """Per-image medians of one coder, its memory and its rates."""

    name: str
    family: str
    layer: str
    entropy: str
    latent_channels: int
    reference_channels: int | None = None
    images: list[str] = field(default_factory=list)
    pixels: list[int] = field(default_factory=list)
    encode_s: list[float] = field(default_factory=list)
    decode_s: list[float] = field(default_factory=list)
    encode_cpu_s: list[float] = field(default_factory=list)
    decode_cpu_s: list[float] = field(default_factory=list)
    measured_bits: list[float] = field(default_factory=list)
    estimated_bits: list[float] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def encode_ms(self) -> float:
        return 1000 * statistics.fmean(self.encode_s)

    @property
    def decode_ms(self) -> float:
        return 1000 * statistics.fmean(self.decode_s)

    @property
    def encode_cpu_ms(self) -> float:
        return 1000 * statistics.fmean(self.encode_cpu_s)

    @property
    def decode_cpu_ms(self) -> float:
        return 1000 * statistics.fmean(self.decode_cpu_s)

    @property
    def encode_mpix_s(self) -> float:
        return sum(self.pixels) / 1e6 / sum(self.encode_s)

    @property
    def decode_mpix_s(self) -> float:
        return sum(self.pixels) / 1e6 / sum(self.decode_s)

    @property
    def rate_gap_pct(self) -> float:
        """(measured − estimated) / estimated over all images, in percent (NaN if no estimate)."""
        estimated = sum(self.estimated_bits)
        if estimated <= 0:
            return math.nan
        return 100 * (sum(self.measured_bits) - estimated) / estimated

    @property
    def bpp(self) -> float:
        return sum(self.measured_bits) / sum(self.pixels)

    @property
    def bpp_estimated(self) -> float:
        return sum(self.estimated_bits) / sum(self.pixels)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "layer": self.layer,
            "entropy": self.entropy,
            "latent_channels": self.latent_channels,
            "encode_ms": self.encode_ms,
            "decode_ms": self.decode_ms,
            "encode_cpu_ms": self.encode_cpu_ms,
            "decode_cpu_ms": self.decode_cpu_ms,
            "encode_mpix_s": self.encode_mpix_s,
            "decode_mpix_s": self.decode_mpix_s,
            "peak_memory": self.memory,
            "bpp": self.bpp,
            "bpp_estimated": self.bpp_estimated,
            "rate_gap_pct": _json_float(self.rate_gap_pct),
            "ratios": self.ratios,
            "per_image": [
                {
                    "image": i,
                    "pixels": p,
                    "encode_s": e,
                    "decode_s": d,
                    "encode_cpu_s": ec,
                    "decode_cpu_s": dc,
                    "bits": b,
                    "est_bits": s,
                }
                for i, p, e, d, ec, dc, b, s in zip(
                    self.images,
                    self.pixels,
                    self.encode_s,
                    self.decode_s,
                    self.encode_cpu_s,
                    self.decode_cpu_s,
                    self.measured_bits,
                    self.estimated_bits,
                    strict=True,
                )
            ],
        }


@dataclass
class BenchResult:
    """All rows of one benchmark run and how it was run."""

    rows: list[BenchRow]
    meta: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"meta": self.meta, "rows": [r.to_json() for r in self.rows]}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_clean(self.to_json()), indent=2, allow_nan=False) + "\n")
        return path

    def markdown(self) -> str:
        """Speed and memory, ratios against CompressAI, and the rate gap, as markdown tables."""
        lines = [
            "| coder | layer | entropy model | C | enc ms | dec ms | enc CPU ms | dec CPU ms "
            "| enc MPix/s | dec MPix/s | peak RSS MiB enc / dec | Python peak MiB enc / dec |",
            "|" + "---|" * 12,
        ]
        for r in self.rows:
            mem = r.memory
            lines.append(
                f"| {r.name} | {r.layer} | {r.entropy} | {r.latent_channels} "
                f"| {r.encode_ms:.1f} | {r.decode_ms:.1f} "
                f"| {r.encode_cpu_ms:.1f} | {r.decode_cpu_ms:.1f} "
                f"| {r.encode_mpix_s:.3f} | {r.decode_mpix_s:.3f} "
                f"| {mem.get('encode_rss_mib', math.nan):.1f} / "
                f"{mem.get('decode_rss_mib', math.nan):.1f} "
                f"| {mem.get('encode_python_mib', math.nan):.2f} / "
                f"{mem.get('decode_python_mib', math.nan):.2f} |"
            )
        compared = [r for r in self.rows if r.ratios]
        if compared:
            lines += [
                "",
                "hmcodec time / CompressAI time at the same latent width (C = M):",
                "",
                "| coder | against | enc (wall) | dec (wall) | enc (CPU) | dec (CPU) |",
                "|---|---|---|---|---|---|",
            ]
            for r in compared:
                for kind, ratio in r.ratios.items():
                    lines.append(
                        f"| {r.name} | {kind} M={r.reference_channels} "
                        f"| {ratio['encode']:.2f} | {ratio['decode']:.2f} "
                        f"| {ratio['encode_cpu']:.2f} | {ratio['decode_cpu']:.2f} |"
                    )
        lines += [
            "",
            "| coder | measured bpp (payload) | estimated bpp | rate gap |",
            "|---|---|---|---|",
        ]
        for r in self.rows:
            gap = r.rate_gap_pct
            gap_text = f"{gap:+.2f} %" if math.isfinite(gap) else "n/a"
            lines.append(f"| {r.name} | {r.bpp:.4f} | {r.bpp_estimated:.4f} | {gap_text} |")
        return "\n".join(lines) + "\n"


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


# ----------------------------------------------------------------------------------- running
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
    """Time every coder on every image (median of ``repeat``); see the module docstring.

    ``threads`` sets ``torch.set_num_threads`` for the run (restored afterwards);
    ``reference_gain`` is the CompressAI models' :func:`amplify` gain.
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
    """A freshly built (random-weight) codec, its analysis outputs :func:`amplify`-ed."""
    torch.manual_seed(seed)
    codec = ScalableCodec(config)
    if latent_gain != 1.0:
        amplify(codec.base_analysis[-1], latent_gain)
        enhancement = codec.enhancement
        if enhancement.has_layer:
            assert isinstance(enhancement, EnhancementMethod)  # only these send a layer
            amplify(enhancement.analysis[-1], latent_gain)
    return prepare(codec, {"random_weights": True, "latent_gain": latent_gain})
