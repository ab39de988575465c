"""The codec interface: every architecture is a :class:`Codec` of ordered layers plus heads that
compresses an image into one payload per coded layer and decompresses any prefix of its layers;
``encode``/``decode`` are the container around exactly that; the coding-for-machines package
imports nothing of the codecs (no import circle)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from hmcodec.bitstream import Stream
from hmcodec.checkpoint import LoadedModel, prepare
from hmcodec.codec import ARCHITECTURES, Codec
from hmcodec.codec.api import decode, encode, latent_crc, operating_point
from hmcodec.codec.layers import (
    BASE,
    ENHANCEMENT,
    LatentMismatchError,
    LayerPayload,
    MissingLayerError,
    OperatingPointError,
)
from hmcodec.codec.scalable import build_codec, pad_to_stride
from hmcodec.errors import StreamError

SRC = Path(__file__).resolve().parents[1] / "src" / "hmcodec"
TINY = {
    "transform": "tiny",
    "base_channels": 8,
    "enhancement_channels": 16,
    "side_channels": 8,
    "task": {"name": "segmentation-tiny", "num_classes": 6, "width": 8},
}
MACHINES = {
    "transform": "tiny",
    "base_channels": 8,
    "method": "direct",
    "task": {"name": "segmentation-resnet-tiny", "num_classes": 6, "width": 8},
}
#: one codec per architecture, and the scalable one with each kind of enhancement slot.
CODECS: dict[str, dict[str, Any]] = {
    "scalable-conditional": TINY,
    "scalable-residual": TINY | {"method": "residual"},
    "scalable-direct": TINY | {"method": "direct"},
    "scalable-second-task": TINY | {"secondary_task": TINY["task"]},
    "scalable-variable-rate": TINY
    | {"variable_rate": {"base": [1.0, 16.0], "enhancement": [0.05, 0.8], "levels": 4}},
    "split": MACHINES | {"architecture": "split", "options": {"cut": "layer2"}},
    "direct-features": MACHINES
    | {
        "architecture": "direct-features",
        "options": {"cut": "layer2", "objective": "distill", "freeze_task": True},
    },
}
SIZE = (37, 53)


def _model(settings: dict[str, Any]) -> LoadedModel:
    """A codec with random weights whose analyses' last convolutions are amplified, so that its
    latents are integers of a few units, not all zeros."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        codec = build_codec(settings)
    with torch.no_grad():
        for analysis in (codec.base_analysis, getattr(codec.enhancement, "analysis", None)):
            if analysis is not None:
                convolutions = [m for m in analysis.modules() if isinstance(m, nn.Conv2d)]
                convolutions[-1].weight.mul_(30.0)
                convolutions[-1].bias.mul_(30.0)
    return prepare(codec)


@pytest.fixture(scope="module")
def models(torch_threads) -> dict[str, LoadedModel]:
    with torch_threads(1):
        return {name: _model(settings) for name, settings in CODECS.items()}


def _encoder_latents(codec: Codec, image: torch.Tensor, point: dict[int, float]):
    """The de-scaled latents the encoder codes, recomputed through the training forward path."""
    x = pad_to_stride(image[None], codec.stride)
    with torch.no_grad():
        base = codec.base_latent(codec.base_symbols(x, point.get(BASE)), point.get(BASE))
        latents = {BASE: base}
        if codec.enhancement.has_layer:
            out = codec.forward_enhancement(x, base, point.get(ENHANCEMENT))
            latents[ENHANCEMENT] = out["y_hat"]
    return latents


def test_every_registered_architecture_is_tested_and_is_a_codec(models):
    assert {settings.get("architecture", "scalable") for settings in CODECS.values()} == set(
        ARCHITECTURES.names()
    )
    for model in models.values():
        codec = model.codec
        assert isinstance(codec, Codec) and isinstance(codec, nn.Module)
        assert [layer.index for layer in codec.layers] == list(range(len(codec.layers)))
        assert codec.layer_count == sum(layer.coded for layer in codec.layers)


