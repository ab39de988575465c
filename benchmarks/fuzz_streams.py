"""Fuzz campaign over `.hmc` streams: mutate real streams, decode every mutant, classify it.

Streams come from several ShapesWorld images, each coded with tiny codecs (the test suite's
``TINY_CODEC`` with amplified latents, fixed seed) using different entropy models. Mutations:
bit and byte flips, truncation, insertions and deletions, chunk duplication, removal, reordering
and splicing, header fields set to extremes (sizes, fingerprint, version, mode tag, layer count,
layer index, string count and lengths), payload edits and pure random bytes. Every other mutant
has its **CRCs recomputed** (header CRC, then each chunk CRC seeded with it, as
docs/bitstream.md defines; the codec's ``latent_crc`` is never recomputed), so the parser and the
decoder behind the CRCs are exercised too.

Each mutant goes through ``Stream.from_bytes`` and ``hmcodec.codec.api.decode`` (``"all"``, or
``"base"`` for a quarter of them) in a pool of long-lived worker processes (spawned once: torch
costs ~10 s to import), each on one thread and under an address-space cap; the parent enforces a
per-mutant time limit (a hung worker is killed and restarted). Classes:

* ``refusal``   — an ``HmcodecError`` subclass (its message should be one sentence);
* ``crash``     — any other exception, or a worker that died of a signal;
* ``hang``      — over the time limit;
* ``oom``       — ``MemoryError`` / an allocator failure under the cap, or killed for memory;
* ``identical`` — decoded to the same prediction and image as the original stream;
* ``garbage``   — decoded to something else without an error.

    OMP_NUM_THREADS=1 python benchmarks/fuzz_streams.py --mutants 10000 --out results/fuzz

writes ``report.json`` and ``report.md`` to ``--out`` and exits 1 if any mutant is a crash, a
hang, out-of-memory or silent garbage. ``run_campaign`` is the importable core (the test suite
runs it in-process for a few dozen mutants; ``workers=0`` means in-process).
"""

from __future__ import annotations

import argparse
import collections
import copy
import faulthandler
import hashlib
import json
import os
import random
import re
import resource
import signal
import struct
import sys
import time
import traceback
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmcodec.bitstream import _varint

# ------------------------------------------------------------------------------- the corpus
#: (height, width, ShapesWorld test index): sizes on, off and across the 16-pixel grid.
IMAGES: tuple[tuple[int, int, int], ...] = ((64, 64, 0), (48, 80, 1), (100, 37, 2), (128, 96, 3))
#: small images for the in-suite run.
SMALL_IMAGES: tuple[tuple[int, int, int], ...] = ((32, 32, 0), (48, 32, 1), (17, 40, 2))
#: entropy models (names in ``hmcodec.entropy.ENTROPY_MODELS``), used for both layers;
#: ``@variable-rate``: both layers variable-rate (``VARIABLE_RATE``), streams at several λ.
ENTROPY: tuple[str, ...] = ("context", "checkerboard", "checkerboard@variable-rate")
VARIABLE_RATE: dict[str, Any] = {"base": [1.0, 16.0], "enhancement": [0.05, 0.8], "levels": 4}
#: the operating point (quality) of a variable-rate model's stream of image ``index``.
QUALITIES = (0.0, 0.5, 1.0, 0.3)
MODEL_SEED = 0

#: tests/conftest.py's tiny codec and latent gain (copied: conftest imports pytest).
TINY_CODEC: dict[str, Any] = {
    "transform": "tiny",
    "base_channels": 8,
    "enhancement_channels": 16,
    "side_channels": 8,
    "task": {"name": "segmentation-tiny", "num_classes": 6, "width": 8},
}
LATENT_GAIN = 30.0

FAILURES = ("crash", "hang", "oom", "garbage")
CLASSES = ("refusal", "identical", *FAILURES)


@dataclass
class Original:
    """One valid stream of the corpus."""

    name: str
    entropy: str
    height: int
    width: int
    data: bytes


def build_model(entropy: str, seed: int = MODEL_SEED):
    """A coding-ready tiny codec (conftest's ``build_codec`` + ``prepare``); global RNG kept."""
    import torch

    from hmcodec.checkpoint import prepare
    from hmcodec.codec import ScalableCodec

    entropy, _, variant = entropy.partition("@")
    settings: dict[str, Any] = {
        "method": "conditional",
        "base_entropy": entropy,
        "enhancement_entropy": entropy,
    }
    if variant:
        settings["variable_rate"] = copy.deepcopy(VARIABLE_RATE)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        codec = ScalableCodec(copy.deepcopy(TINY_CODEC) | settings)
    with torch.no_grad():
        analyses = [codec.base_analysis, getattr(codec.enhancement, "analysis", None)]
        for analysis in filter(None, analyses):
            analysis[-1].weight.mul_(LATENT_GAIN)
            analysis[-1].bias.mul_(LATENT_GAIN)
    return prepare(codec)


