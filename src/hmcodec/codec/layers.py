"""A codec's layers: what each one codes, what it sends and how it is decoded.

A layer (:class:`Layer`) names its parts: the analysis f, the quantiser (and the gain unit of a
variable-rate layer), the entropy model, the side information it takes from earlier layers,
the synthesis and the head that reads the synthesis output (a task head, or ``None`` for the
image). A coded layer turns into one :class:`LayerPayload` (one chunk of a ``.hmc`` stream);
``direct``'s layer sends nothing and synthesises its output from the base latent alone.
:class:`~hmcodec.codec.interface.Codec` codes and decodes its ordered layers with these.

The layer objects hold references to the codec's modules and are built on demand
(``codec.layers``), so they add no parameters and no state-dict keys: model fingerprints stay
as they were.
"""

from __future__ import annotations

import struct
import zlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmcodec.bitstream import LayerChunk
from hmcodec.codec.methods import EnhancementMethod
from hmcodec.codec.rate import GainUnit, RateRange, descaled
from hmcodec.entropy.coding import CorruptStringError
from hmcodec.errors import StreamError
from hmcodec.nn.transforms import STRIDE

if TYPE_CHECKING:
    from hmcodec.codec.interface import Codec, EnhancementLayer
    from hmcodec.entropy.base import LatentEntropyModel
    from hmcodec.tasks.base import TaskHead

BASE, ENHANCEMENT = 0, 1
#: the layers by index, as ``model.variable_rate`` names them.
LAYER_NAMES = ("base", "enhancement")


def layer_name(index: int) -> str:
    return LAYER_NAMES[index] if index < len(LAYER_NAMES) else str(index)


def pad_to_stride(x: Tensor, stride: int = STRIDE) -> Tensor:
    """Replicate-pad the bottom/right so height and width are multiples of ``stride``."""
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % stride, -width % stride
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x


def latent_crc(y_hat: Tensor, height: int, width: int, lmbda: float | None = None) -> int:
    """CRC32 of integer latents as little-endian int32 in C order, seeded with the CRC32 of the
    image size (height, width as u32 LE) and, for a variable-rate layer, its λ (f64 LE): a
    rewritten size or operating point is caught even where the integers decode the same."""
    values = y_hat.detach().round().to(torch.int32).cpu().contiguous().numpy()
    header = struct.pack("<II", height, width)
    if lmbda is not None:
        header += struct.pack("<d", lmbda)
    return zlib.crc32(values.astype("<i4").tobytes(), zlib.crc32(header))


@dataclass(frozen=True)
class LayerPayload:
    """What one coded layer sends: its entropy-coded strings, the latent grid they cover, the
    checksum of its integer latents (:func:`latent_crc`) and its λ if it is variable-rate."""

    index: int
    strings: tuple[bytes, ...]
    #: rows × columns of the latent (the image size over the codec's stride, rounded up).
    shape: tuple[int, int]
    latent_crc: int
    lmbda: float | None = None

    def chunk(self) -> LayerChunk:
        """This payload as a chunk of a ``.hmc`` stream."""
        return LayerChunk(self.index, self.strings, self.latent_crc, self.lmbda)

    @classmethod
    def from_chunk(cls, chunk: LayerChunk, shape: tuple[int, int]) -> LayerPayload:
        return cls(chunk.index, chunk.strings, shape, chunk.latent_crc, chunk.lmbda)


@dataclass
class Decoded:
    """What a decode gives: the base task's prediction and, with all layers, the output."""

    layers: tuple[int, ...]
    prediction: Any
    image: Tensor | None = None
    #: the enhancement layer's task output, for codecs whose second output is a task.
    secondary_prediction: Any = None
    #: the decoded latents ŷ of each layer (de-scaled: ŷ_q ⊙ g⁻¹(λ) for a variable-rate one).
    latents: dict[int, Tensor] = field(default_factory=dict)


# ----------------------------------------------------------------------------------- errors
class LayerError(StreamError):
    """A payload its layer cannot decode; :func:`hmcodec.codec.api.decode` words it for the
    stream it came from."""

    def __init__(self, index: int, detail: str) -> None:
        super().__init__(f"layer {index}: {detail}")
        self.index = index
        self.detail = detail


class MissingLayerError(LayerError):
    """The layers to decode include one whose payload was not given."""

    def __init__(self, index: int) -> None:
        super().__init__(index, "no payload")


