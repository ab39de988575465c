"""The `.hmc` container: round trips, exact layout, and a StreamError for every defect."""

from __future__ import annotations

import os
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hmcodec.bitstream import (
    FORMAT_VERSION,
    MAGIC,
    MODE_TABLE,
    LayerChunk,
    Stream,
    read_stream,
    write_stream,
)
from hmcodec.errors import HmcodecError, StreamError

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- helpers ------------------------------------------------------------------------------------


def leb128(value: int) -> bytes:
    """Independent unsigned LEB128 encoder (what docs/bitstream.md specifies)."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def u32(value: int) -> bytes:
    return struct.pack("<I", value)


def raw_header(
    *,
    version: int = FORMAT_VERSION,
    fingerprint: bytes = b"FPRINT01",
    height: bytes = b"\x10",
    width: bytes = b"\x20",
    mode: bytes = b"\x83",
    count: bytes = b"\x01",
) -> bytes:
    """A header from raw field bytes, with a correct CRC, so only the tested field is wrong."""
    body = MAGIC + bytes([version]) + fingerprint + height + width + mode + count
    return body + u32(zlib.crc32(body))


def raw_chunk(
    index: int,
    strings: list[bytes],
    latent_crc: int,
    header: bytes,
    lmbda: float | None = None,
    version: int = FORMAT_VERSION,
) -> bytes:
    """A chunk with a correct CRC seeded by ``header``'s CRC (as the docs specify); version 2
    chunks have no flags byte."""
    body = bytes([index])
    if version >= 3:
        body += b"\x00" if lmbda is None else b"\x01" + struct.pack("<d", lmbda)
    body += leb128(len(strings))
    for s in strings:
        body += leb128(len(s)) + s
    body += u32(latent_crc)
    seed = struct.unpack("<I", header[-4:])[0]
    return body + u32(zlib.crc32(body, seed))


def small_stream() -> Stream:
    return Stream(
        fingerprint=b"\x01\x23\x45\x67\x89\xab\xcd\xef",
        height=48,
        width=64,
        source_mode="RGB",
        chunks=(
            LayerChunk(0, (b"hyper", b"latent-base"), 0xDEADBEEF),
            LayerChunk(1, (b"", b"enh"), 7),
        ),
    )


def errors_of(data: bytes) -> str:
    with pytest.raises(StreamError) as info:
        Stream.from_bytes(data)
    return str(info.value)


# -- strategies ---------------------------------------------------------------------------------

fingerprints = st.binary(min_size=8, max_size=8)
sides = st.one_of(st.integers(1, 5000), st.integers(1, 2**32 - 1))
modes = st.one_of(
    st.sampled_from(MODE_TABLE),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=15),
)


@st.composite
def streams(draw: st.DrawFn, max_string: int = 300) -> Stream:
    indices = sorted(draw(st.sets(st.integers(0, 255), min_size=1, max_size=4)))
    chunks = tuple(
        LayerChunk(
            index=i,
            strings=tuple(draw(st.lists(st.binary(max_size=max_string), max_size=3))),
            latent_crc=draw(st.integers(0, 2**32 - 1)),
        )
        for i in indices
    )
    return Stream(draw(fingerprints), draw(sides), draw(sides), draw(modes), chunks)


# -- round trip and layout ----------------------------------------------------------------------


@FAST
@given(streams())
def test_round_trip_is_exact_and_canonical(stream: Stream) -> None:
    data = stream.to_bytes()
    back = Stream.from_bytes(data)
    assert back == stream
    assert back.to_bytes() == data
    assert stream.overhead_bytes() == len(data) - sum(
        len(s) for c in stream.chunks for s in c.strings
    )


def test_large_and_empty_strings_round_trip() -> None:
    big = bytes(range(256)) * 1200  # 307200 bytes: a 3-byte length varint
    stream = Stream(b"\x00" * 8, 1, 1, "I;16", (LayerChunk(3, (b"", big, b""), 0),))
    back = Stream.from_bytes(stream.to_bytes())
    assert back.chunks[0].strings == (b"", big, b"")
    assert back.chunks[0].payload_bytes == len(big)


def test_all_256_layers_round_trip() -> None:
    chunks = tuple(LayerChunk(i, (bytes([i]),), i) for i in range(256))
    stream = Stream(b"\x00" * 8, 1, 1, "RGB", chunks)
    data = stream.to_bytes()
    assert data[15:17] == leb128(256)
    assert Stream.from_bytes(data).layer_indices() == tuple(range(256))


def test_byte_layout_matches_the_documented_table() -> None:
    s = small_stream()
    header = (
        b"HMC"
        + b"\x03"
        + s.fingerprint
        + b"\x30"  # height 48
        + b"\x40"  # width 64
        + bytes([0x80 + MODE_TABLE.index("RGB")])
        + b"\x02"  # two chunks
    )
    header += u32(zlib.crc32(header))
    expected = (
        header
        + raw_chunk(0, [b"hyper", b"latent-base"], 0xDEADBEEF, header)
        + raw_chunk(1, [b"", b"enh"], 7, header)
    )
    assert s.to_bytes() == expected


def test_operating_point_layout_and_round_trip() -> None:
    """A variable-rate layer's λ: flags bit 0, then the f64 LE value, before the strings."""
    s = Stream(b"\x00" * 8, 16, 16, "RGB", (LayerChunk(0, (b"ab",), 5, 0.3125),))
    data = s.to_bytes()
    header = data[: len(data) - len(raw_chunk(0, [b"ab"], 5, data[:19], 0.3125))]
    assert data == header + raw_chunk(0, [b"ab"], 5, header, 0.3125)
    assert Stream.from_bytes(data).chunks[0].lmbda == 0.3125
    assert Stream.from_bytes(small_stream().to_bytes()).chunks[0].lmbda is None


