"""The `.hmc` container: one versioned, CRC-protected stream carrying every layer of an image.

Over 400 lines on purpose: it is one byte layout, and its writer (``LayerChunk._encode``,
``Stream._header``) and its validating parser (``_Parser``) sit side by side so that a change to
the layout is made, and reviewed, in one place.

Layout (all multi-byte integers little-endian; "varint" is unsigned LEB128, minimally encoded;
see docs/bitstream.md for the full table)::

    header  = "HMC" | version u8 | fingerprint 8B | height varint | width varint
              | mode tag u8 [| mode ASCII] | chunk count varint | header CRC32 u32
    chunk   = layer index u8 | flags u8 [| λ f64] | string count varint
              | (length varint | bytes)* | latent_crc u32 | chunk CRC32 u32

``flags`` bit 0 says that the operating point λ of a variable-rate layer follows (IEEE-754
binary64); the other bits are reserved and must be 0. Version 2 streams (hmcodec 0.2) have no
flags byte and no λ; they are read as they are, every layer fixed-rate.

The header CRC covers every header byte before it (magic included). A chunk's CRC covers the
chunk's bytes before it and is seeded with the header CRC, so a chunk spliced in from another
stream is rejected too. The container stores the payload strings and ``latent_crc`` verbatim;
producing and checking them is the codec's job. Everything that can go wrong in
:meth:`Stream.from_bytes` raises :class:`~hmcodec.errors.StreamError` with one sentence.
"""

from __future__ import annotations

import math
import os
import secrets
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hmcodec.errors import StreamError

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MODE_TABLE",
    "LayerChunk",
    "Stream",
    "read_stream",
    "write_stream",
]

MAGIC: bytes = b"HMC"
FORMAT_VERSION: int = 3
#: version 1 had version 2's layout, but its latent checksum did not cover the image size.
_FORMER_VERSIONS = {1: "hmcodec before 0.2"}
#: older versions still read: version 2 is version 3 without the chunk flags (no λ).
_READABLE_VERSIONS = (2, FORMAT_VERSION)
_HAS_LMBDA = 0x01

#: PIL modes written as one tag byte ``0x80 + position``; frozen since format version 1
#: (append only, and only together with a version bump). Other modes are written inline.
MODE_TABLE: tuple[str, ...] = (
    "1",
    "L",
    "P",
    "RGB",
    "RGBA",
    "CMYK",
    "YCbCr",
    "LAB",
    "HSV",
    "I",
    "F",
    "LA",
    "PA",
    "RGBX",
    "RGBa",
    "La",
    "I;16",
    "I;16L",
    "I;16B",
    "I;16N",
)
_MODE_CODES = {mode: 0x80 + i for i, mode in enumerate(MODE_TABLE)}

FINGERPRINT_SIZE = 8
MAX_MODE_LENGTH = 15
MAX_LAYER_INDEX = 255
MAX_SIDE = 2**32 - 1
_MAX_VARINT_BYTES = 10  # enough for any value below 2**64
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


def _check_mode(mode: object) -> None:
    if not isinstance(mode, str):
        raise ValueError(f"source_mode must be a str, not {type(mode).__name__}")
    if not (1 <= len(mode) <= MAX_MODE_LENGTH and mode.isascii() and mode.isprintable()):
        raise ValueError(
            f"source_mode must be 1..{MAX_MODE_LENGTH} printable ASCII characters, got {mode!r}"
        )


