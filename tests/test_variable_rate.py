"""Variable-rate layers (gain units, Cui et al. 2021): one model, many operating points."""

from __future__ import annotations

import math
import re
import struct
import zlib

import pytest
import torch
from conftest import assert_one_sentence

from hmcodec.bitstream import LayerChunk, Stream
from hmcodec.checkpoint import load_model, prepare, save_model
from hmcodec.codec.api import decode, encode, latent_crc, operating_point, stream_bpp
from hmcodec.codec.rate import GainUnit, RateRange
from hmcodec.codec.scalable import BASE, ENHANCEMENT, CodecConfig
from hmcodec.errors import ConfigError, StreamError

RATES = {"base": [1.0, 16.0], "enhancement": [0.05, 0.8], "levels": 4}


@pytest.fixture(scope="module")
def vr_model(codec_factory, torch_threads):
    with torch_threads(1):
        return prepare(codec_factory(seed=3, variable_rate=RATES))


@pytest.fixture(scope="module")
def vr_checkerboard(codec_factory, torch_threads):
    settings = {"base_entropy": "checkerboard", "enhancement_entropy": "checkerboard"}
    with torch_threads(1):
        return prepare(codec_factory(seed=4, variable_rate=RATES, method="residual", **settings))


# ------------------------------------------------------------------------------- gain units
def test_anchors_are_log_spaced_over_the_range() -> None:
    rate = RateRange(0.075, 0.6, 4)
    assert rate.anchors() == pytest.approx([0.075, 0.15, 0.3, 0.6])
    assert rate.from_quality(0) == pytest.approx(0.075)
    assert rate.from_quality(1) == pytest.approx(0.6)
    assert rate.from_quality(0.5) == pytest.approx(math.sqrt(0.075 * 0.6))


def test_gain_is_exponentially_interpolated_between_anchors() -> None:
    """Cui et al. Eq. 8: g(λ) = g_k^(1−l) · g_{k+1}^l, l the position of log λ."""
    unit = GainUnit(5, RateRange(1.0, 8.0, 4))  # anchors 1, 2, 4, 8
    with torch.no_grad():
        unit.log_gain.normal_()
        unit.log_inverse_gain.normal_()
    gains = unit.log_gain.detach().exp()
    for k, anchor in enumerate((1.0, 2.0, 4.0, 8.0)):
        torch.testing.assert_close(unit.gain(anchor).view(-1), gains[k])
    middle = unit.gain(math.sqrt(8.0)).view(-1)  # l = 0.5 between anchors 2 and 4
    torch.testing.assert_close(middle, (gains[1] * gains[2]).sqrt())
    inverse = unit.log_inverse_gain.detach().exp()
    torch.testing.assert_close(
        unit.inverse_gain(3.0).view(-1),
        inverse[1] ** (1 - math.log2(1.5)) * inverse[2] ** math.log2(1.5),
    )


def test_initial_gains_grow_with_lambda_and_invert() -> None:
    unit = GainUnit(3, RateRange(1.0, 16.0, 5))
    values = [float(unit.gain(lmbda).detach()[0, 0]) for lmbda in (1.0, 2.0, 4.0, 8.0, 16.0)]
    assert values == pytest.approx([0.5, 2**-0.5, 1.0, 2**0.5, 2.0])
    torch.testing.assert_close(unit.gain(3.0) * unit.inverse_gain(3.0), torch.ones(1, 3, 1, 1))


def test_samples_are_log_uniform_in_the_range() -> None:
    unit = GainUnit(2, RateRange(0.01, 1.0, 3))
    generator = torch.Generator().manual_seed(0)
    draws = [unit.sample(generator) for _ in range(4000)]
    assert min(draws) >= 0.01 and max(draws) <= 1.0
    below = sum(d < 0.1 for d in draws) / len(draws)  # half the log range
    assert 0.46 < below < 0.54