def shapes_image(height: int, width: int, index: int):
    """A ShapesWorld test image (3×H×W in [0, 1]); sides under 16 are crops, as in conftest."""
    from hmcodec.data import build_dataset

    spec = {"name": "shapesworld", "split": "test", "image_size": [max(height, 16), max(width, 16)]}
    dataset = build_dataset(spec | {"num_samples": index + 1})
    return dataset[index]["image"][:, :height, :width].contiguous()


def build_corpus(
    images: Sequence[tuple[int, int, int]] = IMAGES, entropies: Sequence[str] = ENTROPY
) -> tuple[dict[str, Any], list[Original]]:
    """Models by entropy name and the original streams (one per image and entropy model)."""
    from hmcodec.codec import api

    models = {e: build_model(e) for e in entropies}
    originals = []
    for entropy in entropies:
        for h, w, index in images:
            model = models[entropy]
            quality = QUALITIES[index % len(QUALITIES)] if model.codec.rate_ranges() else None
            point = api.operating_point(model.codec, quality=quality)
            stream = api.encode(model, shapes_image(h, w, index), lmbdas=point)
            name = f"{entropy}-{w}x{h}-{index}"
            originals.append(Original(name, entropy, h, w, stream.to_bytes()))
    return models, originals


# ------------------------------------------------------------------------ raw stream layout
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")


def varint(value: int) -> bytes:
    """Unsigned LEB128 of any non-negative int (also above 2**64, to test the overflow check)."""
    return _varint(value)


class _End(Exception):
    pass


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(10):
        if pos >= len(data):
            raise _End
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos
    raise _End


@dataclass
class RawChunk:
    """A chunk with every field free (``None``: derived from the others, as a writer would)."""

    index: int
    strings: list[bytes]
    latent_crc: int
    lmbda: float | None = None
    flags: int | None = None  # None: bit 0 set iff lmbda is given
    string_count: int | None = None
    lengths: list[int] | None = None
    crc: int | None = None


@dataclass
class RawStream:
    """A stream with every header field free; ``serialize`` writes it, valid or not."""

    fingerprint: bytes
    height: int
    width: int
    mode: bytes  # the tag byte and, for tags 1..15, the name
    chunks: list[RawChunk]
    version: int = 3
    magic: bytes = b"HMC"
    count: int | None = None
    header_crc: int | None = None

    def serialize(self) -> bytes:
        head = bytearray(self.magic)
        head.append(self.version & 0xFF)
        head += self.fingerprint
        head += varint(self.height) + varint(self.width) + self.mode
        head += varint(len(self.chunks) if self.count is None else self.count)
        seed = zlib.crc32(head) if self.header_crc is None else self.header_crc
        out = head + _U32.pack(seed)
        for c in self.chunks:
            body = bytearray([c.index & 0xFF])
            if self.version >= 3:
                flags = int(c.lmbda is not None) if c.flags is None else c.flags
                body.append(flags & 0xFF)
                if flags & 1:
                    body += _F64.pack(0.0 if c.lmbda is None else c.lmbda)
            body += varint(len(c.strings) if c.string_count is None else c.string_count)
            for i, s in enumerate(c.strings):
                length = len(s) if c.lengths is None or i >= len(c.lengths) else c.lengths[i]
                body += varint(length) + s
            body += _U32.pack(c.latent_crc & 0xFFFFFFFF)
            crc = zlib.crc32(body, seed) if c.crc is None else c.crc
            out += body + _U32.pack(crc)
        return bytes(out)


def parse_raw(data: bytes) -> RawStream:
    """Parse a *valid* stream into a :class:`RawStream` (CRC fields left ``None``)."""
    pos = 4
    fingerprint = data[pos : pos + 8]
    pos += 8
    height, pos = _read_varint(data, pos)
    width, pos = _read_varint(data, pos)
    tag = data[pos]
    mode_end = pos + 1 + (tag if tag < 0x80 else 0)
    mode = data[pos:mode_end]
    count, pos = _read_varint(data, mode_end)
    pos += 4
    chunks = []
    for _ in range(count):
        index, lmbda = data[pos], None
        pos += 1
        if data[3] >= 3:
            flags = data[pos]
            pos += 1
            if flags & 1:
                lmbda = _F64.unpack_from(data, pos)[0]
                pos += 8
        n, pos = _read_varint(data, pos)
        strings = []
        for _ in range(n):
            length, pos = _read_varint(data, pos)
            strings.append(data[pos : pos + length])
            pos += length
        latent = _U32.unpack_from(data, pos)[0]
        pos += 8
        chunks.append(RawChunk(index, strings, latent, lmbda))
    return RawStream(fingerprint, height, width, mode, chunks, version=data[3])