class CorruptLayerError(LayerError):
    """The entropy decoder refused the strings (``detail``: its reason)."""


class LatentMismatchError(LayerError):
    """The decoded integers do not have the encoder's checksum."""

    def __init__(self, index: int) -> None:
        super().__init__(index, "latent checksum mismatch")


class OperatingPointError(LayerError):
    """The payload's λ does not fit the layer: ``kind`` is ``fixed-rate`` (a λ for a fixed-rate
    layer), ``variable-rate`` (no λ for a variable-rate one) or ``range`` (``detail`` says)."""

    def __init__(self, index: int, kind: str, lmbda: float | None, detail: str = "") -> None:
        super().__init__(index, detail or f"operating point for a {kind} layer")
        self.kind = kind
        self.lmbda = lmbda


# ----------------------------------------------------------------------------------- layers
class Layer(ABC):
    """One layer of a codec, by its parts; the coding itself is the owning modules' own code.

    ``earlier`` (in :meth:`compress`, :meth:`decompress`, :meth:`output`) holds the de-scaled
    latents of the layers before this one, by index: the side information a layer may use.
    """

    #: whether the layer sends a payload (False: its output comes from earlier layers alone).
    coded: ClassVar[bool] = True

    def __init__(
        self,
        index: int,
        *,
        synthesis: nn.Module,
        head: TaskHead | None,
        analysis: nn.Module | None = None,
        entropy: LatentEntropyModel | None = None,
        side_information: nn.Module | None = None,
        gain: GainUnit | None = None,
        quantizer: str | None = None,
    ) -> None:
        self.index = index
        #: f: the image (or the task model's features) → y.
        self.analysis = analysis
        #: the training quantiser (``ste``, ``noise``); coding always rounds.
        self.quantizer = quantizer
        #: gain unit of a variable-rate layer (:mod:`hmcodec.codec.rate`), None if fixed-rate.
        self.gain = gain
        #: p(ŷ | side information): the entropy model that writes the payload's strings.
        self.entropy = entropy
        #: the transform of earlier layers' latents this layer is conditioned on (h_c, h_r).
        self.side_information = side_information
        #: g: ŷ (and side information) → the output the head reads.
        self.synthesis = synthesis
        #: the head that reads the synthesis output; None: the output is the image.
        self.head = head

    @property
    def name(self) -> str:
        return layer_name(self.index)

    @property
    def rate(self) -> RateRange | None:
        """The λ range of a variable-rate layer, None for a fixed-rate one."""
        return None if self.gain is None else self.gain.rate

    def operating_point(self, lmbda: float | None) -> float | None:
        """A payload's λ checked against the layer: present and in range iff the layer varies
        (:class:`OperatingPointError` otherwise); in range, clamped to it."""
        rate = self.rate
        if rate is None:
            if lmbda is not None:
                raise OperatingPointError(self.index, "fixed-rate", lmbda)
            return None
        if lmbda is None:
            raise OperatingPointError(self.index, "variable-rate", None)
        try:
            return rate.check(lmbda, self.name)
        except ValueError as error:
            raise OperatingPointError(self.index, "range", lmbda, str(error)) from None

    def compress(
        self, x: Tensor, earlier: Mapping[int, Tensor], lmbda: float | None
    ) -> tuple[list[bytes], Tensor]:
        """Strings and the integer latents of ``x`` (1×3×H×W, padded to the stride)."""
        raise TypeError(f"the {self.name} layer sends nothing")

    def decompress(
        self, strings: list[bytes], shape: tuple[int, int], earlier: Mapping[int, Tensor]
    ) -> Tensor:
        """The integer latents back from the strings (:class:`CorruptStringError` if not)."""
        raise TypeError(f"the {self.name} layer sends nothing")

    def latent(self, symbols: Tensor, lmbda: float | None) -> Tensor:
        """ŷ from the integers: symbols ⊙ g⁻¹(λ) (the integers for a fixed-rate layer)."""
        return descaled(self.gain, symbols, lmbda)

    @abstractmethod
    def output(self, y_hat: Tensor | None, earlier: Mapping[int, Tensor]) -> Tensor:
        """The synthesis output (image-like, still padded) from ŷ and the earlier latents."""