def _as_bytes(name: str, value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise ValueError(f"{name} must be bytes, not {type(value).__name__}")


def _varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, least significant group first, high bit = more."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@dataclass(frozen=True)
class LayerChunk:
    """One layer: its index (0 = base), its entropy-coder strings and its latents' CRC32.

    ``lmbda`` is the operating point of a variable-rate layer (``None``: fixed-rate).
    """

    index: int
    strings: tuple[bytes, ...]
    latent_crc: int
    lmbda: float | None = None

    def __post_init__(self) -> None:
        _check_int("index", self.index, 0, MAX_LAYER_INDEX)
        if isinstance(self.strings, (bytes, bytearray, memoryview, str)):
            raise ValueError("strings must be a sequence of bytes strings, not a single string")
        try:
            items = tuple(self.strings)
        except TypeError:
            raise ValueError("strings must be a sequence of bytes strings") from None
        strings = tuple(_as_bytes(f"strings[{i}]", s) for i, s in enumerate(items))
        object.__setattr__(self, "strings", strings)
        _check_int("latent_crc", self.latent_crc, 0, 2**32 - 1)
        if self.lmbda is not None:
            if isinstance(self.lmbda, bool) or not isinstance(self.lmbda, (int, float)):
                raise ValueError(f"lmbda must be a float, not {type(self.lmbda).__name__}")
            if not (math.isfinite(self.lmbda) and self.lmbda > 0):
                raise ValueError(f"lmbda must be finite and positive, got {self.lmbda}")
            object.__setattr__(self, "lmbda", float(self.lmbda))

    @property
    def payload_bytes(self) -> int:
        """Total length of the layer's strings."""
        return sum(len(s) for s in self.strings)

    def _encode(self, seed: int) -> bytes:
        body = bytearray([self.index])
        if self.lmbda is None:
            body.append(0)
        else:
            body.append(_HAS_LMBDA)
            body += _F64.pack(self.lmbda)
        body += _varint(len(self.strings))
        for s in self.strings:
            body += _varint(len(s))
            body += s
        body += _U32.pack(self.latent_crc)
        body += _U32.pack(zlib.crc32(body, seed))
        return bytes(body)


@dataclass(frozen=True)
class Stream:
    """A whole `.hmc` stream: header fields plus one :class:`LayerChunk` per layer."""

    fingerprint: bytes
    height: int
    width: int
    source_mode: str
    chunks: tuple[LayerChunk, ...]

    def __post_init__(self) -> None:
        fingerprint = _as_bytes("fingerprint", self.fingerprint)
        if len(fingerprint) != FINGERPRINT_SIZE:
            raise ValueError(
                f"fingerprint must be exactly {FINGERPRINT_SIZE} bytes, got {len(fingerprint)}"
            )
        object.__setattr__(self, "fingerprint", fingerprint)
        _check_int("height", self.height, 1, MAX_SIDE)
        _check_int("width", self.width, 1, MAX_SIDE)
        _check_mode(self.source_mode)
        try:
            chunks = tuple(self.chunks)
        except TypeError:
            raise ValueError("chunks must be a sequence of LayerChunk") from None
        if not chunks:
            raise ValueError("a stream needs at least one layer chunk")
        for c in chunks:
            if not isinstance(c, LayerChunk):
                raise ValueError(f"chunks must hold LayerChunk, not {type(c).__name__}")
        for a, b in zip(chunks, chunks[1:], strict=False):
            if b.index <= a.index:
                raise ValueError(
                    f"layer indices must be strictly increasing, got {b.index} after {a.index}"
                )
        object.__setattr__(self, "chunks", chunks)

    # -- encoding -------------------------------------------------------------------------

    def _header(self) -> bytes:
        head = bytearray(MAGIC)
        head.append(FORMAT_VERSION)
        head += self.fingerprint
        head += _varint(self.height)
        head += _varint(self.width)
        code = _MODE_CODES.get(self.source_mode)
        if code is not None:
            head.append(code)
        else:
            name = self.source_mode.encode("ascii")
            head.append(len(name))
            head += name
        head += _varint(len(self.chunks))
        head += _U32.pack(zlib.crc32(head))
        return bytes(head)

    def to_bytes(self) -> bytes:
        """Serialise to the canonical byte string (``from_bytes`` inverts it exactly)."""
        header = self._header()
        seed = _U32.unpack_from(header, len(header) - 4)[0]
        return header + b"".join(c._encode(seed) for c in self.chunks)

    @classmethod
    def from_bytes(cls, data: bytes) -> Stream:
        """Parse and verify a stream; any defect raises :class:`StreamError` (one sentence)."""
        try:
            view = memoryview(data).cast("B")
        except TypeError:
            raise StreamError(f"a stream must be bytes, not {type(data).__name__}") from None
        return _Parser(view).parse()

    # -- queries --------------------------------------------------------------------------

    def layer_indices(self) -> tuple[int, ...]:
        """The indices of the layers present, increasing."""
        return tuple(c.index for c in self.chunks)

    def chunk(self, index: int) -> LayerChunk:
        """The chunk of layer ``index``; :class:`StreamError` if the stream lacks it."""
        for c in self.chunks:
            if c.index == index:
                return c
        raise StreamError(f"stream has no layer {index} (it has layers {self._layer_list()})")

    def select(self, indices: Iterable[int]) -> Stream:
        """Same header, only the chunks of ``indices`` (order and repeats do not matter)."""
        wanted = set(indices)
        if not wanted:
            raise StreamError("no layers were selected; select at least one layer")
        present = set(self.layer_indices())
        missing = sorted(wanted - present, key=repr)
        if missing:
            names = ", ".join(str(i) for i in missing)
            raise StreamError(f"stream has no layer {names} (it has layers {self._layer_list()})")
        return Stream(
            fingerprint=self.fingerprint,
            height=self.height,
            width=self.width,
            source_mode=self.source_mode,
            chunks=tuple(c for c in self.chunks if c.index in wanted),
        )

    def overhead_bytes(self) -> int:
        """Container bytes: ``len(to_bytes())`` minus the payload strings."""
        return len(self.to_bytes()) - sum(c.payload_bytes for c in self.chunks)

    def _layer_list(self) -> str:
        return ", ".join(str(i) for i in self.layer_indices())


class _Parser:
    """Reads a stream front to back; every failure is a StreamError naming where it happened."""

    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.pos = 0
        self.version = FORMAT_VERSION

    def take(self, n: int, what: str) -> memoryview:
        end = self.pos + n
        if end > len(self.view):
            raise StreamError(
                f"stream is truncated: it ends at byte {len(self.view)} inside the {what}"
            )
        out = self.view[self.pos : end]
        self.pos = end
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u32(self, what: str) -> int:
        return _U32.unpack(self.take(4, what))[0]

    def varint(self, what: str) -> int:
        value = 0
        for i in range(_MAX_VARINT_BYTES):
            byte = self.u8(what)
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise StreamError(f"the {what} is not a minimally encoded varint")
                if value >= 2**64:
                    break
                return value
        raise StreamError(f"the {what} overflows (varint longer than 64 bits)")

    def parse(self) -> Stream:
        view = self.view
        if len(view) == 0:
            raise StreamError("stream is empty (0 bytes)")
        head = bytes(view[: len(MAGIC)])
        if head != MAGIC:
            if len(view) < len(MAGIC) and MAGIC.startswith(head):
                raise StreamError(
                    f"stream is truncated: it ends at byte {len(view)} inside the magic bytes"
                )
            raise StreamError("not an hmcodec stream (bad magic bytes)")
        self.pos = len(MAGIC)
        version = self.u8("format version")
        if version in _FORMER_VERSIONS:
            raise StreamError(
                f"stream format version {version} (written by {_FORMER_VERSIONS[version]}) is no "
                f"longer read; this hmcodec reads version {FORMAT_VERSION}: re-encode the image"
            )
        if version not in _READABLE_VERSIONS:
            raise StreamError(
                f"stream format version {version} is not supported; "
                f"this hmcodec reads versions {_READABLE_VERSIONS[0]} to {FORMAT_VERSION}"
            )
        self.version = version

        # Header: read its structure, verify its CRC, only then trust its values.
        fingerprint = bytes(self.take(FINGERPRINT_SIZE, "header's model fingerprint"))
        height = self.varint("header's image height")
        width = self.varint("header's image width")
        tag = self.u8("header's image mode")
        raw_mode = bytes(self.take(tag, "header's image mode")) if tag < 0x80 else b""
        count = self.varint("header's layer count")
        header_end = self.pos
        header_crc = self.u32("header's CRC")
        if zlib.crc32(view[:header_end]) != header_crc:
            raise StreamError("stream header is corrupted (CRC mismatch)")
        if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
            raise StreamError(f"stream header gives an invalid image size {width}x{height}")
        mode = self._mode(tag, raw_mode)
        if not 1 <= count <= MAX_LAYER_INDEX + 1:
            raise StreamError(
                f"stream header declares {count} layer chunks; 1 to {MAX_LAYER_INDEX + 1} are valid"
            )

        chunks: list[LayerChunk] = []
        for k in range(count):
            chunks.append(self._chunk(k, count, header_crc, chunks[-1] if chunks else None))
        if self.pos != len(view):
            extra = len(view) - self.pos
            noun = "byte" if extra == 1 else "bytes"
            raise StreamError(f"stream has {extra} unexpected trailing {noun} after its last layer")
        return Stream(fingerprint, height, width, mode, tuple(chunks))

    def _mode(self, tag: int, raw: bytes) -> str:
        if tag >= 0x80:
            if tag - 0x80 >= len(MODE_TABLE):
                raise StreamError(f"stream header has an unknown image mode code {tag:#04x}")
            return MODE_TABLE[tag - 0x80]
        mode = raw.decode("latin-1")
        try:
            _check_mode(mode)
        except ValueError:
            raise StreamError(f"stream header has an invalid image mode name {mode!r}") from None
        if mode in _MODE_CODES:
            raise StreamError(f"stream header spells out image mode {mode!r} instead of its code")
        return mode

    def _chunk(self, k: int, count: int, seed: int, previous: LayerChunk | None) -> LayerChunk:
        start = self.pos
        where = f"layer chunk {k + 1} of {count}"
        if start == len(self.view):
            raise StreamError(
                f"stream is truncated: it ends at byte {start} before {where} "
                f"(the header declares {count})"
            )
        index = self.u8(f"{where}'s layer index")
        where = f"layer {index} chunk"
        lmbda = None
        if self.version >= 3:
            flags = self.u8(f"{where}'s flags")
            if flags & ~_HAS_LMBDA:
                raise StreamError(f"{where} sets reserved flag bits ({flags:#04x})")
            if flags & _HAS_LMBDA:
                lmbda = _F64.unpack(self.take(_F64.size, f"{where}'s operating point"))[0]
        n_strings = self.varint(f"{where}'s string count")
        if n_strings > len(self.view) - self.pos:  # each string needs at least its length byte
            raise StreamError(
                f"stream is truncated: it ends at byte {len(self.view)} inside the {where} "
                f"(it declares {n_strings} strings)"
            )
        spans = []
        for i in range(n_strings):
            length = self.varint(f"{where}'s string {i} length")
            spans.append(self.take(length, f"{where}'s string {i}"))
        latent_crc = self.u32(f"{where}'s latent CRC")
        body_end = self.pos
        chunk_crc = self.u32(f"{where}'s CRC")
        if zlib.crc32(self.view[start:body_end], seed) != chunk_crc:
            raise StreamError(f"{where} is corrupted (CRC mismatch)")
        if previous is not None and index <= previous.index:
            raise StreamError(
                f"stream layer indices are not strictly increasing "
                f"(layer {index} follows layer {previous.index})"
            )
        if lmbda is not None and not (math.isfinite(lmbda) and lmbda > 0):
            raise StreamError(f"{where} gives an invalid operating point λ = {lmbda}")
        return LayerChunk(index, tuple(bytes(s) for s in spans), latent_crc, lmbda)


def read_stream(path: str | os.PathLike[str]) -> Stream:
    """Read and verify a `.hmc` file; :class:`StreamError` if missing, unreadable or invalid."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise StreamError(f"no such stream file: {os.fspath(path)}") from None
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise StreamError(f"cannot read stream file {os.fspath(path)}: {reason}") from None
    return Stream.from_bytes(data)


def write_stream(stream: Stream, path: str | os.PathLike[str]) -> int:
    """Write atomically (temp file in the same folder, then ``os.replace``); returns the size.

    A failure leaves any existing file at ``path`` untouched and no temp file behind; it raises
    :class:`StreamError`. A path that exists but is not a regular file (a folder, a device such
    as ``/dev/full``, a named pipe) is refused; a symbolic link to a regular file replaces that
    file and keeps the link, a dangling one is refused (:func:`hmcodec.io.output_target`).
    """
    from hmcodec.files import output_target

    if not isinstance(stream, Stream):
        raise TypeError(f"write_stream needs a Stream, not {type(stream).__name__}")
    data = stream.to_bytes()
    target = output_target(path, StreamError, "stream file")
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise StreamError(f"cannot write stream file {os.fspath(path)}: {reason}") from None
    return len(data)