# ---------------------------------------------------------------------------------- configs
@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"base": [2.0, 1.0]}, "0 < lmbda_min < lmbda_max"),
        ({"enhancement": [0.1]}, "must be [lmbda_min, lmbda_max]"),
        ({"third": [1, 2]}, "unknown layer(s) third"),
        ({"base": [1, 2], "levels": 1}, "levels must be a whole number of at least 2"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_bad_variable_rate_sections_are_refused(tiny_codec, section, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        CodecConfig.from_dict(tiny_codec | {"variable_rate": section})
    assert_one_sentence(str(info.value))


def test_a_method_without_a_layer_cannot_be_variable_rate(tiny_codec) -> None:
    with pytest.raises(ConfigError, match="sends no enhancement layer"):
        CodecConfig.from_dict(tiny_codec | {"method": "direct", "variable_rate": RATES})


# --------------------------------------------------------------------------------- coding
@pytest.mark.parametrize("model_name", ["vr_model", "vr_checkerboard"])
def test_streams_decode_exactly_at_several_operating_points(model_name, request, shapes):
    model = request.getfixturevalue(model_name)
    image = shapes(37, 52, index=1)
    sizes = []
    for quality in (0.0, 0.3, 0.5, 1.0):
        point = operating_point(model.codec, quality=quality)
        stream = Stream.from_bytes(encode(model, image, lmbdas=point).to_bytes())
        assert {c.index: c.lmbda for c in stream.chunks} == pytest.approx(point)
        decoded = decode(model, stream)  # latent checksums verified inside
        x = torch.nn.functional.pad(image[None], (0, 12, 0, 11), mode="replicate")
        symbols = model.codec.base_symbols(x, point[BASE])
        torch.testing.assert_close(
            decoded.latents[BASE], model.codec.base_latent(symbols, point[BASE])
        )
        again = decode(model, stream)
        assert torch.equal(decoded.image, again.image)
        sizes.append(stream_bpp(stream)["bpp"])
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_operating_points_give_different_images(vr_model, shapes) -> None:
    image = shapes(32, 32)
    low = decode(vr_model, encode(vr_model, image, lmbdas=operating_point(vr_model.codec, None, 0)))
    high = decode(
        vr_model, encode(vr_model, image, lmbdas=operating_point(vr_model.codec, None, 1))
    )
    assert not torch.equal(low.image, high.image)


def test_the_operating_point_survives_a_model_file(vr_model, shapes, tmp_path) -> None:
    save_model(vr_model.codec, tmp_path / "vr.ckpt")
    loaded = load_model(tmp_path / "vr.ckpt")
    assert loaded.codec.rate_ranges() == vr_model.codec.rate_ranges()
    point = operating_point(loaded.codec, lmbda=[4.0, 0.2])
    assert point == {BASE: 4.0, ENHANCEMENT: 0.2}
    stream = encode(vr_model, shapes(32, 32), lmbdas=point)
    assert decode(loaded, Stream.from_bytes(stream.to_bytes())).image is not None


def test_default_operating_point_is_quality_one_half(vr_model) -> None:
    assert operating_point(vr_model.codec) == pytest.approx({BASE: 4.0, ENHANCEMENT: 0.2})


@pytest.mark.parametrize(
    ("lmbda", "quality", "message"),
    [
        ([4.0], None, "give 2 λ value(s), not 1"),
        ([0.5, 0.2], None, "codes λ from 1 to 16, not 0.5"),
        ([4.0, 0.2], 0.5, "not both"),
    ],
)
def test_bad_operating_points_are_one_sentence(vr_model, lmbda, quality, message) -> None:
    with pytest.raises(ValueError) as info:
        operating_point(vr_model.codec, lmbda, quality)
    assert message in str(info.value)
    assert_one_sentence(f"{info.value}.")


def test_a_fixed_rate_model_takes_no_operating_point(coding_model) -> None:
    model = coding_model()
    assert operating_point(model.codec) == {}
    with pytest.raises(ValueError, match="fixed-rate"):
        operating_point(model.codec, quality=0.5)


def _rewritten(stream: Stream, index: int, lmbda: float | None, crc: bool = False) -> Stream:
    chunks = []
    for c in stream.chunks:
        if c.index == index:
            c = LayerChunk(c.index, c.strings, c.latent_crc, lmbda)
        chunks.append(c)
    return Stream(stream.fingerprint, stream.height, stream.width, "RGB", tuple(chunks))


@pytest.mark.parametrize("index", [BASE, ENHANCEMENT])
def test_an_altered_operating_point_is_refused(vr_model, shapes, index: int) -> None:
    """The latent checksum is seeded with λ: a rewritten λ (container CRCs recomputed) that
    still decodes to the same integers is refused, not decoded into another image."""
    stream = encode(vr_model, shapes(32, 32))
    altered = Stream.from_bytes(
        _rewritten(stream, index, stream.chunk(index).lmbda * 1.5).to_bytes()
    )
    with pytest.raises(StreamError, match=f"layer {index} decoded to other latents") as info:
        decode(vr_model, altered)
    assert_one_sentence(str(info.value))


def test_checksum_seed_includes_lambda() -> None:
    y = torch.tensor([[[[1.0, -2.0]]]])
    assert latent_crc(y, 16, 16) != latent_crc(y, 16, 16, 0.5)
    assert latent_crc(y, 16, 16, 0.5) != latent_crc(y, 16, 16, 0.5000001)
    seed = zlib.crc32(struct.pack("<IId", 16, 16, 0.5))  # docs/bitstream.md
    values = struct.pack("<ii", 1, -2)
    assert latent_crc(y, 16, 16, 0.5) == zlib.crc32(values, seed)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: _rewritten(s, BASE, None), "gives no operating point, but this model's base"),
        (lambda s: _rewritten(s, ENHANCEMENT, 5.0), "out of range"),
    ],
)
def test_missing_or_out_of_range_lambda_is_refused(vr_model, shapes, change, message) -> None:
    stream = change(encode(vr_model, shapes(32, 32)))
    with pytest.raises(StreamError, match=message) as info:
        decode(vr_model, Stream.from_bytes(stream.to_bytes()))
    assert_one_sentence(str(info.value))