def frame(data: bytes) -> list[tuple[int, int]]:
    """Lenient framing of possibly broken bytes: ``(start, crc_offset)`` of the header, then of
    each chunk, as far as the structure can be followed (CRC values are not checked)."""
    spans: list[tuple[int, int]] = []
    try:
        pos = 12
        _, pos = _read_varint(data, pos)
        _, pos = _read_varint(data, pos)
        if pos >= len(data):
            raise _End
        tag = data[pos]
        pos += 1 + (tag if tag < 0x80 else 0)
        count, pos = _read_varint(data, pos)
        if pos + 4 > len(data):
            raise _End
        spans.append((0, pos))
        pos += 4
        for _ in range(min(count, 300)):
            start = pos
            pos += 1
            if data[3] >= 3:  # flags, and the operating point if bit 0 is set
                if pos >= len(data):
                    raise _End
                pos += 1 + (8 if data[pos] & 1 else 0)
            n, pos = _read_varint(data, pos)
            if n > len(data) - pos:
                raise _End
            for _ in range(n):
                length, pos = _read_varint(data, pos)
                pos += length
            pos += 4
            if pos + 4 > len(data):
                raise _End
            spans.append((start, pos))
            pos += 4
    except _End:
        pass
    return spans


def recompute_crcs(data: bytes) -> bytes:
    """Rewrite the header CRC and every chunk CRC (seeded with the header CRC) that the lenient
    framing finds; ``latent_crc`` is the codec's and is left alone."""
    out = bytearray(data)
    seed = 0
    for k, (start, end) in enumerate(frame(out)):
        crc = zlib.crc32(out[start:end]) if k == 0 else zlib.crc32(out[start:end], seed)
        out[end : end + 4] = _U32.pack(crc)
        if k == 0:
            seed = crc
    return bytes(out)


def _crc_positions(data: bytes) -> set[int]:
    return {end + i for _, end in frame(data) for i in range(4)}


def _keep_crcs(mutant: bytes, original: bytes) -> bytes:
    """Write the original's CRC values at the mutant's CRC offsets (a writer that did not
    recompute them); where the mutant has more chunks than the original, a CRC of zero."""
    old = [_U32.unpack_from(original, end)[0] for _, end in frame(original)]
    out = bytearray(mutant)
    for k, (_, end) in enumerate(frame(out)):
        out[end : end + 4] = _U32.pack(old[k] if k < len(old) else 0)
    return bytes(out)


# ------------------------------------------------------------------------------- mutations
Rng = random.Random
#: byte-level mutators: (rng, data, positions allowed) -> bytes
_SIZES_ABSOLUTE = (0, 1, 2, 15, 16, 17, 2**16 - 1, 2**16, 2**20, 2**31, 2**32 - 1, 2**32, 2**64 - 1)
_SIZES_WITHIN_LIMIT = (256, 512, 1000, 2048, 2828, 4096, 32768)


def _positions(rng: Rng, data: bytes, fix: bool) -> list[int]:
    if not fix:
        return list(range(len(data)))
    crc = _crc_positions(data)
    return [i for i in range(len(data)) if i not in crc and i >= 4] or list(range(len(data)))


def m_bitflip(rng: Rng, data: bytes, fix: bool) -> bytes:
    out = bytearray(data)
    choices = _positions(rng, data, fix)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        out[rng.choice(choices)] ^= 1 << rng.randrange(8)
    return bytes(out)


def m_byteflip(rng: Rng, data: bytes, fix: bool) -> bytes:
    out = bytearray(data)
    choices = _positions(rng, data, fix)
    for _ in range(rng.choice((1, 1, 2, 4, 16))):
        out[rng.choice(choices)] = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    return bytes(out)


def m_truncate(rng: Rng, data: bytes, fix: bool) -> bytes:
    return data[: rng.randrange(len(data))]


def m_insert(rng: Rng, data: bytes, fix: bool) -> bytes:
    at = rng.randrange(len(data) + 1)
    blob = bytes(rng.randrange(256) for _ in range(rng.choice((1, 1, 2, 4, 16, 100))))
    return data[:at] + blob + data[at:]


def m_delete(rng: Rng, data: bytes, fix: bool) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + data[at + rng.choice((1, 1, 2, 4, 16, 100)) :]


def m_random(rng: Rng, data: bytes, fix: bool) -> bytes:
    n = rng.choice((1, 4, 16, 40, 100, len(data), 4000))
    blob = bytes(rng.randrange(256) for _ in range(n))
    return data[:4] + blob if fix or rng.random() < 0.5 else blob


