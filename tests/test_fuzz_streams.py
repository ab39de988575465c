"""Fuzzing the container and the decoder: hostile bytes give a StreamError / HmcodecError or a
correct decode, never another exception, a hang or a silently different image.

The mutators are the ones of the long campaign, ``benchmarks/fuzz_streams.py`` (imported from
its file); here they run on small images (≤ 64×64) so the whole file takes a few seconds.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hmcodec.bitstream import MAGIC, MODE_TABLE, LayerChunk, Stream
from hmcodec.errors import StreamError

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz_streams.py"
_SPEC = importlib.util.spec_from_file_location("fuzz_streams", _PATH)
fuzz = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("fuzz_streams", fuzz)
_SPEC.loader.exec_module(fuzz)

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)
DECODES = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    max_examples=40,
    # a failing decode may take the whole time limit: report it unshrunk (its hex is shown)
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
#: a decode of a ≤ 64×64 mutant takes well under 0.1 s; this only stops a hang.
DECODE_TIMEOUT = 5.0


# ------------------------------------------------------------------------------ container
def _from_bytes_only_stream_error(data: bytes) -> None:
    try:
        stream = Stream.from_bytes(data)
    except StreamError as e:
        assert fuzz.one_sentence(str(e)), str(e)
    else:  # whatever parses is canonical
        assert stream.to_bytes() == data


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_stream_error(data: bytes) -> None:
    _from_bytes_only_stream_error(data)


@FAST
@given(st.sampled_from([0, 1, 2, 3, 255]), st.binary(max_size=400))
def test_arbitrary_bytes_after_the_magic_with_crcs_recomputed(version: int, tail: bytes) -> None:
    # past the magic and version, with valid CRCs wherever the framing can be followed
    _from_bytes_only_stream_error(fuzz.recompute_crcs(MAGIC + bytes([version]) + tail))


_modes = st.one_of(
    st.sampled_from(MODE_TABLE),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=15),
)
_chunks = st.lists(
    st.tuples(
        st.lists(st.binary(max_size=300), max_size=4),
        st.integers(0, 2**32 - 1),
    ),
    min_size=1,
    max_size=5,
)


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    parts = draw(_chunks)
    indices = sorted(draw(st.sets(st.integers(0, 255), min_size=len(parts), max_size=len(parts))))
    chunks = tuple(LayerChunk(i, tuple(s), crc) for i, (s, crc) in zip(indices, parts, strict=True))
    side = st.one_of(st.integers(1, 2000), st.integers(1, 2**32 - 1))
    return Stream(
        draw(st.binary(min_size=8, max_size=8)), draw(side), draw(side), draw(_modes), chunks
    )


@FAST
@given(streams())
def test_valid_streams_round_trip(stream: Stream) -> None:
    data = stream.to_bytes()
    assert Stream.from_bytes(data) == stream
    assert Stream.from_bytes(data).to_bytes() == data
    assert fuzz.parse_raw(data).serialize() == data  # the campaign's own writer agrees


@FAST
@given(streams(), st.data())
def test_byte_mutants_of_valid_streams_with_crcs_recomputed(stream: Stream, data: st.DataObject):
    original = stream.to_bytes()
    kind = data.draw(st.sampled_from(sorted(fuzz.BYTE_MUTATORS)))
    fix = data.draw(st.booleans())
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    _from_bytes_only_stream_error(fuzz.mutate(rng, original, kind, fix))


# -------------------------------------------------------------------------------- decoder
@pytest.fixture(scope="module")
def decoder(torch_threads):
    """Tiny models (serial context and checkerboard) and streams of ≤ 64×64 images."""
    with torch_threads(1):
        yield fuzz._Decoder(((32, 32, 0), (17, 40, 1), (64, 48, 2)), fuzz.ENTROPY)


def _decode(decoder, name: str, data: bytes, layers: str, torch_threads) -> dict:
    mutant = fuzz.Mutant(-1, name, "", "hypothesis", True, layers, data)
    with torch_threads(1):
        return fuzz._in_process(decoder, mutant, DECODE_TIMEOUT)


def _assert_clean(result: dict, data: bytes) -> None:
    assert result["class"] in ("refusal", "identical"), (result, data.hex())
    if result["class"] == "refusal":
        assert fuzz.one_sentence(result["message"]), result["message"]


@DECODES
@given(st.data())
def test_decoder_mutants_with_crcs_recomputed(decoder, torch_threads, data: st.DataObject):
    original = data.draw(st.sampled_from(decoder.originals), label="original")
    kind = data.draw(st.sampled_from(fuzz.KINDS), label="kind")
    rng = random.Random(data.draw(st.integers(0, 2**32), label="rng seed"))
    others = [o.data for o in decoder.originals]
    mutant = fuzz.mutate(rng, original.data, kind, True, others)
    layers = data.draw(st.sampled_from(["all", "base"]), label="layers")
    _assert_clean(_decode(decoder, original.name, mutant, layers, torch_threads), mutant)


@DECODES
@given(st.data())
def test_decoder_payload_patches_with_crcs_recomputed(decoder, torch_threads, data):
    original = data.draw(st.sampled_from(decoder.originals), label="original")
    out = bytearray(original.data)
    crc = fuzz._crc_positions(original.data)
    positions = [i for i in range(4, len(out)) if i not in crc]
    for _ in range(data.draw(st.integers(1, 4), label="patches")):
        at = data.draw(st.sampled_from(positions), label="position")
        out[at] = data.draw(st.integers(0, 255), label="value")
    mutant = fuzz.recompute_crcs(bytes(out))
    _assert_clean(_decode(decoder, original.name, mutant, "all", torch_threads), mutant)


@pytest.mark.parametrize("height, width", [(0, 64), (2**16 - 1, 2**16 - 1), (2**32 - 1, 1)])
def test_decoder_refuses_extreme_declared_sizes(decoder, torch_threads, height, width):
    original = decoder.originals[0]
    raw = fuzz.parse_raw(original.data)
    raw.height, raw.width = height, width
    mutant = raw.serialize()
    _assert_clean(_decode(decoder, original.name, mutant, "all", torch_threads), mutant)


def test_decoder_refuses_sizes_inside_the_same_grid(decoder, torch_threads):
    for original in decoder.originals:
        for dh, dw in [(-1, 0), (0, -1), (1, 0), (-3, -5)]:
            raw = fuzz.parse_raw(original.data)
            raw.height, raw.width = original.height + dh, original.width + dw
            mutant = raw.serialize()
            result = _decode(decoder, original.name, mutant, "all", torch_threads)
            assert result["class"] == "refusal", (original.name, dh, dw, result, mutant.hex())


def test_decoder_refuses_a_chunk_with_zero_strings(decoder, torch_threads):
    for original in decoder.originals:
        raw = fuzz.parse_raw(original.data)
        raw.chunks[0].strings = []
        mutant = raw.serialize()
        result = _decode(decoder, original.name, mutant, "base", torch_threads)
        assert result["class"] == "refusal", (original.name, result, mutant.hex())


def test_campaign_core_in_process(torch_threads):
    with torch_threads(1):
        report = fuzz.run_campaign(
            mutants=50, seed=16, workers=0, timeout=DECODE_TIMEOUT, images=fuzz.SMALL_IMAGES
        )
    assert report["total"] == 50
    assert report["crc_recomputed"] == 25
    assert set(report["by_entropy_model"]) == set(fuzz.ENTROPY)
    assert report["counts"]["refusal"] > 0
    assert report["failures"] == 0, report["failing_mutants"]
    assert report["refusals_not_one_sentence_count"] == 0, report["refusals_not_one_sentence"]