@pytest.mark.parametrize("name", list(CODECS))
def test_round_trip_gives_the_encoders_latents_and_is_what_the_container_carries(
    models, shapes, name
):
    model = models[name]
    codec = model.codec
    image = shapes(*SIZE, index=2)
    point = operating_point(codec)
    payloads = codec.compress(image, point)
    expected = _encoder_latents(codec, image, point)

    assert [p.index for p in payloads] == list(expected) == list(range(codec.layer_count))
    latent_grid = (-(-SIZE[0] // codec.stride), -(-SIZE[1] // codec.stride))
    for payload in payloads:
        assert payload.shape == latent_grid and payload.lmbda == point.get(payload.index)
    assert expected[BASE].abs().sum() > 0  # real symbols, not an all-zero latent

    decoded = codec.decompress(payloads, SIZE)
    assert decoded.layers == tuple(expected)
    assert decoded.latents.keys() == expected.keys()
    for index, latent in expected.items():
        assert torch.equal(decoded.latents[index], latent)

    # encode/decode put exactly these payloads into the stream and give the same outputs
    stream = Stream.from_bytes(encode(model, image).to_bytes())
    assert stream.chunks == tuple(p.chunk() for p in payloads)
    through_container = decode(model, stream, "all")
    assert torch.equal(through_container.prediction, decoded.prediction)
    for index, latent in decoded.latents.items():
        assert torch.equal(through_container.latents[index], latent)
    assert decoded.prediction.shape == SIZE
    if codec.enhancement.has_output and codec.secondary_task is None:
        assert decoded.image is not None and decoded.image.shape == (3, *SIZE)
        assert torch.equal(through_container.image, decoded.image)
    else:
        assert decoded.image is None and through_container.image is None
    if codec.secondary_task is not None:
        assert decoded.secondary_prediction is not None
        assert torch.equal(through_container.secondary_prediction, decoded.secondary_prediction)


def test_the_checksum_covers_the_integers_the_size_and_the_lambda(models, shapes):
    codec = models["scalable-variable-rate"].codec
    image = shapes(*SIZE)
    point = operating_point(codec, quality=0.25)
    x = pad_to_stride(image[None], codec.stride)
    base, _ = codec.compress(image, point)
    symbols = codec.base_symbols(x, point[BASE])
    assert base.latent_crc == latent_crc(symbols, *SIZE, point[BASE])
    with pytest.raises(ValueError, match="layer 0 of this model is not variable-rate"):
        models["scalable-conditional"].codec.compress(image, {BASE: 1.0})


def test_decompress_gives_any_prefix_of_the_layers(models, shapes):
    codec = models["scalable-conditional"].codec
    image = shapes(*SIZE, index=1)
    payloads = codec.compress(image)
    everything = codec.decompress(payloads, SIZE)
    base = codec.decompress(payloads[:1], SIZE, layers=1)
    assert base.layers == (BASE,) and base.latents.keys() == {BASE}
    assert base.image is None and torch.equal(base.prediction, everything.prediction)
    assert torch.equal(base.latents[BASE], everything.latents[BASE])
    # the base payload alone, as the first of one layer, is the base of the full stream
    assert codec.compress(image, layers=1) == payloads[:1]
    with pytest.raises(MissingLayerError) as missing:
        codec.decompress(payloads[:1], SIZE)
    assert missing.value.index == ENHANCEMENT and isinstance(missing.value, StreamError)
    for layers in (0, 3):
        with pytest.raises(ValueError, match="this codec has 2 layer"):
            codec.decompress(payloads, SIZE, layers=layers)
    # ``direct`` sends one payload but decodes two layers (the image from the base latent)
    direct = models["scalable-direct"].codec
    sent = direct.compress(image)
    assert len(sent) == 1 and direct.layer_count == 1 and len(direct.layers) == 2
    assert direct.decompress(sent, SIZE, layers=1).image is None
    assert direct.decompress(sent, SIZE).image is not None


def test_a_layer_refuses_a_payload_that_is_not_its_encoders(models, shapes):
    codec = models["scalable-variable-rate"].codec
    image = shapes(*SIZE)
    base, enhancement = codec.compress(image, operating_point(codec))
    forged = LayerPayload(ENHANCEMENT, enhancement.strings, enhancement.shape, 0, enhancement.lmbda)
    with pytest.raises(LatentMismatchError) as mismatch:
        codec.decompress([base, forged], SIZE)
    assert mismatch.value.index == ENHANCEMENT
    without = LayerPayload(BASE, base.strings, base.shape, base.latent_crc, None)
    with pytest.raises(OperatingPointError) as missing:
        codec.decompress([without], SIZE, layers=1)
    assert (missing.value.index, missing.value.kind) == (BASE, "variable-rate")


def test_layers_name_their_parts_and_add_no_modules(models):
    conditional = models["scalable-conditional"].codec
    base, enhancement = conditional.layers
    assert base.analysis is conditional.base_analysis and base.entropy is conditional.base_entropy
    assert base.synthesis is conditional.base_synthesis and base.head is conditional.task
    assert base.side_information is None and base.gain is None and base.coded
    method = conditional.enhancement
    assert enhancement.analysis is method.analysis and enhancement.entropy is method.entropy
    assert enhancement.side_information is method.side_transform and enhancement.head is None
    residual = models["scalable-residual"].codec
    assert residual.layers[1].side_information is residual.enhancement.preview_synthesis
    second = models["scalable-second-task"].codec
    assert second.layers[1].head is second.secondary_task
    variable = models["scalable-variable-rate"].codec
    assert [layer.gain for layer in variable.layers] == [
        variable.base_gain,
        variable.enhancement.gain,
    ]
    assert not models["scalable-direct"].codec.layers[1].coded
    split = models["split"].codec
    (only,) = split.layers
    assert only.head is split.task and only.analysis is split.base_analysis
    # the module tree (so the state-dict keys and fingerprints) is the one before layers existed
    assert [name for name, _ in conditional.named_children()] == [
        "base_analysis",
        "base_entropy",
        "base_synthesis",
        "task",
        "recon_head",
        "enhancement",
    ]
    assert [name for name, _ in split.named_children()] == [
        "task",
        "base_analysis",
        "base_entropy",
        "base_synthesis",
        "enhancement",
    ]


def test_encode_and_decode_code_through_the_interface(models, shapes, monkeypatch):
    model = models["scalable-conditional"]
    calls: list[str] = []
    compress, decompress = Codec.compress, Codec.decompress

    def spy_compress(self, *args, **kwargs):
        calls.append("compress")
        return compress(self, *args, **kwargs)

    def spy_decompress(self, payloads, size, layers=None):
        calls.append(f"decompress {layers}")
        return decompress(self, payloads, size, layers)

    monkeypatch.setattr(Codec, "compress", spy_compress)
    monkeypatch.setattr(Codec, "decompress", spy_decompress)
    stream = encode(model, shapes(32, 32))
    decode(model, stream, "base")
    decode(model, stream, "all")
    assert calls == ["compress", "decompress 1", "decompress None"]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_coding_for_machines_package_imports_no_codec():
    """``hmcodec.codec.split`` uses ``hmcodec.machines`` (the cut, the task models), never the
    other way round, not even lazily: no import circle."""
    for path in sorted((SRC / "machines").glob("*.py")):
        codec_imports = {
            name
            for name in _imports(path)
            if name.startswith(("hmcodec.codec", "hmcodec.checkpoint"))
        }
        assert not codec_imports, f"{path.name} imports {codec_imports}"
    for path in sorted((SRC / "codec").glob("*.py")):
        if path.name != "split.py":
            machines = {n for n in _imports(path) if n.startswith("hmcodec.machines")}
            assert not machines, f"codec/{path.name} imports {machines}"
