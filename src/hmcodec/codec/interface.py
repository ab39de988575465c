"""The codec interface every architecture implements, and the enhancement slot's protocol.

Every architecture in :data:`hmcodec.codec.scalable.ARCHITECTURES` (``scalable``, ``split``,
``direct-features``) is a :class:`Codec`: an :class:`torch.nn.Module` that is its ordered
layers (:attr:`Codec.layers`, :mod:`hmcodec.codec.layers`) plus their heads, and owns coding
them: :meth:`Codec.compress` (image → one payload per coded layer) and :meth:`Codec.decompress`
(payloads of a prefix of the layers → latents, the task prediction and the output). The
``.hmc`` container around the payloads is :mod:`hmcodec.codec.api`'s. Every entry of
:data:`hmcodec.codec.methods.ENHANCEMENTS` and a machines-only codec's empty enhancement slot
offer :class:`EnhancementLayer`, a structural protocol that mypy checks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from hmcodec.codec.layers import (
    BaseLayer,
    Decoded,
    Layer,
    LayerPayload,
    MissingLayerError,
    decode_layer,
    enhancement_layers,
    latent_crc,
    pad_to_stride,
)
from hmcodec.entropy.base import entropy_models

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11

    from hmcodec.codec.rate import RateRange
    from hmcodec.codec.scalable import AuxiliaryBranch, CodecConfig
    from hmcodec.entropy.base import LatentEntropyModel
    from hmcodec.tasks.base import TaskHead


class ModuleLike(Protocol):
    """The :class:`torch.nn.Module` methods hmcodec calls on a codec or an enhancement layer."""

    def eval(self) -> Self: ...

    def train(self, mode: bool = True) -> Self: ...

    def requires_grad_(self, requires_grad: bool = True) -> Self: ...

    def children(self) -> Iterator[nn.Module]: ...

    def named_children(self) -> Iterator[tuple[str, nn.Module]]: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, nn.Parameter]]: ...

    def state_dict(self, *, prefix: str = ..., keep_vars: bool = ...) -> dict[str, Any]: ...

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any: ...


class EnhancementLayer(ModuleLike, Protocol):
    """What sits in a codec's enhancement slot: an :class:`~hmcodec.codec.methods.EnhancementMethod`
    (which codes a layer), ``direct`` (no layer, output from ŷ_b) or a machines-only codec's
    ``NoImage`` (no layer, no output). Only a layer with ``has_layer`` has ``compress``."""

    #: whether the method sends an enhancement chunk.
    has_layer: ClassVar[bool]
    #: whether decoding all layers gives an output beyond the base (an image or second task).
    has_output: ClassVar[bool]
    #: whether the base layer's rate counts towards this method's total rate.
    counts_base_rate: ClassVar[bool]

    def __call__(self, x: Tensor, y_hat_b: Tensor, lmbda: float | None = None) -> dict[str, Any]:
        """Training forward pass: ``output``, ``y_hat`` and ``likelihoods``."""
        ...

    def decompress(
        self, strings: list[bytes], y_hat_b: Tensor, lmbda: float | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """The output and the decoded integers (None without a layer)."""
        ...


class Codec(nn.Module, ABC):
    """A codec architecture (``LoadedModel.codec``): ordered layers plus heads, coded here.

    Subclasses build the modules named below (their attribute names are the state-dict keys
    that model fingerprints cover) and the training and coding steps of their base layer; the
    layers, their coding and decoding, the rate ranges and the coder tables follow from them.
    """

    config: CodecConfig
    #: down-sampling of the latents; inputs are padded to a multiple of it.
    stride: int
    base_analysis: nn.Module
    base_entropy: LatentEntropyModel
    base_synthesis: nn.Module
    #: the head of the base layer's output.
    task: TaskHead
    #: the head of the enhancement layer's output (None: that output is the image).
    secondary_task: TaskHead | None
    enhancement: EnhancementLayer
    auxiliary: AuxiliaryBranch | None

    # ----------------------------------------------------------------------------- training
    @abstractmethod
    def forward_base(
        self, x: Tensor, beta: float = 0.0, lmbda: float | None = None
    ) -> dict[str, Any]: ...

    @abstractmethod
    def forward_enhancement(
        self, x: Tensor, y_hat_b: Tensor, lmbda: float | None = None
    ) -> dict[str, Any]: ...

    @abstractmethod
    def base_modules(self) -> list[nn.Module]:
        """Everything the base stage trains and the enhancement stage keeps frozen."""

    @abstractmethod
    def for_inference(self) -> Codec:
        """This codec without its training-only parts."""

    # ------------------------------------------------------------------------------- layers
    @abstractmethod
    def base_symbols(self, x: Tensor, lmbda: float | None = None) -> Tensor:
        """The integers the base layer codes for a stride-aligned batch."""

    @abstractmethod
    def base_latent(self, symbols: Tensor, lmbda: float | None = None) -> Tensor:
        """ŷ_b from the base layer's integers."""

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The layers in coding order: the base (read by ``task``), then what the enhancement
        slot holds (read by ``secondary_task``, or the image), if it gives an output."""
        return (BaseLayer(self), *enhancement_layers(self.enhancement, self.secondary_task))

    @property
    def layer_count(self) -> int:
        """How many layers send a payload (chunks in a full stream)."""
        return sum(layer.coded for layer in self.layers)

    def rate_ranges(self) -> dict[int, RateRange]:
        """The λ range of each variable-rate layer, by layer index."""
        return {layer.index: layer.rate for layer in self.layers if layer.rate is not None}

    def latent_shape(self, height: int, width: int) -> tuple[int, int]:
        """Rows × columns of every layer's latent for a ``height``×``width`` image."""
        return -(-height // self.stride), -(-width // self.stride)

    def update(self) -> None:
        """Build every entropy model's coder tables (CompressAI's ``update()``)."""
        for model in entropy_models(self):
            model.update()

    def _prefix(self, layers: int | None) -> tuple[Layer, ...]:
        every = self.layers
        if layers is None:
            return every
        if not 1 <= layers <= len(every):
            raise ValueError(f"this codec has {len(every)} layer(s): decode 1 to {len(every)}")
        return every[:layers]

    # ------------------------------------------------------------------------------- coding
    @torch.no_grad()
    def compress(
        self,
        image: Tensor,
        lmbdas: Mapping[int, float] | None = None,
        layers: int | None = None,
    ) -> list[LayerPayload]:
        """One payload per coded layer of the first ``layers`` (None: all) for a float
        3×H×W image in [0, 1]; ``lmbdas``: the λ of each variable-rate layer, by index."""
        point = dict(lmbdas or {})
        unknown = set(point) - set(self.rate_ranges())
        if unknown:
            raise ValueError(f"layer {min(unknown)} of this model is not variable-rate")
        height, width = (int(n) for n in image.shape[-2:])
        x = pad_to_stride(image.unsqueeze(0).float(), self.stride)
        shape = self.latent_shape(height, width)
        earlier: dict[int, Tensor] = {}
        payloads = []
        for layer in self._prefix(layers):
            if not layer.coded:
                continue
            lmbda = point.get(layer.index)
            strings, symbols = layer.compress(x, earlier, lmbda)
            crc = latent_crc(symbols, height, width, lmbda)
            payloads.append(LayerPayload(layer.index, tuple(strings), shape, crc, lmbda))
            earlier[layer.index] = layer.latent(symbols, lmbda)
        return payloads

    @torch.no_grad()
    def decompress(
        self,
        payloads: Sequence[LayerPayload],
        size: tuple[int, int],
        layers: int | None = None,
    ) -> Decoded:
        """Decode the first ``layers`` layers (None: all) of a ``size`` = (height, width) image.

        Each coded layer needs its payload; its λ, strings and latent checksum are checked
        before its latent is used (a :class:`~hmcodec.codec.layers.LayerError` otherwise).
        Every layer's output is cropped to ``size`` and read by its head: the base task's
        prediction, then the second task's or the image (clamped to [0, 1]).
        """
        height, width = size
        shape = self.latent_shape(height, width)
        given: dict[int, LayerPayload] = {}
        for payload in payloads:
            given.setdefault(payload.index, payload)
        latents: dict[int, Tensor] = {}
        heads: list[Any] = []
        image: Tensor | None = None
        for layer in self._prefix(layers):
            y_hat: Tensor | None = None
            if layer.coded:
                sent = given.get(layer.index)
                if sent is None:
                    raise MissingLayerError(layer.index)
                if sent.shape != shape:
                    raise ValueError(
                        f"layer {layer.index}'s payload covers a {sent.shape} latent, "
                        f"not the {shape} of a {height}×{width} image"
                    )
                y_hat = decode_layer(layer, sent, size, latents)
            output = layer.output(y_hat, latents)[..., :height, :width]
            if y_hat is not None:
                latents[layer.index] = y_hat
            if layer.head is not None:
                heads.append(layer.head.predict(output)[0])
            else:
                image = output[0].clamp(0, 1)
        return Decoded(
            tuple(latents),
            heads[0],
            image=image,
            secondary_prediction=heads[1] if len(heads) > 1 else None,
            latents=latents,
        )
