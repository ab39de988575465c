"""One place for the pretrained weights and input conventions of the task models.

The papers use off-the-shelf task models (torchvision's COCO Faster R-CNN, VOC DeepLabV3, ...)
fed with g_b(ŷ_b) "as if it were an image". ``weights`` is therefore either ``None`` (random
init), a local state-dict file, or a torchvision weights enum name such as
``"DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1"`` (downloaded through torchvision's cache;
needs network). Tests never download.

torchvision is imported where it is used, never at module level: ``import torchvision`` costs
seconds (its ops import ``torch._dynamo``) and the tiny heads of the shipped models need none of
it, so ``hmcodec encode``/``decode`` with them start without it. A head's torchvision builder is
:func:`torchvision_builder`'s, which imports torchvision when called.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hmcodec.errors import ModelError

#: the normalisation every torchvision ImageNet-pretrained model expects (their ``transforms``).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_FILE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
_EXAMPLE = "DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1"


def torchvision_builder(module: str, name: str) -> Callable[..., nn.Module]:
    """torchvision's model builder ``module.name``, imported when first called: importing
    torchvision pulls ``torch._dynamo`` (2.5 s at start-up, measured with ``python -X importtime
    -m hmcodec decode``), which a command that only codes never needs."""

    def build(*args: Any, **kwargs: Any) -> nn.Module:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    build.__name__ = build.__qualname__ = name
    return build


def _looks_like_path(weights: str) -> bool:
    return weights.endswith(_FILE_SUFFIXES) or "/" in weights or "\\" in weights


def torchvision_weights(weights: str) -> Any:
    """The torchvision ``WeightsEnum`` member named ``weights`` (no download), or ModelError."""
    try:
        from torchvision.models import get_weight

        return get_weight(weights)
    except (ValueError, KeyError, AttributeError) as error:
        raise ModelError(
            f"unknown torchvision weights {weights!r} ({error}); expected a name such as "
            f"{_EXAMPLE!r} or the path of a local weight file."
        ) from None


def weight_categories(weights: str | None) -> list[str] | None:
    """The class names of torchvision weights (``meta["categories"]``), if ``weights`` names any."""
    if weights is None or Path(weights).exists() or _looks_like_path(weights):
        return None
    categories = torchvision_weights(weights).meta.get("categories")
    return list(categories) if categories else None


def read_state_dict(weights: str) -> dict[str, Tensor]:
    """A state dict from a local file or a torchvision weights name (downloads the latter)."""
    path = Path(weights).expanduser()
    if path.exists() or _looks_like_path(weights):
        if not path.is_file():
            raise ModelError(f"weight file {str(path)!r} does not exist.")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # pickle, zip and tensor errors all mean "unreadable"
            raise ModelError(f"weight file {str(path)!r} could not be read: {error}") from None
        if isinstance(state, Mapping):
            for key in ("state_dict", "model"):
                if isinstance(state.get(key), Mapping):
                    state = state[key]
                    break
        if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
            raise ModelError(f"weight file {str(path)!r} does not hold a state dict.")
        state = dict(state)
        if state and all(key.startswith("module.") for key in state):  # saved from DataParallel
            state = {key.removeprefix("module."): value for key, value in state.items()}
        return state
    enum = torchvision_weights(weights)
    try:
        return dict(enum.get_state_dict(progress=True, check_hash=True))
    except (OSError, RuntimeError) as error:  # URLError is an OSError; hash mismatch is Runtime
        raise ModelError(
            f"torchvision weights {weights!r} could not be downloaded from {enum.url} ({error}); "
            "download the file elsewhere and pass its local path as the weights instead."
        ) from None


def _load_strict(model: nn.Module, state: Mapping[str, Tensor], what: str) -> None:
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches are raised even when not strict
        raise ModelError(f"{what} do not match the model: {error}") from None
    # BatchNorm's running-batch counter is absent from FrozenBatchNorm2d checkpoints; harmless.
    missing = [key for key in missing if not key.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ModelError(
            f"{what} do not match the model: {len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:3]}."
        )


def load_weights(model: nn.Module, weights: str | None) -> nn.Module:
    """Load ``weights`` into ``model`` strictly: None keeps the random init; returns ``model``.

    ``weights`` is a local ``.pth``/``.pt`` state dict (or a checkpoint dict holding one under
    ``"state_dict"`` or ``"model"``) or a torchvision weights enum name (downloaded).
    """
    if weights is None:
        return model
    _load_strict(model, read_state_dict(weights), f"the keys of weights {weights!r}")
    return model


def load_pretrained(
    network: nn.Module,
    weights: str | None,
    backbone: nn.Module,
    backbone_weights: str | None,
    backbone_source: Callable[[], nn.Module],
) -> None:
    """Load a task model's pretrained parameters: ``backbone_weights`` into its feature extractor
    ``backbone`` (through a fresh ``backbone_source()``, built only when needed), then
    ``weights`` into the whole ``network``; None leaves a part at its random init."""
    if backbone_weights is not None:
        load_backbone_weights(backbone, backbone_weights, backbone_source())
    load_weights(network, weights)


def load_backbone_weights(backbone: nn.Module, weights: str | None, source: nn.Module) -> None:
    """Load classification-network ``weights`` into a task model's feature extractor.

    torchvision's task models keep only the feature layers of their backbone (ResNet without
    ``fc``, MobileNetV3's ``features`` renumbered), so ``weights`` (e.g.
    ``"ResNet50_Weights.IMAGENET1K_V1"``) is first loaded strictly into ``source``, a fresh
    network of the same family, whose parameters then fill every key of ``backbone``.
    """
    if weights is None:
        return
    load_weights(source, weights)
    available = source.state_dict()
    state: dict[str, Tensor] = {}
    for key in backbone.state_dict():
        for candidate in (key, f"features.{key}"):
            if candidate in available:
                state[key] = available[candidate]
                break
    _load_strict(backbone, state, f"the backbone keys of weights {weights!r}")


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm2d`` in ``module`` by torchvision's ``FrozenBatchNorm2d``.

    torchvision builds pretrained detection backbones this way (with the default eps, as its
    builders do); statistics and affine parameters are copied. Returns ``module``.
    """
    from torchvision.ops.misc import FrozenBatchNorm2d

    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            from torchvision.ops.misc import FrozenBatchNorm2d

            frozen = FrozenBatchNorm2d(child.num_features)
            with torch.no_grad():
                if child.affine:
                    frozen.weight.copy_(child.weight)
                    frozen.bias.copy_(child.bias)
                if child.running_mean is not None and child.running_var is not None:
                    frozen.running_mean.copy_(child.running_mean)
                    frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        else:
            freeze_batchnorm(child)
    return module


class ImageNetNormalize(nn.Module):
    """``(x - mean) / std`` with the ImageNet statistics torchvision's pretrained models expect.

    The statistics are non-persistent buffers, so state dicts stay those of the task model.
    """

    mean: Tensor  # buffers (registered in __init__)
    std: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image_like: Tensor) -> Tensor:
        return (image_like - self.mean) / self.std


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode for the block, then restore every submodule's own flag."""
    flags = [(child, child.training) for child in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for child, training in flags:
            child.training = training
