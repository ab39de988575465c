"""What the benchmark times: hmcodec's layers and CompressAI's reference models as coders.

A :class:`Coder` is ``setup`` (untimed) → ``encode`` → ``decode`` plus its rate; the base layer
encodes through the codec's ``compress`` of its first layer, the path
:func:`~hmcodec.codec.api.encode` takes, so its row times exactly what the public encoder does
for the base chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from compressai.models import (
    CompressionModel,
    JointAutoregressiveHierarchicalPriors,
    ScaleHyperprior,
)
from torch import Tensor

from hmcodec.bitstream import Stream
from hmcodec.checkpoint import LoadedModel
from hmcodec.codec.api import decode, encode, operating_point
from hmcodec.codec.methods import EnhancementMethod
from hmcodec.codec.scalable import BASE, ENHANCEMENT, pad_to_stride
from hmcodec.evaluate.learned import estimated_bits

#: CompressAI's models used as references, by their zoo names.
REFERENCES = ("bmshj2018-hyperprior", "mbt2018")


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

    def base_setup(image: Tensor) -> Tensor:
        return image

    def base_encode(image: Tensor) -> Stream:
        (payload,) = codec.compress(image, point, layers=1)
        height, width = image.shape[-2:]
        return Stream(model.fingerprint, height, width, "RGB", (payload.chunk(),))

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