def test_version_2_streams_are_read_as_fixed_rate() -> None:
    """hmcodec 0.2 wrote version 2: no flags byte; it is still read, every layer fixed-rate."""
    head = raw_header(version=2, height=b"\x30", width=b"\x40", count=b"\x02")
    data = head + raw_chunk(0, [b"base"], 9, head, version=2)
    data += raw_chunk(1, [b"", b"enh"], 7, head, version=2)
    stream = Stream.from_bytes(data)
    assert [(c.index, c.strings, c.latent_crc, c.lmbda) for c in stream.chunks] == [
        (0, (b"base",), 9, None),
        (1, (b"", b"enh"), 7, None),
    ]


@pytest.mark.parametrize("flags", [0x02, 0x80, 0xFF])
def test_reserved_chunk_flags_are_refused(flags: int) -> None:
    data = bytearray(small_stream().to_bytes())
    position = len(raw_header(height=b"\x30", width=b"\x40", count=b"\x02")) + 1
    assert data[position] == 0
    data[position] = flags
    assert errors_of(bytes(data)) == f"layer 0 chunk sets reserved flag bits ({flags:#04x})"


@pytest.mark.parametrize("value", [0.0, -1.0, float("inf"), float("nan")])
def test_invalid_operating_point_is_refused(value: float) -> None:
    head = raw_header(height=b"\x10", width=b"\x10", count=b"\x01")
    message = errors_of(head + raw_chunk(0, [b"x"], 1, head, value))
    assert message.startswith("layer 0 chunk gives an invalid operating point")
    with pytest.raises(ValueError, match="finite and positive"):
        LayerChunk(0, (b"x",), 1, value)


def test_uncommon_mode_is_written_inline() -> None:
    s = Stream(b"\x00" * 8, 300, 2, "BGR;15", (LayerChunk(0, (), 0),))
    data = s.to_bytes()
    assert data[12:].startswith(leb128(300) + leb128(2) + b"\x06BGR;15")
    assert Stream.from_bytes(data).source_mode == "BGR;15"


def test_varints_are_unsigned_leb128() -> None:
    s = Stream(b"\x00" * 8, 624485, 127, "L", (LayerChunk(0, (), 0),))
    assert s.to_bytes()[12:17] == b"\xe5\x8e\x26\x7f\x81"  # 624485, 127, mode code of "L"


def test_two_layer_overhead_is_a_few_dozen_bytes() -> None:
    stream = Stream(
        fingerprint=b"\xff" * 8,
        height=512,
        width=768,
        source_mode="RGB",
        chunks=(
            LayerChunk(0, (b"b" * 5_000,), 1),
            LayerChunk(1, (b"e" * 30_000,), 2),
        ),
    )
    assert stream.overhead_bytes() == 49  # docs/bitstream.md, "Overhead"
    assert stream.overhead_bytes() == len(stream.to_bytes()) - 35_000


# -- every defect is a StreamError --------------------------------------------------------------


def test_every_truncation_of_a_small_stream_raises() -> None:
    data = small_stream().to_bytes()
    for n in range(len(data)):
        with pytest.raises(StreamError):
            Stream.from_bytes(data[:n])


@settings(FAST, max_examples=100)
@given(streams(max_string=40))
def test_every_truncation_raises(stream: Stream) -> None:
    data = stream.to_bytes()
    for n in range(len(data)):
        with pytest.raises(StreamError):
            Stream.from_bytes(data[:n])