class BaseLayer(Layer):
    """Layer 0: f_b → round(· ⊙ g(λ)) → p(ŷ_b), no side information → g_b → the task head.

    Coding calls the codec's own ``base_symbols`` and ``base_latent``, so an architecture
    decides what its base analysis reads (the image, or the task model's features)."""

    def __init__(self, codec: Codec) -> None:
        super().__init__(
            BASE,
            analysis=codec.base_analysis,
            quantizer=codec.config.quantizer,
            gain=getattr(codec, "base_gain", None),
            entropy=codec.base_entropy,
            synthesis=codec.base_synthesis,
            head=codec.task,
        )
        self.codec = codec

    def compress(
        self, x: Tensor, earlier: Mapping[int, Tensor], lmbda: float | None
    ) -> tuple[list[bytes], Tensor]:
        symbols = self.codec.base_symbols(x, lmbda)
        return self.codec.base_entropy.compress(symbols), symbols

    def decompress(
        self, strings: list[bytes], shape: tuple[int, int], earlier: Mapping[int, Tensor]
    ) -> Tensor:
        return self.codec.base_entropy.decompress(strings, shape)

    def latent(self, symbols: Tensor, lmbda: float | None) -> Tensor:
        return self.codec.base_latent(symbols, lmbda)

    def output(self, y_hat: Tensor | None, earlier: Mapping[int, Tensor]) -> Tensor:
        assert y_hat is not None  # a coded layer
        return self.codec.base_synthesis(y_hat)


class MethodLayer(Layer):
    """The enhancement layer of an :class:`~hmcodec.codec.methods.EnhancementMethod`, which
    codes it given the base latent ŷ_b (``earlier[BASE]``)."""

    def __init__(self, method: EnhancementMethod, index: int, head: TaskHead | None) -> None:
        super().__init__(
            index,
            analysis=method.analysis,
            quantizer=method.quantizer,
            gain=method.gain,
            entropy=method.entropy,
            side_information=method.side_information(),
            synthesis=method.synthesis,
            head=head,
        )
        self.method = method

    def compress(
        self, x: Tensor, earlier: Mapping[int, Tensor], lmbda: float | None
    ) -> tuple[list[bytes], Tensor]:
        return self.method.compress(x, earlier[BASE], lmbda)

    def decompress(
        self, strings: list[bytes], shape: tuple[int, int], earlier: Mapping[int, Tensor]
    ) -> Tensor:
        return self.method.decompress_symbols(strings, earlier[BASE])

    def output(self, y_hat: Tensor | None, earlier: Mapping[int, Tensor]) -> Tensor:
        assert y_hat is not None  # a coded layer
        return self.method.output(y_hat, earlier[BASE])


class SynthesisLayer(Layer):
    """A layer that sends nothing (method ``direct``): its output is synthesised from ŷ_b."""

    coded = False

    def __init__(self, slot: EnhancementLayer, index: int, head: TaskHead | None) -> None:
        synthesis = getattr(slot, "synthesis", None)
        assert isinstance(synthesis, nn.Module)  # ``direct``'s g(ŷ_b)
        super().__init__(index, synthesis=synthesis, head=head)
        self.slot = slot

    def output(self, y_hat: Tensor | None, earlier: Mapping[int, Tensor]) -> Tensor:
        return self.slot.decompress([], earlier[BASE])[0]


def enhancement_layers(slot: EnhancementLayer, head: TaskHead | None) -> tuple[Layer, ...]:
    """The layer in a codec's enhancement slot: a coded one, an uncoded output (``direct``) or
    none (a machines-only codec's ``NoImage``). ``head``: the second task, None for the image."""
    if not slot.has_output:
        return ()
    if slot.has_layer:
        assert isinstance(slot, EnhancementMethod)  # only these send a layer
        return (MethodLayer(slot, ENHANCEMENT, head),)
    return (SynthesisLayer(slot, ENHANCEMENT, head),)


def decode_layer(
    layer: Layer,
    payload: LayerPayload,
    size: tuple[int, int],
    earlier: Mapping[int, Tensor],
) -> Tensor:
    """The checked latent ŷ of one coded layer: its λ against the layer, the strings through
    its entropy decoder, the integers against the payload's checksum (:class:`LayerError`s)."""
    lmbda = layer.operating_point(payload.lmbda)
    try:
        symbols = layer.decompress(list(payload.strings), payload.shape, earlier)
    except CorruptStringError as error:
        raise CorruptLayerError(layer.index, str(error)) from None
    if latent_crc(symbols, *size, payload.lmbda) != payload.latent_crc:
        raise LatentMismatchError(layer.index)
    return layer.latent(symbols, lmbda)
