"""Range coding of integer symbols with CompressAI's rANS coder and quantised CDF tables."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from compressai._CXX import pmf_to_quantized_cdf
from compressai.ans import BufferedRansEncoder, RansDecoder
from torch import Tensor

PRECISION = 16


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
        if indexes.numel() and (int(indexes.min()) < 0 or int(indexes.max()) >= len(self.cdfs)):
            # e.g. NaN entropy parameters; the C++ coder would read outside its tables
            raise ValueError(
                "entropy parameters are not finite; has the model's training diverged?"
            )
        encoder = BufferedRansEncoder()
        encoder.encode_with_indexes(
            symbols.reshape(-1).int().tolist(),
            indexes.reshape(-1).int().tolist(),
            self.cdfs,
            self.lengths,
            self.offsets,
        )
        return encoder.flush()

    def decode_all(self, string: bytes, indexes: Tensor) -> Tensor:
        decoder = RansDecoder()
        values = decoder.decode_with_indexes(
            string, indexes.reshape(-1).int().tolist(), self.cdfs, self.lengths, self.offsets
        )
        return torch.tensor(values, dtype=torch.int64).reshape(indexes.shape)

    def decoder(self, string: bytes) -> SerialDecoder:
        return SerialDecoder(self, string)


class SerialDecoder:
    """Decodes a stream piece by piece, passing only the tables each piece uses."""

    def __init__(self, tables: CdfTables, string: bytes) -> None:
        self.tables = tables
        self.rans = RansDecoder()
        self.rans.set_stream(string)

    def decode(self, indexes: Tensor) -> Tensor:
        flat = indexes.reshape(-1).tolist()
        used = sorted(set(flat))
        local = {table: position for position, table in enumerate(used)}
        values = self.rans.decode_stream(
            [local[i] for i in flat],
            [self.tables.cdfs[i] for i in used],
            [self.tables.lengths[i] for i in used],
            [self.tables.offsets[i] for i in used],
        )
        return torch.tensor(values, dtype=torch.int64).reshape(indexes.shape)


class TableBuffers:
    """Mixin for modules whose coder tables (``cdf``, ``cdf_length``, ``offset``) change size.

    The buffers are empty until ``update()``; loading a state dict resizes them first.
    """

    TABLE_BUFFERS = ("cdf", "cdf_length", "offset")

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        for name in self.TABLE_BUFFERS:
            key = prefix + name
            if key in state_dict:
                setattr(self, name, torch.empty_like(state_dict[key]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[misc]