def test_every_single_bit_flip_of_a_small_stream_raises() -> None:
    data = small_stream().to_bytes()
    for bit in range(8 * len(data)):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(StreamError):
            Stream.from_bytes(bytes(flipped))


@settings(FAST, max_examples=1000)
@given(st.data())
def test_any_single_bit_flip_raises(data: st.DataObject) -> None:
    raw = bytearray(data.draw(streams()).to_bytes())
    bit = data.draw(st.integers(0, 8 * len(raw) - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(StreamError):
        Stream.from_bytes(bytes(raw))


@settings(FAST, max_examples=300)
@given(st.one_of(st.binary(max_size=200), st.binary(max_size=200).map(lambda b: b"HMC\x02" + b)))
def test_random_garbage_raises(garbage: bytes) -> None:
    with pytest.raises(StreamError):
        Stream.from_bytes(garbage)


@pytest.mark.parametrize("bad", ["text", None, 12, [1, 2]])
def test_non_bytes_input_raises_stream_error(bad: object) -> None:
    with pytest.raises(StreamError):
        Stream.from_bytes(bad)  # type: ignore[arg-type]


def test_empty_stream() -> None:
    assert errors_of(b"") == "stream is empty (0 bytes)"


@pytest.mark.parametrize(
    "data", [b"PNG\x01", b"\x89PNG\r\n\x1a\n", b"hmc\x01" + b"\x00" * 40, b"X"]
)
def test_wrong_magic(data: bytes) -> None:
    assert errors_of(data) == "not an hmcodec stream (bad magic bytes)"


@pytest.mark.parametrize("version", [0, 4, 255])
def test_wrong_version(version: int) -> None:
    data = bytearray(small_stream().to_bytes())
    data[3] = version
    assert errors_of(bytes(data)) == (
        f"stream format version {version} is not supported; this hmcodec reads versions 2 to 3"
    )


def test_version_1_is_refused_by_name() -> None:
    """Version 1 streams had a latent checksum that did not cover the image size."""
    data = bytearray(small_stream().to_bytes())
    data[3] = 1
    assert errors_of(bytes(data)) == (
        "stream format version 1 (written by hmcodec before 0.2) is no longer read; "
        "this hmcodec reads version 3: re-encode the image"
    )


def test_truncation_says_where() -> None:
    data = small_stream().to_bytes()
    assert errors_of(data[:2]) == "stream is truncated: it ends at byte 2 inside the magic bytes"
    assert "header's model fingerprint" in errors_of(data[:9])
    header_len = len(raw_header(height=b"\x30", width=b"\x40", count=b"\x02"))
    msg = errors_of(data[:header_len])
    assert "truncated" in msg and "layer chunk 1 of 2" in msg
    msg = errors_of(data[: len(data) - 2])
    assert "truncated" in msg and "layer 1 chunk's CRC" in msg


def test_missing_last_chunk_is_truncation_not_a_shorter_stream() -> None:
    data = small_stream().to_bytes()
    header = raw_header(height=b"\x30", width=b"\x40", count=b"\x02")
    cut = len(data) - len(raw_chunk(1, [b"", b"enh"], 7, header))  # drop the whole layer 1
    assert Stream.from_bytes(data[:cut] + data[cut:]).layer_indices() == (0, 1)
    msg = errors_of(data[:cut])
    assert msg == (
        f"stream is truncated: it ends at byte {cut} before layer chunk 2 of 2 "
        "(the header declares 2)"
    )


def test_header_corruption() -> None:
    data = bytearray(small_stream().to_bytes())
    data[6] ^= 0x10  # inside the fingerprint
    assert errors_of(bytes(data)) == "stream header is corrupted (CRC mismatch)"


def test_chunk_corruption_names_the_layer() -> None:
    data = bytearray(small_stream().to_bytes())
    data[-10] ^= 0x01  # inside layer 1's payload
    assert errors_of(bytes(data)) == "layer 1 chunk is corrupted (CRC mismatch)"
    data = bytearray(small_stream().to_bytes())
    data[-1] ^= 0x80  # layer 1's own CRC
    assert errors_of(bytes(data)) == "layer 1 chunk is corrupted (CRC mismatch)"


def test_chunk_spliced_from_another_stream_is_rejected() -> None:
    a = small_stream()
    b = Stream(b"otherfp!", a.height, a.width, a.source_mode, a.chunks)
    a_bytes, b_bytes = a.to_bytes(), b.to_bytes()
    header_len = len(raw_header(height=b"\x30", width=b"\x40", count=b"\x02"))
    spliced = a_bytes[:header_len] + b_bytes[header_len:]
    assert errors_of(spliced) == "layer 0 chunk is corrupted (CRC mismatch)"


def test_trailing_bytes() -> None:
    data = small_stream().to_bytes()
    assert errors_of(data + b"\x00") == (
        "stream has 1 unexpected trailing byte after its last layer"
    )
    assert errors_of(data + data) == (
        f"stream has {len(data)} unexpected trailing bytes after its last layer"
    )


@pytest.mark.parametrize("second", [0, 1])
def test_non_increasing_layer_indices(second: int) -> None:
    header = raw_header(count=b"\x02")
    data = header + raw_chunk(1, [b"x"], 0, header) + raw_chunk(second, [b"y"], 0, header)
    assert errors_of(data) == (
        f"stream layer indices are not strictly increasing (layer {second} follows layer 1)"
    )


def test_varint_overflow() -> None:
    header = raw_header(height=b"\xff" * 10 + b"\x01")
    assert "overflows" in errors_of(header)
    header = raw_header(height=b"\xff" * 9 + b"\x02")  # 10 bytes but 2**64 and above
    assert "overflows" in errors_of(header)


def test_non_minimal_varint() -> None:
    header = raw_header(height=b"\x90\x00")
    assert errors_of(header + raw_chunk(0, [], 0, header)) == (
        "the header's image height is not a minimally encoded varint"
    )


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"height": b"\x00"}, "invalid image size"),
        ({"width": leb128(2**32)}, "invalid image size"),
        ({"mode": b"\xff"}, "unknown image mode code 0xff"),
        ({"mode": b"\x00"}, "invalid image mode name"),
        ({"mode": b"\x02L\xe9"}, "invalid image mode name"),
        ({"mode": b"\x10" + b"A" * 16}, "invalid image mode name"),
        ({"mode": b"\x03RGB"}, "instead of its code"),
        ({"count": b"\x00"}, "declares 0 layer chunks"),
        ({"count": leb128(257)}, "declares 257 layer chunks"),
    ],
)
def test_semantically_invalid_header_with_valid_crc(fields: dict, fragment: str) -> None:
    header = raw_header(**fields)
    msg = errors_of(header + raw_chunk(0, [b"z"], 0, header))
    assert fragment in msg


