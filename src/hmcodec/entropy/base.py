"""The latent entropy-model contract: likelihoods for training, strings for the bitstream.

Every model sees already-quantised latents ŷ (integers, see :mod:`.quantize`), so the
likelihood the loss sees is the probability the coder uses; ``side`` is side information from
earlier layers (conditional coding), ``None`` for layers coded alone.
"""

from __future__ import annotations

import copy
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar, cast

import torch
from torch import Tensor, nn

from hmcodec.registry import Registry

if TYPE_CHECKING:
    from hmcodec.codec.interface import ModuleLike

ENTROPY_MODELS: Registry[LatentEntropyModel] = Registry("entropy model")

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def spatial_size(shape: Sequence[int]) -> tuple[int, int]:
    """(height, width): the last two entries of a tensor's shape or of an (h, w) size."""
    height, width = shape[-2:]
    return height, width


class LatentEntropyModel(nn.Module, ABC):
    """p(ŷ | side): ``forward`` → likelihoods, ``compress``/``decompress`` → rANS strings."""

    def __init__(self, channels: int, side_channels: int = 0) -> None:
        super().__init__()
        self.channels = channels
        self.side_channels = side_channels

    @abstractmethod
    def forward(self, y_hat: Tensor, side: Tensor | None = None) -> dict[str, Tensor]:
        """Likelihood of every coded symbol, keyed by what it codes (``"y"``, ``"z"``…)."""

    @abstractmethod
    def compress(self, y_hat: Tensor, side: Tensor | None = None) -> list[bytes]:
        """Code one latent (batch of 1) into strings."""

    @abstractmethod
    def decompress(
        self, strings: list[bytes], size: tuple[int, int], side: Tensor | None = None
    ) -> Tensor:
        """Recover ŷ (1×C×h×w, float) exactly from ``compress``'s strings."""

    @abstractmethod
    def update(self) -> None:
        """(Re)build the entropy coder's tables from the current parameters."""

    def aux_loss(self) -> Tensor:
        """Auxiliary loss of models with learned quantiles (zero otherwise)."""
        return torch.zeros(())

    def aux_parameters(self) -> list[nn.Parameter]:
        """The parameters only :meth:`aux_loss` trains (the learned quantiles; none otherwise).

        The rate–distortion loss gives them no gradient; training steps them apart from it
        (CompressAI's separate auxiliary optimizer), outside the clipped gradient norm."""
        return []

    def check_side(self, side: Tensor | None) -> None:
        if self.side_channels and side is None:
            raise ValueError("this entropy model is conditional and needs side information")
        if side is not None and side.shape[1] != self.side_channels:
            raise ValueError(
                f"side information has {side.shape[1]} channels, expected {self.side_channels}"
            )


def entropy_models(module: ModuleLike) -> list[LatentEntropyModel]:
    """The outermost entropy models inside ``module`` (a hyperprior's own factorized model for ẑ
    belongs to the hyperprior and is not listed separately)."""
    if isinstance(module, LatentEntropyModel):
        return [module]
    return [m for child in module.children() for m in entropy_models(child)]


#: float64 copies by source module, with the state they were copied from (see float64_copy).
_FLOAT64_COPIES: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[object, ...], nn.Module]] = (
    weakref.WeakKeyDictionary()
)


def tensor_state(tensors: Iterable[Tensor]) -> tuple[object, ...]:
    """What identifies the current values of ``tensors``: storage, dtype, shape and in-place
    version of each (an optimiser step, ``load_state_dict`` or ``.to()`` changes it); empty
    if a tensor keeps no version (an inference-mode tensor), meaning "do not cache"."""
    try:
        return tuple((t.data_ptr(), t.dtype, t.shape, t._version) for t in tensors)
    except RuntimeError:  # inference tensors track no version counter
        return ()


def float64_copy(module: ModuleT) -> ModuleT:
    """A float64 eval-mode copy of ``module`` for entropy-parameter paths at coding time.

    The encoder and the decoder must derive identical table indexes; computing the parameters
    in float64 makes that robust to thread counts and kernels (the latent CRC catches the rest).
    The copy is made once and reused while the module's parameters and buffers are unchanged
    (keyed on :func:`tensor_state`), so coding an image does not deep-copy networks each time.
    """
    state = tensor_state([*module.parameters(), *module.buffers()])
    cached = _FLOAT64_COPIES.get(module)
    if state and cached is not None and cached[0] == state:
        return cast(ModuleT, cached[1])
    with torch.no_grad():
        copy_ = copy.deepcopy(module).double().eval().requires_grad_(False)
    if state:
        _FLOAT64_COPIES[module] = (state, copy_)
    return copy_
