"""Decoding does not depend on the thread count, and a decoder whose entropy parameters drifted
from the encoder's says so (latent checksum) instead of returning a wrong image."""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch

from hmcodec.bitstream import Stream
from hmcodec.checkpoint import LoadedModel
from hmcodec.codec.api import Decoded, decode, encode
from hmcodec.codec.scalable import BASE, ENHANCEMENT, pad_to_stride
from hmcodec.entropy.coding import CorruptStringError
from hmcodec.errors import StreamError

#: ~30 images of varied shapes: (height, width, how many ShapesWorld images of that shape).
THREAD_SIZES = [(32, 32, 6), (16, 48, 5), (48, 16, 5), (37, 41, 5), (64, 64, 5), (20, 20, 4)]


@pytest.fixture(scope="module")
def varied_images(shapes) -> list[torch.Tensor]:
    return [shapes(h, w, index=i) for h, w, n in THREAD_SIZES for i in range(n)]


def _latents_equal(a: dict[int, torch.Tensor], b: dict[int, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _encoder_latents(model: LoadedModel, image: torch.Tensor) -> dict[int, torch.Tensor]:
    """The quantised latents the encoder codes, recomputed without the entropy coder."""
    codec = model.codec
    with torch.no_grad():
        x = pad_to_stride(image[None], codec.stride)
        latents = {BASE: torch.round(codec.base_analysis(x))}
        if codec.enhancement.has_layer:
            latents[ENHANCEMENT] = codec.forward_enhancement(x, latents[BASE])["y_hat"]
    return latents


@pytest.mark.slow
def test_thread_count_does_not_change_decoding(coding_model, varied_images, torch_threads):
    """Every image is encoded with 1 and with 2 threads; each stream is decoded with the other
    thread count and gives exactly what a decoder with the encoder's thread count gives."""
    model = coding_model("conditional", "context")
    assert len(varied_images) >= 30
    identical_streams = 0
    for image in varied_images:
        with torch_threads(1):
            one = encode(model, image).to_bytes()
            reference = decode(model, Stream.from_bytes(one), "all")
        with torch_threads(2):
            assert torch.get_num_threads() == 2
            two = encode(model, image).to_bytes()
            two_latents = _encoder_latents(model, image)
            one_decoded_with_two = decode(model, Stream.from_bytes(one), "all")
        two_decoded_with_one = decode(model, Stream.from_bytes(two), "all")
        identical_streams += one == two

        assert _latents_equal(one_decoded_with_two.latents, reference.latents)
        assert torch.equal(one_decoded_with_two.prediction, reference.prediction)
        torch.testing.assert_close(one_decoded_with_two.image, reference.image, rtol=0, atol=1e-5)
        assert _latents_equal(two_decoded_with_one.latents, two_latents)
    assert torch.get_num_threads() == 1  # restored
    # not promised (float32 analysis transforms may round differently), but measured
    print(f"\n{identical_streams} of {len(varied_images)} streams identical with 1 and 2 threads")


def _drifted(model: LoadedModel, parameter: str, scale: float, rebuild: bool) -> LoadedModel:
    """A decoder-side copy whose ``parameter`` moved by scale·N(0, 1); same fingerprint."""
    codec = copy.deepcopy(model.codec)
    tensor = codec.get_parameter(parameter)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        tensor.add_(scale * torch.randn(tensor.shape, generator=generator))
    if rebuild:
        codec.update()
    return LoadedModel(codec, model.fingerprint)


#: (base entropy model, parameter, its layer, drift scale); the factorized model's coder tables
#: are rebuilt from its drifted parameters (``update()``).
DRIFTS = [
    ("context", "enhancement.entropy.entropy_parameters.0.weight", ENHANCEMENT, 1e-3),
    ("context", "enhancement.side_transform.4.weight", ENHANCEMENT, 1e-3),
    ("context", "base_entropy.entropy_parameters.0.weight", BASE, 1e-3),
    ("context", "base_entropy.context.weight", BASE, 1e-3),
    ("factorized", "base_entropy.bottleneck.matrices.0", BASE, 1e-3),
]


@pytest.mark.parametrize(("base_entropy", "parameter", "layer", "scale"), DRIFTS)
def test_drifted_entropy_parameters_are_caught_by_the_latent_checksum(
    rate_model, varied_images, base_entropy, parameter, layer, scale
):
    """For every image: if the drifted decoder's entropy model really decodes other symbols,
    ``decode`` raises a StreamError (string not consumed exactly, or latent checksum); if not,
    it returns exactly the right latents.
    The drift starts at ``scale`` and grows tenfold, up to twice, until it changes at least one
    decoded symbol: whether 1e-3 crosses a coder-table boundary depends on the machine's float
    rounding of the briefly trained model, and a drift that changes nothing proves nothing.
    (Models with trained entropy parameters: an untrained model's scales all sit at the grid's
    lower bound, where a small drift changes no table.)"""
    model = rate_model("conditional", base_entropy)
    streams = [encode(model, image) for image in varied_images]
    truths = [decode(model, stream, "all") for stream in streams]
    changed = 0
    for drift in (scale, 10 * scale, 100 * scale):
        drifted = _drifted(model, parameter, drift, rebuild=base_entropy == "factorized")
        changed = sum(
            _check_drifted_decode(drifted, stream, truth, layer)
            for stream, truth in zip(streams, truths, strict=True)
        )
        print(
            f"\n{parameter} drifted by {drift:g}: {changed} of {len(streams)} images decode "
            "to other symbols"
        )
        if changed:
            break
    assert changed >= 1, "the drift never changed a decoded symbol; the test proves nothing"


def _check_drifted_decode(drifted: LoadedModel, stream: Stream, truth: Decoded, layer: int) -> bool:
    """Whether ``drifted`` decodes other symbols of ``layer``; if it does, ``decode`` must raise
    a StreamError, and if it does not, it must return exactly the encoder's latents."""
    strings = list(stream.chunk(layer).strings)
    raw: torch.Tensor | None = None
    with torch.no_grad(), contextlib.suppress(CorruptStringError):
        if layer == BASE:
            size = tuple(truth.latents[BASE].shape[-2:])
            raw = drifted.codec.base_entropy.decompress(strings, size)
        else:
            raw = drifted.codec.enhancement.decompress(strings, truth.latents[BASE])[1]
    if raw is not None and torch.equal(raw, truth.latents[layer]):
        decoded = decode(drifted, stream, "all")
        assert _latents_equal(decoded.latents, truth.latents)
        return False
    # the entropy decoder's own checks (string not consumed exactly) or the latent checksum
    with pytest.raises(StreamError, match=f"layer {layer} .*(checksum|corrupt)"):
        decode(drifted, stream, "all" if layer == ENHANCEMENT else "base")
    return True
