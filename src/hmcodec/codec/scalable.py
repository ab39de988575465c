"""The scalable codec: a base layer for a vision task and an enhancement layer for people.

Task-compatible paper, Eq. 3 and Fig. 1: base analysis f_b → ŷ_b (coded without side
information) → base synthesis g_b → task model; a reconstruction head g_a on ŷ_b provides the
β reward; the enhancement method (``methods.py``) codes the second output given ŷ_b.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn

from hmcodec.codec.interface import Codec
from hmcodec.codec.layers import BASE, ENHANCEMENT, LAYER_NAMES, pad_to_stride
from hmcodec.codec.methods import ENHANCEMENTS
from hmcodec.codec.rate import GainUnit, build_gain_units, check_variable_rate, descaled, scaled
from hmcodec.entropy import ENTROPY_MODELS, quantize, scale_gradient
from hmcodec.entropy.quantize import QUANTIZERS
from hmcodec.errors import ConfigError
from hmcodec.nn.transforms import (
    PRESETS,
    STRIDE,
    AnalysisTransform,
    SynthesisTransform,
    TransformSize,
)
from hmcodec.registry import Registry
from hmcodec.tasks import build_task

if TYPE_CHECKING:
    from hmcodec.codec.interface import EnhancementLayer

__all__ = [
    "ARCHITECTURES",
    "BASE",
    "ENHANCEMENT",
    "LAYER_NAMES",
    "AuxiliaryBranch",
    "CodecConfig",
    "ScalableCodec",
    "build_codec",
    "pad_to_stride",
]

#: codec classes by name; each takes a :class:`CodecConfig` and is a
#: :class:`~hmcodec.codec.interface.Codec` (its layers, ``compress``/``decompress``,
#: ``forward_base``, ``base_modules``…), so the container, model files, training and evaluation
#: serve every one of them. ``hmcodec.codec`` registers ``split`` and ``direct-features``.
ARCHITECTURES: Registry[Codec] = Registry("architecture")


@dataclass
class CodecConfig:
    """Architecture of a scalable codec; stored in every checkpoint (DESIGN.md §3)."""

    transform: str | dict[str, int] = "small"
    #: the enhancement layer's transforms, where they differ from the base's (None: the same).
    enhancement_transform: str | dict[str, int] | None = None
    base_channels: int = 32
    enhancement_channels: int = 64
    side_channels: int = 32
    base_entropy: str = "context"
    enhancement_entropy: str = "context"
    method: str = "conditional"
    quantizer: str = "ste"
    task: dict[str, Any] = field(
        default_factory=lambda: {"name": "segmentation-tiny", "num_classes": 6}
    )
    #: a second vision task served by the enhancement layer instead of the image.
    secondary_task: dict[str, Any] | None = None
    #: weight α of the auxiliary recognition branch on ŷ_b (arXiv 2402.08267); 0 = none.
    auxiliary_alpha: float = 0.0
    #: the auxiliary branch's recogniser: ``copy`` (a fresh copy of the whole task head) or
    #: ``shallow`` (the task's first stages only, :meth:`TaskHead.shallow_copy`; paper 004).
    auxiliary_branch: str = "copy"
    #: which codec class builds this config (``ARCHITECTURES``) and its own settings.
    architecture: str = "scalable"
    options: dict[str, Any] = field(default_factory=dict)
    #: variable-rate layers (:mod:`hmcodec.codec.rate`): ``{base: [λ_min, λ_max],
    #: enhancement: [λ_min, λ_max], levels: 6}``; a layer not named is fixed-rate.
    variable_rate: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CodecConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown model setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}."
            )
        config = cls(**copy.deepcopy(values))
        config.validate()
        return config

    def validate(self) -> None:
        ARCHITECTURES.get(self.architecture)  # importing hmcodec.codec registers them all
        self.transform_size()
        self.transform_size("enhancement")
        ENHANCEMENTS.get(self.method)
        ENTROPY_MODELS.get(self.base_entropy)
        ENTROPY_MODELS.get(self.enhancement_entropy)
        if self.quantizer not in QUANTIZERS:
            raise ConfigError(
                f"unknown quantizer {self.quantizer!r}; known: {', '.join(QUANTIZERS)}."
            )
        check_variable_rate(self.variable_rate, LAYER_NAMES)
        # every enhancement method is registered as its class, whose flags say what it sends
        method = cast("type[EnhancementLayer]", ENHANCEMENTS.get(self.method))
        if "enhancement" in self.variable_rate and not method.has_layer:
            raise ConfigError(
                f"method {self.method} sends no enhancement layer, so it cannot be variable-rate."
            )
        if self.auxiliary_alpha < 0:
            raise ConfigError("auxiliary_alpha must be >= 0.")
        if self.auxiliary_branch not in AUXILIARY_BRANCHES:
            raise ConfigError(
                f"unknown auxiliary_branch {self.auxiliary_branch!r}; known: "
                f"{', '.join(AUXILIARY_BRANCHES)}."
            )
        for task in (self.task, self.secondary_task or {"name": "-"}):
            if not isinstance(task, dict) or "name" not in task:
                raise ConfigError(
                    "a task must be a mapping with a name, e.g. "
                    "{name: segmentation-tiny, num_classes: 6}."
                )
        if "name" not in self.task:
            raise ConfigError(
                "the model's task needs a name, e.g. task: {name: segmentation-tiny}."
            )

    def transform_size(self, layer: str = "base") -> TransformSize:
        """The transforms of ``layer``: ``transform``, or for the enhancement layer
        ``enhancement_transform`` where set (a preset name or ``{width, blocks}``)."""
        chosen = self.transform
        if layer == "enhancement" and self.enhancement_transform is not None:
            chosen = self.enhancement_transform
        if isinstance(chosen, dict):
            return TransformSize(**chosen)
        if chosen not in PRESETS:
            raise ConfigError(f"unknown transform preset {chosen!r}; known: {', '.join(PRESETS)}.")
        return PRESETS[chosen]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: the recognisers an auxiliary branch can use (``CodecConfig.auxiliary_branch``).
AUXILIARY_BRANCHES = ("copy", "shallow")


class AuxiliaryBranch(nn.Module):
    """A recognition branch on the base latent, for training only (arXiv 2402.08267).

    A 1×1 convolution and a 16× pixel shuffle turn ŷ_b into an image-like input for a fresh
    recogniser: a copy of the whole task head (``copy``), or of its first stages only
    (``shallow``, the paper's lightweight branch, a shortcut past a deep frozen task model).
    Its loss (weight α) shapes the encoder and is never coded or decoded.
    """

    def __init__(self, channels: int, task: dict[str, Any], branch: str = "copy") -> None:
        super().__init__()
        self.to_image = nn.Sequential(
            nn.Conv2d(channels, 3 * STRIDE**2, 1), nn.PixelShuffle(STRIDE)
        )
        head = build_task(task)
        self.task = head.shallow_copy() if branch == "shallow" else head

    def loss(self, y_hat: Tensor, batch: dict[str, Any]) -> Tensor:
        return self.task.loss(self.to_image(y_hat), batch)


@ARCHITECTURES.register("scalable")
class ScalableCodec(Codec):
    """Base layer (task) + one enhancement layer (image or second task), as in Fig. 1."""

    #: down-sampling of the latents; inputs are padded to a multiple of it.
    stride = STRIDE
    base_analysis: AnalysisTransform
    base_synthesis: SynthesisTransform

    def __init__(self, config: CodecConfig | dict[str, Any]) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = CodecConfig.from_dict(config)
        self.config = config
        size = config.transform_size()
        gains = build_gain_units(
            config.variable_rate,
            {"base": config.base_channels, "enhancement": config.enhancement_channels},
        )
        self.base_analysis = AnalysisTransform(3, config.base_channels, size)
        self.base_gain: GainUnit | None = gains.get("base")
        self.base_entropy = ENTROPY_MODELS.build(config.base_entropy, channels=config.base_channels)
        self.base_synthesis = SynthesisTransform(config.base_channels, 3, size)
        self.task = build_task(config.task)
        self.recon_head = SynthesisTransform(config.base_channels, 3, size)
        self.secondary_task = build_task(config.secondary_task) if config.secondary_task else None
        self.enhancement = ENHANCEMENTS.build(
            config.method,
            base_channels=config.base_channels,
            channels=config.enhancement_channels,
            size=config.transform_size("enhancement"),
            entropy=config.enhancement_entropy,
            side_channels=config.side_channels,
            quantizer=config.quantizer,
            gain=gains.get("enhancement"),
        )
        # The training-only branch is built last, on a forked RNG: every other module starts
        # from the same random weights, and later draws are the same, with or without it.
        self.auxiliary: AuxiliaryBranch | None = None
        if config.auxiliary_alpha:
            with torch.random.fork_rng(devices=[]):
                self.auxiliary = AuxiliaryBranch(
                    config.base_channels, config.task, config.auxiliary_branch
                )

    # ----------------------------------------------------------------------------- training
    def forward_base(
        self, x: Tensor, beta: float = 0.0, lmbda: float | None = None
    ) -> dict[str, Any]:
        """Base layer on a stride-aligned batch: latents, likelihoods, task input, g_a(ŷ_b).

        The reconstruction head sees ŷ_b with its gradient scaled by β (β = 0: detached), so it
        always learns to reconstruct while only β > 0 rewards the encoder for it (Eq. 3).
        ``lmbda`` is the operating point of a variable-rate base; ``y_hat`` is the de-scaled ŷ_b.
        """
        y = scaled(self.base_gain, self.base_analysis(x), lmbda)
        symbols = quantize(y, self.config.quantizer, self.training)
        y_hat = descaled(self.base_gain, symbols, lmbda)
        return {
            "y_hat": y_hat,
            "likelihoods": self.base_entropy(symbols),
            "image_like": self.base_synthesis(y_hat),
            "direct": self.recon_head(scale_gradient(y_hat, beta)),
        }

    def forward_enhancement(
        self, x: Tensor, y_hat_b: Tensor, lmbda: float | None = None
    ) -> dict[str, Any]:
        return self.enhancement(x, y_hat_b, lmbda)

    # ------------------------------------------------------------------------------- coding
    def base_symbols(self, x: Tensor, lmbda: float | None = None) -> Tensor:
        """The integers the base layer codes: round(f_b(x) ⊙ g(λ))."""
        return torch.round(scaled(self.base_gain, self.base_analysis(x), lmbda))

    def base_latent(self, symbols: Tensor, lmbda: float | None = None) -> Tensor:
        """ŷ_b from the decoded integers: symbols ⊙ g⁻¹(λ)."""
        return descaled(self.base_gain, symbols, lmbda)

    def base_modules(self) -> list[nn.Module]:
        """Everything the base stage trains and the enhancement stage keeps frozen."""
        modules = [
            self.base_analysis,
            self.base_gain,
            self.base_entropy,
            self.base_synthesis,
            self.task,
            self.recon_head,
            self.auxiliary,
        ]
        return [m for m in modules if m is not None]

    def for_inference(self) -> Codec:
        """This codec without its training-only branches (the auxiliary recognition branch)."""
        if self.auxiliary is None:
            return self
        config = CodecConfig.from_dict(self.config.as_dict() | {"auxiliary_alpha": 0.0})
        codec = build_codec(config)
        state = {k: v for k, v in self.state_dict().items() if not k.startswith("auxiliary.")}
        codec.load_state_dict(state)
        return codec


def build_codec(config: CodecConfig | dict[str, Any]) -> Codec:
    """Build the codec a config describes (its ``architecture``, ``scalable`` by default)."""
    if isinstance(config, dict):
        config = CodecConfig.from_dict(config)
    return ARCHITECTURES.build(config.architecture, config=config)