def test_a_lambda_for_a_fixed_rate_model_is_refused(coding_model, shapes) -> None:
    model = coding_model()
    stream = _rewritten(encode(model, shapes(32, 32)), BASE, 1.0)
    with pytest.raises(StreamError, match="base layer is fixed-rate") as info:
        decode(model, Stream.from_bytes(stream.to_bytes()))
    assert_one_sentence(str(info.value))


# ---------------------------------------------------------------------------------- CLI
def test_cli_encodes_at_a_quality_and_reports_lambda(vr_model, tmp_path, run_cli, shapes):
    from hmcodec.io import write_png

    model = tmp_path / "vr.ckpt"
    save_model(vr_model.codec, model)
    photo = write_png(shapes(32, 48), tmp_path / "photo.png")
    result = run_cli("encode", model, photo, "-o", tmp_path / "q1.hmc", "--quality", "1")
    assert result.code == 0 and "at λ 16" in result.out and "at λ 0.8" in result.out
    result = run_cli("encode", model, photo, "-o", tmp_path / "l.hmc", "--lmbda", "2,0.1")
    assert result.code == 0, result.err
    info = run_cli("info", tmp_path / "l.hmc")
    assert "λ 2" in info.out and "λ 0.1" in info.out
    assert run_cli("decode", model, tmp_path / "l.hmc", "-o", tmp_path / "out").code == 0
    bad = run_cli("encode", model, photo, "-o", tmp_path / "x.hmc", "--lmbda", "99,0.1")
    assert bad.code != 0 and not (tmp_path / "x.hmc").exists()
    assert_one_sentence(bad.err.strip().removeprefix("hmcodec: error: "))


def test_cli_refuses_an_operating_point_for_a_fixed_rate_model(
    model_file, tmp_path, run_cli, shapes
):
    from hmcodec.io import write_png

    photo = write_png(shapes(32, 32), tmp_path / "photo.png")
    result = run_cli("encode", model_file, photo, "-o", tmp_path / "x.hmc", "--quality", "0.2")
    assert result.code != 0 and "fixed-rate" in result.err


# ----------------------------------------------------------------------------- evaluation
def test_eval_sweeps_a_variable_rate_model_in_one_call(vr_model, tmp_path) -> None:
    from hmcodec.evaluate.learned import evaluate_models

    save_model(vr_model.codec, tmp_path / "vr.ckpt")
    spec = {"name": "shapesworld", "split": "test", "image_size": 32, "num_samples": 2}
    curve = evaluate_models([tmp_path / "vr.ckpt"], spec)
    assert len(curve.bpp) == 4  # one point per gain anchor
    assert [p["lmbda"]["enhancement"] for p in curve.provenance] == pytest.approx(
        RateRange(0.05, 0.8, 4).anchors()
    )
    chosen = evaluate_models([tmp_path / "vr.ckpt"], spec, qualities=[0.0, 1.0])
    assert [p["lmbda"]["base"] for p in chosen.provenance] == pytest.approx([1.0, 16.0])


def test_an_evaluation_holds_the_base_at_the_lambda_its_enhancement_trained_on(vr_model):
    """A model whose enhancement stage fixed ``base_lmbda`` is swept along λ_e only; an
    explicit base λ overrides it, and one outside the range is one sentence."""
    from hmcodec.checkpoint import LoadedModel
    from hmcodec.evaluate.learned import operating_points

    stages = [{"stage": "base"}, {"stage": "enhancement", "base_lmbda": 2.0}]
    held = LoadedModel(vr_model.codec, vr_model.fingerprint, {"config": {"stages": stages}})
    ranges = vr_model.codec.rate_ranges()
    sweep = operating_points(held)
    assert [p[BASE] for p in sweep] == [2.0] * ranges[ENHANCEMENT].levels
    assert [p[ENHANCEMENT] for p in sweep] == pytest.approx(ranges[ENHANCEMENT].anchors())
    # without a held base both layers move together
    free = operating_points(vr_model)
    assert len({p[BASE] for p in free}) == len(free) > 1
    assert {p[BASE] for p in operating_points(vr_model, base_lmbda=3.0)} == {3.0}
    with pytest.raises(ConfigError) as error:
        operating_points(vr_model, base_lmbda=1e6)
    assert_one_sentence(str(error.value))
