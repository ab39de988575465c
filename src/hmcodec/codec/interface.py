"""The interfaces that codec architectures and enhancement methods offer, for type checking.

Every architecture in :data:`hmcodec.codec.scalable.ARCHITECTURES` (``scalable``, ``split``,
``direct-features``) offers :class:`Codec`; every entry of
:data:`hmcodec.codec.methods.ENHANCEMENTS` and a machines-only codec's empty enhancement slot
offer :class:`EnhancementLayer`. They are structural (:class:`typing.Protocol`): the classes do
not inherit from them, mypy checks that they match. Each lists what the container, the model
files, training and evaluation use, and the few :class:`torch.nn.Module` methods they call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from torch import Tensor, nn

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


class Codec(ModuleLike, Protocol):
    """A codec architecture, as :class:`~hmcodec.codec.scalable.ScalableCodec` and
    :class:`~hmcodec.machines.split.SplitCodec` offer it (``LoadedModel.codec``)."""

    @property
    def config(self) -> CodecConfig: ...

    #: down-sampling of the latents; inputs are padded to a multiple of it.
    @property
    def stride(self) -> int: ...

    @property
    def base_analysis(self) -> nn.Module: ...

    @property
    def base_entropy(self) -> LatentEntropyModel: ...

    @property
    def base_synthesis(self) -> nn.Module: ...

    @property
    def task(self) -> TaskHead: ...

    @property
    def secondary_task(self) -> TaskHead | None: ...

    @property
    def enhancement(self) -> EnhancementLayer: ...

    @property
    def auxiliary(self) -> AuxiliaryBranch | None: ...

    @property
    def layer_count(self) -> int: ...

    def forward_base(
        self, x: Tensor, beta: float = 0.0, lmbda: float | None = None
    ) -> dict[str, Any]: ...

    def forward_enhancement(
        self, x: Tensor, y_hat_b: Tensor, lmbda: float | None = None
    ) -> dict[str, Any]: ...

    def base_symbols(self, x: Tensor, lmbda: float | None = None) -> Tensor: ...

    def base_latent(self, symbols: Tensor, lmbda: float | None = None) -> Tensor: ...

    def rate_ranges(self) -> dict[int, RateRange]: ...

    def base_modules(self) -> list[nn.Module]: ...

    def for_inference(self) -> Codec: ...

    def update(self) -> None: ...
