"""Range coding of integer symbols with CompressAI's rANS coder and quantised CDF tables."""

from __future__ import annotations

from collections.abc import Sequence

import numpy
import torch
from compressai._CXX import pmf_to_quantized_cdf
from compressai.ans import BufferedRansEncoder, RansDecoder
from torch import Tensor

from hmcodec.entropy.base import tensor_state
from hmcodec.errors import StreamError

PRECISION = 16
#: the largest symbol magnitude coded (CompressAI's escape coder overflows int32 near 2³⁰).
MAX_SYMBOL = 2**24


def build_cdf_tables(pmfs: Sequence[Tensor], tail_masses: Sequence[float]) -> Tensor:
    """Quantise one PMF per table (plus its tail mass) to 16-bit CDFs, padded to a 2-D tensor."""
    cdfs = [
        pmf_to_quantized_cdf([*pmf.tolist(), float(tail)], PRECISION)
        for pmf, tail in zip(pmfs, tail_masses, strict=True)
    ]
    width = max(len(c) for c in cdfs)
    table = torch.zeros(len(cdfs), width, dtype=torch.int32)
    for row, cdf in enumerate(cdfs):
        table[row, : len(cdf)] = torch.tensor(cdf, dtype=torch.int32)
    return table


class CdfTables:
    """Python-list view of (cdf, cdf_length, offset) buffers, made once per coding call."""

    def __init__(self, cdf: Tensor, cdf_length: Tensor, offset: Tensor) -> None:
        if cdf.numel() == 0:
            raise RuntimeError("entropy coder tables are missing; call update() first")
        lengths = cdf_length.tolist()
        self.cdfs = [row[:length] for row, length in zip(cdf.tolist(), lengths, strict=True)]
        self.lengths = lengths
        self.offsets = offset.tolist()

    def encode(self, symbols: Tensor, indexes: Tensor) -> bytes:
        symbols, indexes = symbols.reshape(-1).long(), indexes.reshape(-1).long()
        if indexes.numel() and (int(indexes.min()) < 0 or int(indexes.max()) >= len(self.cdfs)):
            # e.g. NaN entropy parameters; the C++ coder would read outside its tables
            raise ValueError(
                "entropy parameters are not finite; has the model's training diverged?"
            )
        if symbols.numel() and bool(((symbols > MAX_SYMBOL) | (symbols < -MAX_SYMBOL)).any()):
            raise ValueError(
                f"latents are not finite or beyond ±{MAX_SYMBOL}; has the model's training "
                "diverged?"
            )
        encoder = BufferedRansEncoder()
        encoder.encode_with_indexes(
            symbols.tolist(), indexes.tolist(), self.cdfs, self.lengths, self.offsets
        )
        return bytes(encoder.flush())

    def decode_all(self, string: bytes, indexes: Tensor) -> Tensor:
        """Decode every symbol of ``string`` at once, checked as :class:`CheckedDecoder` does."""
        decoder = self.decoder(string)
        values = decoder.decode(indexes)
        decoder.finish()
        return values

    def decoder(self, string: bytes) -> CheckedDecoder:
        return CheckedDecoder(self, string)


class CorruptStringError(StreamError):
    """An entropy-coded string that cannot be what the encoder wrote; the codec names the layer."""


#: Two paddings that differ in every 16-bit group and hold no 4-bit group of 15 (CompressAI's
#: bypass-escape run marker), so a decoder that runs into either stops its escape runs there.
_PADDINGS = (b"\x00", b"\x55")