def test_huge_declared_string_count_is_truncation() -> None:
    header = raw_header()
    body = b"\x00\x00" + leb128(2**40)  # layer 0, no flags
    msg = errors_of(header + body + b"\x00" * 8)
    assert "truncated" in msg and f"{2**40} strings" in msg


def test_errors_are_single_sentences_and_user_facing() -> None:
    assert issubclass(StreamError, HmcodecError)
    data = small_stream().to_bytes()
    for bad in (b"", b"XX", data[:5], data[:-1], data + b"!", b"HMC\x07"):
        msg = errors_of(bad)
        assert "\n" not in msg and msg.count(". ") == 0 and not msg.endswith(".")


# -- queries, select --------------------------------------------------------------------------


def three_layers() -> Stream:
    return Stream(
        b"ABCDEFGH",
        100,
        200,
        "RGBA",
        (LayerChunk(0, (b"h0", b"y0"), 10), LayerChunk(1, (b"y1",), 11), LayerChunk(4, (), 14)),
    )


def test_layer_indices_and_chunk_lookup() -> None:
    s = three_layers()
    assert s.layer_indices() == (0, 1, 4)
    assert s.chunk(1) == LayerChunk(1, (b"y1",), 11)
    assert s.chunk(4).latent_crc == 14
    with pytest.raises(StreamError, match=r"stream has no layer 2 \(it has layers 0, 1, 4\)"):
        s.chunk(2)


@pytest.mark.parametrize("indices", [[0], [1], [0, 4], [4, 0, 0], (1, 4), {0, 1, 4}])
def test_select_keeps_only_chosen_chunks(indices: list[int]) -> None:
    s = three_layers()
    sub = s.select(indices)
    assert sub.layer_indices() == tuple(sorted(set(indices)))
    assert all(sub.chunk(i) == s.chunk(i) for i in set(indices))
    assert (sub.fingerprint, sub.height, sub.width, sub.source_mode) == (
        s.fingerprint,
        s.height,
        s.width,
        s.source_mode,
    )
    assert Stream.from_bytes(sub.to_bytes()) == sub


def test_base_only_extract_is_smaller_and_reparses() -> None:
    s = three_layers()
    base = Stream.from_bytes(s.to_bytes()).select([0])
    data = base.to_bytes()
    assert len(data) < len(s.to_bytes())
    assert Stream.from_bytes(data).chunks == (s.chunk(0),)