#: structural mutators: (rng, RawStream, corpus) -> RawStream (mutated copy)
def s_size(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    raw = copy.deepcopy(raw)
    grid_h, grid_w = -(-raw.height // 16) * 16, -(-raw.width // 16) * 16
    pick = rng.random()
    for side in rng.choice((("height",), ("width",), ("height", "width"))):
        grid = grid_h if side == "height" else grid_w
        if pick < 0.4:
            value = rng.choice(_SIZES_ABSOLUTE)
        elif pick < 0.7:  # inside the same 16-pixel grid
            value = rng.randint(max(1, grid - 15), grid)
        else:
            value = rng.choice(_SIZES_WITHIN_LIMIT + (grid + 16, grid * 2, max(1, grid - 16)))
        setattr(raw, side, value)
    return raw


def s_fingerprint(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    raw = copy.deepcopy(raw)
    fp = bytearray(raw.fingerprint)
    if rng.random() < 0.3:
        fp = bytearray(rng.choice((b"\0" * 8, b"\xff" * 8, rng.randbytes(8))))
    else:
        fp[rng.randrange(8)] ^= 1 << rng.randrange(8)
    raw.fingerprint = bytes(fp)
    return raw


def s_version(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    raw = copy.deepcopy(raw)
    raw.version = rng.choice((0, 1, 2, 4, 255))
    return raw


def s_mode(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    raw = copy.deepcopy(raw)
    tag = rng.choice((0, 0x7F, 0x93, 0x94, 0xFF, 0x80, 0x81, rng.randrange(256)))
    if tag < 0x80:
        name = rng.choice((b"RGB", b"BGR;15", b"\x00\x01", b"x" * 15, rng.randbytes(15)))
        raw.mode = bytes([tag]) + name[: tag if rng.random() < 0.7 else len(name)]
    else:
        raw.mode = bytes([tag])
    return raw


def s_count(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    raw = copy.deepcopy(raw)
    raw.count = rng.choice((0, 1, 2, 3, 255, 256, 257, 2**32 - 1, 2**64 - 1, 2**70))
    return raw


def s_index(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    raw = copy.deepcopy(raw)
    chunk = rng.choice(raw.chunks)
    chunk.index = rng.choice((0, 1, 2, 255, rng.randrange(256)))
    return raw


def s_string_count(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    raw = copy.deepcopy(raw)
    chunk = rng.choice(raw.chunks)
    pick = rng.random()
    if pick < 0.3:  # a consistent chunk with fewer or more strings
        n = rng.choice((0, 1, len(chunk.strings) + 1))
        chunk.strings = (chunk.strings + [rng.randbytes(rng.choice((0, 1, 8)))])[:n]
    else:  # a declared count that disagrees with the strings
        chunk.string_count = rng.choice((0, 1, 3, 127, 128, 2**32, 2**64 - 1))
    return raw


def s_string_length(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    raw = copy.deepcopy(raw)
    chunk = rng.choice(raw.chunks)
    if not chunk.strings:
        chunk.strings = [b""]
    i = rng.randrange(len(chunk.strings))
    n = len(chunk.strings[i])
    chunk.lengths = [len(s) for s in chunk.strings]
    chunk.lengths[i] = rng.choice((0, 1, max(0, n - 1), n + 1, n + 4, 2**21, 2**63))
    return raw


def s_payload(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    """Edit a string's bytes, keeping the framing consistent."""
    raw = copy.deepcopy(raw)
    chunk = rng.choice(raw.chunks)
    if not chunk.strings:
        return raw
    i = rng.randrange(len(chunk.strings))
    s = bytearray(chunk.strings[i])
    op = rng.choice(("flip", "flip", "cut", "cut-head", "extend", "zero", "random", "empty"))
    if op == "flip" and s:
        for _ in range(rng.choice((1, 1, 2, 8))):
            s[rng.randrange(len(s))] ^= 1 << rng.randrange(8)
    elif op == "cut" and s:
        s = s[: rng.randrange(len(s))]
    elif op == "cut-head" and s:
        s = s[rng.randint(1, len(s)) :]
    elif op == "extend":
        s += rng.randbytes(rng.choice((1, 2, 4, 64, 1000)))
    elif op == "zero":
        s = bytearray(len(s))
    elif op == "random":
        s = bytearray(rng.randbytes(rng.choice((len(s), 1, 4, 4096))))
    else:
        s = bytearray()
    chunk.strings[i] = bytes(s)
    return raw


def s_string_swap(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    raw = copy.deepcopy(raw)
    all_strings = [(c, i) for c in raw.chunks for i in range(len(c.strings))]
    if len(all_strings) >= 2:
        (ca, ia), (cb, ib) = rng.sample(all_strings, 2)
        ca.strings[ia], cb.strings[ib] = cb.strings[ib], ca.strings[ia]
    return raw


def s_latent_crc(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    raw = copy.deepcopy(raw)
    chunk = rng.choice(raw.chunks)
    chunk.latent_crc ^= 1 << rng.randrange(32)
    return raw


def s_lmbda(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    """The operating point: out of range, not finite, removed, added, or reserved flag bits."""
    raw = copy.deepcopy(raw)
    chunk = rng.choice(raw.chunks)
    pick = rng.random()
    if pick < 0.2:
        chunk.flags = rng.choice((0x02, 0x03, 0x80, 0xFF))
    elif pick < 0.4:
        chunk.lmbda = None  # a variable-rate layer without its λ (or a fixed one unchanged)
    else:
        extremes = (0.0, -1.0, float("nan"), float("inf"), 1e-300, 1e300, 0.05, 0.8, 16.0)
        value = rng.choice(extremes) if rng.random() < 0.5 else None
        if value is None:  # a nearby λ: in range, the integers decode but the checksum differs
            value = (chunk.lmbda or 1.0) * rng.choice((0.5, 0.999, 1.001, 2.0))
        chunk.lmbda = value
        chunk.flags = 1
    return raw


def s_chunk_duplicate(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    raw = copy.deepcopy(raw)
    k = rng.randrange(len(raw.chunks))
    raw.chunks.insert(k + rng.choice((0, 1)), copy.deepcopy(raw.chunks[k]))
    if rng.random() < 0.5:  # keep indices increasing: the copy becomes another layer
        for j, c in enumerate(raw.chunks):
            c.index = j
    return raw


def s_chunk_remove(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    raw = copy.deepcopy(raw)
    del raw.chunks[rng.randrange(len(raw.chunks))]
    if rng.random() < 0.3:
        raw.count = len(raw.chunks) + 1  # the header still declares the removed chunk
    return raw


def s_chunk_swap(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    raw = copy.deepcopy(raw)
    raw.chunks.reverse()
    if rng.random() < 0.5:  # renumbered, so the indices stay increasing
        for j, c in enumerate(raw.chunks):
            c.index = j
    return raw


def s_splice(rng: Rng, raw: RawStream, others: list[RawStream]) -> RawStream:
    """A chunk (or the header) from a stream of another model."""
    raw = copy.deepcopy(raw)
    foreign = [o for o in others if o.fingerprint != raw.fingerprint]
    if not foreign:
        return raw
    other = copy.deepcopy(rng.choice(foreign))
    if rng.random() < 0.25:  # its payload under our header (our fingerprint and size)
        raw.chunks = other.chunks
    else:
        k = rng.randrange(min(len(raw.chunks), len(other.chunks)))
        raw.chunks[k] = other.chunks[k]
    return raw


BYTE_MUTATORS: dict[str, Callable[[Rng, bytes, bool], bytes]] = {
    "bitflip": m_bitflip,
    "byteflip": m_byteflip,
    "truncate": m_truncate,
    "insert": m_insert,
    "delete": m_delete,
    "random": m_random,
}
STRUCT_MUTATORS: dict[str, Callable[[Rng, RawStream, list[RawStream]], RawStream]] = {
    "size": s_size,
    "fingerprint": s_fingerprint,
    "version": s_version,
    "mode": s_mode,
    "layer_count": s_count,
    "layer_index": s_index,
    "string_count": s_string_count,
    "string_length": s_string_length,
    "payload": s_payload,
    "string_swap": s_string_swap,
    "latent_crc": s_latent_crc,
    "lmbda": s_lmbda,
    "chunk_duplicate": s_chunk_duplicate,
    "chunk_remove": s_chunk_remove,
    "chunk_swap": s_chunk_swap,
    "splice": s_splice,
}
KINDS: tuple[str, ...] = (*BYTE_MUTATORS, *STRUCT_MUTATORS)


def mutate(rng: Rng, original: bytes, kind: str, fix: bool, others: Sequence[bytes] = ()) -> bytes:
    """One mutant of ``original`` by ``kind``; ``fix``: with the container CRCs recomputed
    (otherwise the original CRC values stay where the framing puts them)."""
    if kind in BYTE_MUTATORS:
        out = BYTE_MUTATORS[kind](rng, original, fix)
        return recompute_crcs(out) if fix else out
    raw = STRUCT_MUTATORS[kind](rng, parse_raw(original), [parse_raw(o) for o in others])
    out = raw.serialize()
    return out if fix else _keep_crcs(out, original)


@dataclass
class Mutant:
    id: int
    original: str
    entropy: str
    kind: str
    crc_recomputed: bool
    layers: str
    data: bytes


def make_mutants(originals: Sequence[Original], count: int, seed: int) -> list[Mutant]:
    """``count`` mutants, reproducible from ``seed``: kinds and originals in turn, every other
    one with recomputed CRCs, a quarter decoded base-only."""
    mutants = []
    by_bytes = [o.data for o in originals]
    for i in range(count):
        rng = random.Random(f"{seed}:{i}")
        original = originals[(i // 2) % len(originals)]
        kind = KINDS[(i // 2) % len(KINDS)]
        fix = i % 2 == 1
        data = mutate(rng, original.data, kind, fix, by_bytes)
        layers = "base" if rng.random() < 0.25 else "all"
        mutants.append(Mutant(i, original.name, original.entropy, kind, fix, layers, data))
    return mutants


# -------------------------------------------------------------------------------- decoding
_ALLOC = re.compile(r"can't allocate memory|not enough memory|out of memory|bad_alloc", re.I)


class _Timeout(BaseException):
    """The in-process time limit (a BaseException, so no ``except Exception`` swallows it)."""


def _digest(value: Any, h: Any) -> None:
    import torch

    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    elif isinstance(value, dict):
        for k in sorted(value, key=str):
            h.update(str(k).encode())
            _digest(value[k], h)
    elif isinstance(value, (list, tuple)):
        h.update(f"[{len(value)}".encode())
        for v in value:
            _digest(v, h)
    else:
        h.update(repr(value).encode())


def digest(decoded: Any) -> str:
    """Hash of what a decode gives a user: layers, prediction(s) and image."""
    h = hashlib.sha256()
    for part in (decoded.layers, decoded.prediction, decoded.secondary_prediction, decoded.image):
        _digest(part, h)
    return h.hexdigest()


def one_sentence(message: str) -> bool:
    """A heuristic: one line, not empty, no sentence break inside."""
    text = message.strip()
    return bool(text) and "\n" not in text and not re.search(r"[.!?]\s+[A-Z]", text)


def _peak_rss_kb() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def decode_one(model: Any, data: bytes, layers: str, reference: str) -> dict[str, Any]:
    """Parse and decode one mutant; classify it (no time limit here: that is the caller's)."""
    from hmcodec.bitstream import Stream
    from hmcodec.codec import api
    from hmcodec.errors import HmcodecError

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    stage = "parse"
    result: dict[str, Any]
    try:
        stream = Stream.from_bytes(data)
        stage = "decode"
        decoded = api.decode(model, stream, layers)
        same = digest(decoded) == reference
        result = {"class": "identical" if same else "garbage"}
    except _Timeout:
        result = {"class": "hang"}
    except HmcodecError as e:
        result = {"class": "refusal", "type": type(e).__name__, "message": str(e)}
    except MemoryError as e:
        result = {"class": "oom", "type": "MemoryError", "message": str(e)[:300]}
    except Exception as e:  # noqa: BLE001 - classifying every failure is the point
        cls = "oom" if _ALLOC.search(str(e)) else "crash"
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        result = {
            "class": cls,
            "type": type(e).__name__,
            "message": str(e)[:500],
            "traceback": "".join(tb[-3:])[-1500:],
        }
    result["stage"] = stage
    result["seconds"] = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["rss_peak_kb"] = _peak_rss_kb()
    result["rss_growth_kb"] = after - before
    return result


class _Decoder:
    """Models and reference digests of a corpus, in the current process."""

    def __init__(self, images: Sequence[tuple[int, int, int]], entropies: Sequence[str]):
        import torch

        from hmcodec.bitstream import Stream
        from hmcodec.codec import api

        torch.set_num_threads(1)
        self.models, self.originals = build_corpus(images, entropies)
        self.by_name = {o.name: o for o in self.originals}
        self.references = {}
        for o in self.originals:
            for layers in ("all", "base"):
                decoded = api.decode(self.models[o.entropy], Stream.from_bytes(o.data), layers)
                self.references[(o.name, layers)] = digest(decoded)

    def run(self, name: str, data: bytes, layers: str) -> dict[str, Any]:
        o = self.by_name[name]
        return decode_one(self.models[o.entropy], data, layers, self.references[(name, layers)])


def _vm_size_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _worker_main(conn: Any, images: Any, entropies: Any, memory_bytes: int) -> None:
    """A long-lived worker: build the corpus, report it, then decode mutants until told to stop."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import warnings

    warnings.filterwarnings("ignore")
    decoder = _Decoder(images, entropies)
    if memory_bytes > 0:  # cap what mutants may add on top of torch's own address space
        limit = _vm_size_bytes() + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    conn.send(
        ("ready", [(o.name, o.entropy, o.height, o.width, o.data) for o in decoder.originals])
    )
    while True:
        job = conn.recv()
        if job is None:
            return
        mutant_id, name, data, layers = job
        conn.send((mutant_id, decoder.run(name, data, layers)))


class _Worker:
    def __init__(self, ctx: Any, args: tuple[Any, ...], startup_timeout: float = 600.0):
        self.ctx, self.args, self.startup_timeout = ctx, args, startup_timeout
        self.job: Mutant | None = None
        self.deadline = 0.0
        self.restarts = -1
        self.start()

    def start(self) -> None:
        here = str(Path(__file__).resolve().parent)
        if __name__ != "__main__" and here not in sys.path:
            sys.path.append(here)  # a spawned child imports this module by its name
        parent, child = self.ctx.Pipe()
        self.process = self.ctx.Process(target=_worker_main, args=(child, *self.args), daemon=True)
        self.process.start()
        child.close()
        self.conn = parent
        self.restarts += 1
        if not parent.poll(self.startup_timeout):
            self.kill()
            raise RuntimeError("a fuzz worker did not start in time")
        try:
            _, self.corpus = parent.recv()
        except EOFError:
            raise RuntimeError("a fuzz worker failed to start (see its traceback)") from None

    def kill(self) -> None:
        self.process.kill()
        self.process.join(10)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
            self.process.join(10)
        except OSError:
            pass
        if self.process.is_alive():
            self.kill()


def _in_process(decoder: _Decoder, m: Mutant, timeout: float) -> dict[str, Any]:
    """Run one mutant here; SIGALRM stands in for the parent's kill (main thread only)."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise _Timeout

    use_alarm = timeout > 0 and hasattr(signal, "setitimer")
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        # a hang inside one C call never returns to the SIGALRM handler: end the process then,
        # with every thread's traceback, rather than hang forever
        faulthandler.dump_traceback_later(3 * timeout + 30, exit=True)
    try:
        return decoder.run(m.original, m.data, m.layers)
    finally:
        if use_alarm:
            faulthandler.cancel_dump_traceback_later()
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def _run_pool(
    mutants: list[Mutant], workers: list[_Worker], timeout: float, progress: bool
) -> dict[int, dict[str, Any]]:
    from multiprocessing.connection import wait

    results: dict[int, dict[str, Any]] = {}
    pending = collections.deque(mutants)
    started = time.monotonic()
    while pending or any(w.job for w in workers):
        for w in workers:
            if w.job is None and pending:
                w.job = pending.popleft()
                w.conn.send((w.job.id, w.job.original, w.job.data, w.job.layers))
                w.job_start = time.monotonic()
                w.deadline = w.job_start + timeout
        busy = [w for w in workers if w.job]
        wait_for = max(0.0, min(w.deadline for w in busy) - time.monotonic())
        wait([x for w in busy for x in (w.conn, w.process.sentinel)], wait_for + 0.05)
        for w in busy:
            m = w.job
            assert m is not None
            outcome = None
            try:
                if w.conn.poll():
                    mutant_id, outcome = w.conn.recv()
                    assert mutant_id == m.id
            except (EOFError, OSError):
                outcome = None
            if outcome is None and not w.process.is_alive():
                code = w.process.exitcode
                died = "oom" if code == -signal.SIGKILL else "crash"
                outcome = {"class": died, "type": "WorkerDied", "message": f"exit code {code}"}
            elif outcome is None and time.monotonic() > w.deadline:
                w.kill()
                outcome = {"class": "hang", "message": f"no answer in {timeout:g} s"}
            if outcome is None:
                continue
            if outcome["class"] in ("hang", "oom", "crash") and "seconds" not in outcome:
                outcome["seconds"] = time.monotonic() - w.job_start
                outcome["stage"] = "?"
                if w.process.is_alive():
                    w.kill()
                w.job = None
                w.start()
            w.job = None
            results[m.id] = outcome
            if progress and len(results) % 500 == 0:
                rate = len(results) / (time.monotonic() - started)
                print(f"  {len(results)}/{len(mutants)} mutants ({rate:.1f}/s)", file=sys.stderr)
    return results


def run_campaign(
    mutants: int = 1000,
    seed: int = 0,
    workers: int = 1,
    timeout: float = 20.0,
    memory_mb: int = 3072,
    images: Sequence[tuple[int, int, int]] = IMAGES,
    entropies: Sequence[str] = ENTROPY,
    progress: bool = False,
) -> dict[str, Any]:
    """Make ``mutants`` mutants of the corpus, decode each and return the report (a dict).

    ``workers=0`` decodes in this process (no memory cap; the time limit via SIGALRM)."""
    images, entropies = [tuple(i) for i in images], list(entropies)
    t0 = time.monotonic()
    pool: list[_Worker] = []
    if workers > 0:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        args = (images, entropies, memory_mb * 2**20)
        pool = [_Worker(ctx, args) for _ in range(workers)]
        originals = [Original(*c) for c in pool[0].corpus]
        for w in pool[1:]:
            if [Original(*c) for c in w.corpus] != originals:
                raise RuntimeError("fuzz workers built different streams (non-deterministic)")
    else:
        decoder = _Decoder(images, entropies)
        originals = decoder.originals
    setup_seconds = time.monotonic() - t0
    batch = make_mutants(originals, mutants, seed)
    t1 = time.monotonic()
    try:
        if pool:
            results = _run_pool(batch, pool, timeout, progress)
        else:
            results = {m.id: _in_process(decoder, m, timeout) for m in batch}
    finally:
        for w in pool:
            w.stop()
    restarts = sum(w.restarts for w in pool)
    report = build_report(batch, results, originals)
    report["settings"] = {
        "mutants": mutants,
        "seed": seed,
        "workers": workers,
        "timeout_s": timeout,
        "memory_cap_mb": memory_mb if workers > 0 else None,
        "images": [list(i) for i in images],
        "entropy_models": entropies,
        "setup_seconds": round(setup_seconds, 1),
        "campaign_seconds": round(time.monotonic() - t1, 1),
        "worker_restarts": restarts,
    }
    return report


# ---------------------------------------------------------------------------------- report
def _template(message: str) -> str:
    """A refusal message with its numbers and quoted values blanked, for grouping."""
    text = re.sub(r"(?<!\w)'[^']*'(?!\w)", "'…'", message)
    text = re.sub(r"\b[0-9a-f]{16}\b", "H", text)
    return re.sub(r"\d+", "N", text)


def build_report(
    mutants: list[Mutant], results: dict[int, dict[str, Any]], originals: Sequence[Original]
) -> dict[str, Any]:
    def table(key: Callable[[Mutant], str]) -> dict[str, dict[str, int]]:
        out: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for m in mutants:
            out[key(m)][results[m.id]["class"]] += 1
        return {
            k: {c: v[c] for c in CLASSES if v[c]} | {"total": sum(v.values())}
            for k, v in sorted(out.items())
        }

    counts = collections.Counter(results[m.id]["class"] for m in mutants)
    refusals = [m for m in mutants if results[m.id]["class"] == "refusal"]
    templates = collections.Counter(_template(results[m.id]["message"]) for m in refusals)
    not_one = [m for m in refusals if not one_sentence(results[m.id]["message"])]

    def entry(m: Mutant) -> dict[str, Any]:
        r = results[m.id]
        return {
            "id": m.id,
            "original": m.original,
            "kind": m.kind,
            "crc_recomputed": m.crc_recomputed,
            "layers": m.layers,
            **{k: r[k] for k in ("class", "stage", "type", "message", "traceback") if k in r},
            "seconds": round(r.get("seconds", 0.0), 4),
            "rss_peak_kb": r.get("rss_peak_kb"),
            "bytes": len(m.data),
            "hex": m.data.hex(),
        }

    slowest = max(refusals, key=lambda m: results[m.id]["seconds"], default=None)
    measured = [m for m in mutants if results[m.id].get("rss_growth_kb") is not None]
    hungriest = max(measured, key=lambda m: results[m.id]["rss_growth_kb"], default=None)
    peak = max((results[m.id].get("rss_peak_kb") or 0 for m in mutants), default=0)
    times = sorted(results[m.id].get("seconds", 0.0) for m in mutants)
    return {
        "total": len(mutants),
        "counts": {c: counts[c] for c in CLASSES},
        "failures": sum(counts[c] for c in FAILURES),
        "crc_recomputed": sum(m.crc_recomputed for m in mutants),
        "by_kind": table(lambda m: m.kind),
        "by_entropy_model": table(lambda m: m.entropy),
        "by_original": table(lambda m: m.original),
        "by_crc": table(lambda m: "recomputed" if m.crc_recomputed else "kept"),
        "by_layers": table(lambda m: m.layers),
        "by_kind_recomputed": table(lambda m: f"{m.kind}/{'fix' if m.crc_recomputed else 'raw'}"),
        "refusal_stage": dict(collections.Counter(results[m.id]["stage"] for m in refusals)),
        "refusal_types": dict(collections.Counter(results[m.id]["type"] for m in refusals)),
        "refusal_messages": dict(templates.most_common()),
        "refusals_not_one_sentence": [entry(m) for m in not_one[:20]],
        "refusals_not_one_sentence_count": len(not_one),
        "slowest_refusal": entry(slowest) if slowest else None,
        "largest_rss_growth": (
            entry(hungriest) | {"rss_growth_kb": results[hungriest.id]["rss_growth_kb"]}
            if hungriest
            else None
        ),
        "largest_peak_rss_kb": peak,
        "seconds_median": times[len(times) // 2] if times else 0.0,
        "seconds_max": times[-1] if times else 0.0,
        "originals": [
            {
                "name": o.name,
                "entropy": o.entropy,
                "height": o.height,
                "width": o.width,
                "bytes": len(o.data),
                "hex": o.data.hex(),
            }
            for o in originals
        ],
        "failing_mutants": [entry(m) for m in mutants if results[m.id]["class"] in FAILURES],
    }


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    s = report["settings"]
    lines = [
        "# Stream fuzz campaign",
        "",
        f"{report['total']} mutants ({report['crc_recomputed']} with recomputed CRCs) of "
        f"{len(report['originals'])} streams ({len(s['images'])} images × entropy models "
        f"{', '.join(s['entropy_models'])}), seed {s['seed']}, {s['workers']} worker(s), "
        f"time limit {s['timeout_s']:g} s, memory cap {s['memory_cap_mb']} MB; "
        f"{s['campaign_seconds']:.0f} s.",
        "",
        "| class | " + " | ".join(CLASSES) + " |",
        "|---|" + "---:|" * len(CLASSES),
        "| all | " + " | ".join(str(report["counts"][c]) for c in CLASSES) + " |",
    ]
    for section in ("by_crc", "by_entropy_model", "by_kind"):
        for key, row in report[section].items():
            lines.append(f"| {key} | " + " | ".join(str(row.get(c, 0)) for c in CLASSES) + " |")
    slow = report["slowest_refusal"]
    lines += [
        "",
        f"- Largest peak RSS of a worker: {report['largest_peak_rss_kb'] / 1024:.0f} MB.",
    ]
    if report["largest_rss_growth"]:
        g = report["largest_rss_growth"]
        lines.append(
            f"- Largest RSS growth from one mutant: {g['rss_growth_kb'] / 1024:.0f} MB "
            f"(mutant {g['id']}, {g['kind']}, {g['class']})."
        )
    if slow:
        lines.append(
            f"- Slowest refusal: {slow['seconds']:.3f} s (mutant {slow['id']}, {slow['kind']}): "
            f"{slow['message']}"
        )
    lines.append(
        f"- Refusals that are not one sentence: {report['refusals_not_one_sentence_count']}."
    )
    lines.append(f"- Crashes, hangs, out-of-memory and silent garbage: {report['failures']}.")
    (out / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="0: decode in this process")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per mutant")
    parser.add_argument("--memory-mb", type=int, default=3072, help="address-space cap per worker")
    parser.add_argument("--small", action="store_true", help="the test suite's small images")
    parser.add_argument("--out", type=Path, default=Path("results/fuzz"))
    args = parser.parse_args(argv)
    report = run_campaign(
        args.mutants,
        args.seed,
        args.workers,
        args.timeout,
        args.memory_mb,
        SMALL_IMAGES if args.small else IMAGES,
        progress=True,
    )
    write_report(report, args.out)
    print((args.out / "report.md").read_text())
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