class CheckedDecoder:
    """Decodes one rANS string piece by piece and proves it consumed exactly that string.

    CompressAI's ``RansDecoder`` has no bounds check and reports no position. Two decoders run
    in lockstep on the string followed by two different paddings: while they agree they have
    read only the string's bytes; a renormalisation that reads a padding word puts that word's
    low 16 bits into the next symbol's lookup, so they disagree at once, and decoding stops
    there (a size rewritten upwards is refused after a fraction of its symbols). Escape runs
    read at most 15 groups per group of the string, so a padding of 16× the string keeps every
    read inside the buffer. :meth:`finish` re-encodes the decoded symbols: rANS is deterministic,
    so the string must come back byte for byte, which also refuses unread trailing bytes.
    """

    def __init__(self, tables: CdfTables, string: bytes) -> None:
        self.tables = tables
        self.string = bytes(string)
        pad_length = 16 * len(self.string) + 4096
        self._decoders = []
        for pad in _PADDINGS:
            rans = RansDecoder()
            rans.set_stream(self.string + pad * pad_length)
            self._decoders.append(rans)
        self._values: list[Tensor] = []
        self._indexes: list[Tensor] = []

    def decode(self, indexes: Tensor) -> Tensor:
        flat = indexes.reshape(-1).long()
        if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= len(self.tables.cdfs)):
            raise CorruptStringError("its entropy parameters point outside the coder's tables")
        used, local = torch.unique(flat, sorted=True, return_inverse=True)
        tables = used.tolist()
        arguments = (
            local.tolist(),
            [self.tables.cdfs[i] for i in tables],
            [self.tables.lengths[i] for i in tables],
            [self.tables.offsets[i] for i in tables],
        )
        first, second = (rans.decode_stream(*arguments) for rans in self._decoders)
        if first != second:
            raise CorruptStringError(
                "its entropy-coded string ends before its latents do "
                "(the stream is truncated, altered, or declares a wrong image size)"
            )
        values = torch.from_numpy(numpy.array(first, dtype=numpy.int64))  # 5× torch.tensor(list)
        if values.numel() and bool(((values > MAX_SYMBOL) | (values < -MAX_SYMBOL)).any()):
            raise CorruptStringError(f"it decodes to latents beyond ±{MAX_SYMBOL}")
        self._values.append(values)
        self._indexes.append(flat)
        return values.reshape(indexes.shape)

    def finish(self) -> None:
        """Refuse a string that is not exactly the encoding of the symbols decoded from it."""
        values = torch.cat(self._values) if self._values else torch.zeros(0, dtype=torch.int64)
        indexes = torch.cat(self._indexes) if self._indexes else torch.zeros(0, dtype=torch.int64)
        if self.tables.encode(values, indexes) != self.string:
            raise CorruptStringError(
                "its entropy-coded string is not the encoding of the latents decoded from it "
                "(bytes left unread or altered: a corrupt stream, or a decoder whose entropy "
                "parameters differ from the encoder's)"
            )


class TableBuffers:
    """Mixin for modules whose coder tables (``cdf``, ``cdf_length``, ``offset``) change size.

    The buffers are empty until ``update()``; loading a state dict resizes them first.
    :meth:`coder` converts them for the coder once and reuses that while they are unchanged.
    """

    TABLE_BUFFERS = ("cdf", "cdf_length", "offset")
    cdf: Tensor
    cdf_length: Tensor
    offset: Tensor

    def coder(self) -> CdfTables:
        """The coder's view of the current tables (cached per table state)."""
        state = tensor_state((self.cdf, self.cdf_length, self.offset))
        cached: tuple[tuple[object, ...], CdfTables] | None = getattr(self, "_coder", None)
        if state and cached is not None and cached[0] == state:
            return cached[1]
        tables = CdfTables(self.cdf, self.cdf_length, self.offset)
        if state:
            object.__setattr__(self, "_coder", (state, tables))
        return tables

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self.TABLE_BUFFERS:
            key = prefix + name
            if key in state_dict:
                setattr(self, name, torch.empty_like(state_dict[key]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[misc]


def expect_strings(strings: Sequence[bytes], count: int) -> list[bytes]:
    """The layer's strings, refused unless there are as many as this entropy model writes."""
    if len(strings) != count:
        raise CorruptStringError(
            f"its chunk holds {len(strings)} entropy-coded strings where this model writes {count}"
        )
    return list(strings)