@pytest.mark.parametrize("indices", [[2], [0, 9], []])
def test_select_missing_or_no_layer_raises(indices: list[int]) -> None:
    with pytest.raises(StreamError):
        three_layers().select(indices)


# -- constructor validation ---------------------------------------------------------------------


def good_kwargs() -> dict:
    return {
        "fingerprint": b"12345678",
        "height": 1,
        "width": 1,
        "source_mode": "L",
        "chunks": (LayerChunk(0, (b"x",), 0),),
    }


@pytest.mark.parametrize(
    "override",
    [
        {"fingerprint": b"1234567"},
        {"fingerprint": b"123456789"},
        {"fingerprint": "12345678"},
        {"height": 0},
        {"width": -3},
        {"height": 2**32},
        {"width": 1.0},
        {"height": True},
        {"source_mode": ""},
        {"source_mode": "A" * 16},
        {"source_mode": "RGBé"},
        {"source_mode": "L\n"},
        {"source_mode": b"RGB"},
        {"chunks": ()},
        {"chunks": (LayerChunk(1, (), 0), LayerChunk(1, (), 0))},
        {"chunks": (LayerChunk(2, (), 0), LayerChunk(1, (), 0))},
        {"chunks": ("not a chunk",)},
    ],
)
def test_stream_constructor_rejects_bad_fields(override: dict) -> None:
    with pytest.raises(ValueError):
        Stream(**{**good_kwargs(), **override})


def test_constructor_accepts_the_good_fields() -> None:
    s = Stream(**good_kwargs())
    assert s.overhead_bytes() > 0
    assert Stream(**{**good_kwargs(), "fingerprint": bytearray(b"12345678")}).fingerprint == (
        b"12345678"
    )


@pytest.mark.parametrize(
    "args",
    [
        (-1, (), 0),
        (256, (), 0),
        (0, (), -1),
        (0, (), 2**32),
        (0, b"abc", 0),
        (0, ("abc",), 0),
        (0, 5, 0),
    ],
)
def test_layer_chunk_rejects_bad_fields(args: tuple) -> None:
    with pytest.raises(ValueError):
        LayerChunk(*args)


def test_layer_chunk_normalises_strings_to_a_tuple_of_bytes() -> None:
    c = LayerChunk(255, [bytearray(b"ab"), memoryview(b"cde")], 2**32 - 1)
    assert c.strings == (b"ab", b"cde")
    assert c.payload_bytes == 5
    assert hash(c) == hash(LayerChunk(255, (b"ab", b"cde"), 2**32 - 1))


# -- files ------------------------------------------------------------------------------------


def test_write_then_read_round_trip(tmp_path) -> None:
    s = three_layers()
    path = tmp_path / "img.hmc"
    n = write_stream(s, path)
    assert n == len(s.to_bytes()) == path.stat().st_size
    assert path.read_bytes() == s.to_bytes()
    assert read_stream(path) == s
    assert read_stream(str(path)) == s
    assert os.listdir(tmp_path) == ["img.hmc"]  # no temp file left behind


def test_write_replaces_an_existing_file(tmp_path) -> None:
    path = tmp_path / "img.hmc"
    path.write_bytes(b"old content that is longer than the new stream" * 10)
    s = small_stream()
    write_stream(s, path)
    assert path.read_bytes() == s.to_bytes()
    assert os.listdir(tmp_path) == ["img.hmc"]


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch) -> None:
    path = tmp_path / "img.hmc"
    path.write_bytes(b"precious")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StreamError, match="cannot write stream file"):
        write_stream(small_stream(), path)
    assert path.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["img.hmc"]


def test_write_into_missing_folder_raises_stream_error(tmp_path) -> None:
    with pytest.raises(StreamError, match="cannot write stream file"):
        write_stream(small_stream(), tmp_path / "nope" / "img.hmc")


def test_write_to_a_folder_path_raises_stream_error(tmp_path) -> None:
    with pytest.raises(StreamError, match="cannot write stream file"):
        write_stream(small_stream(), tmp_path)
    assert os.listdir(tmp_path) == []


def test_read_missing_file(tmp_path) -> None:
    path = tmp_path / "absent.hmc"
    with pytest.raises(StreamError) as info:
        read_stream(path)
    assert str(info.value) == f"no such stream file: {path}"


def test_read_directory_and_corrupt_file_raise_stream_error(tmp_path) -> None:
    with pytest.raises(StreamError):
        read_stream(tmp_path)
    path = tmp_path / "bad.hmc"
    path.write_bytes(small_stream().to_bytes()[:-1])
    with pytest.raises(StreamError, match="truncated"):
        read_stream(path)
