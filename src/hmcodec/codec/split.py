"""Model splitting and direct coding (Harell et al., Fig. 1b–c and Fig. 4) as codec architectures.

``split``: the encoder runs the front of the task model up to the cut Y, a feature codec
(analysis f on Y, an entropy model of :data:`hmcodec.entropy.ENTROPY_MODELS`, synthesis g back to
Y's shape) carries Y, and the decoder runs the back on Ŷ. ``direct-features``: the encoder codes
the image itself (f on X) and the decoder synthesises the cut features Ŷ1 directly; training
distils at a point Y2 at or after the cut through the frozen task "mid-model" Y1 → Y2 (Fig. 4),
down to the output logits. Both are registered in ``ARCHITECTURES``; each is a
:class:`~hmcodec.codec.interface.Codec` of one layer (the feature codec, read by the back of the
task model) and no image, so streams, model files, ``hmcodec train``/``eval`` and BD-rates serve
them. The cut (:mod:`hmcodec.machines.cut`) and the task models' blocks
(:mod:`hmcodec.machines.tasks`) come from the coding-for-machines package, which imports nothing
of :mod:`hmcodec.codec`.

Settings live in ``model.options`` (see :class:`SplitOptions`); the task model is
``model.task`` (any FX-traceable head with a ``network``; ``weights`` may be an hmcodec model
file whose task head is used). The decoded features travel to the head *on the image grid*:
``base_synthesis`` repeats each feature cell ``s``×``s`` times (s: the cut's stride), so the
``[..., :H, :W]`` crop of :meth:`~hmcodec.codec.interface.Codec.decompress` trims the padding
exactly and the back reads ``[..., ::s, ::s]``, i.e. the ⌈H/s⌉×⌈W/s⌉ cells the unsplit model
would have had.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmcodec.codec.interface import Codec
from hmcodec.codec.scalable import ARCHITECTURES, CodecConfig
from hmcodec.entropy import ENTROPY_MODELS, quantize
from hmcodec.errors import ConfigError, StreamError
from hmcodec.machines.cut import OUTPUT, Back, Front, TracedNetwork, probe
from hmcodec.machines.tasks import (
    ResidualBlock,
    WrappedTask,
    build_pretrained_task,
    frozen_in_eval,
)
from hmcodec.nn.transforms import TransformSize

OBJECTIVES = ("task", "distill")


@dataclass
class SplitOptions:
    """``model.options`` of the ``split`` and ``direct-features`` architectures.

    ``cut``: node of the task network where the stream is decoded to (Y, Y1); ``stages``: the
    feature codec's stride-2 stages after the cut (latent stride = cut stride × 2^stages);
    ``objective``: ``task`` (the task model's loss on its output: supervised) or ``distill``
    (MSE normalised by the target's variance at ``distill_at``: unsupervised, Fig. 4);
    ``distill_at``: Y2, the cut itself (default: feature MSE), a later node, or ``output``
    (the logits); ``freeze_task``: keep the task model's weights fixed in the base stage (a
    distillation target must not move, so ``distill`` requires it); ``probe_size``: the input
    size used to measure the cut's stride and channels.
    """

    cut: str
    stages: int = 2
    objective: str = "task"
    distill_at: str | None = None
    freeze_task: bool = True
    probe_size: int = 64

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SplitOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown or "cut" not in values:
            raise ConfigError(
                f"model.options of a split codec needs 'cut' and knows {', '.join(sorted(known))}"
                + (f"; unknown: {', '.join(unknown)}." if unknown else ".")
            )
        options = cls(**values)
        if options.objective not in OBJECTIVES:
            raise ConfigError(
                f"options.objective must be one of {', '.join(OBJECTIVES)}, "
                f"not {options.objective!r}."
            )
        if options.objective == "distill" and not options.freeze_task:
            raise ConfigError("options.objective 'distill' needs options.freeze_task: true.")
        if options.stages < 0 or options.probe_size < 1:
            raise ConfigError("options.stages must be >= 0 and options.probe_size positive.")
        return options

    @property
    def target(self) -> str:
        """Y2: where the distillation loss is measured."""
        return self.distill_at or self.cut


# ------------------------------------------------------------------------- task model split
class SplitNetwork(nn.Module):
    """A task network as front + back that reads either an image or cut features on its grid.

    An input with the cut's channel count is decoded features (each cell repeated
    ``stride``×``stride``): only the back runs. A 3-channel input is an image: front and back
    run (task pretraining, the uncompressed reference). The decoder never calls the front.
    """

    def __init__(self, front: Front, back: Back, channels: int, stride: int) -> None:
        super().__init__()
        if channels == 3:
            raise ConfigError("the cut has 3 channels, which cannot be told from an image.")
        self.front = front
        self.back = back
        self.channels = channels
        self.stride = stride

    def is_features(self, image_like: Tensor) -> bool:
        return image_like.shape[1] == self.channels

    def cells(self, image_like: Tensor) -> Tensor:
        """The feature map itself from its image-grid form."""
        return image_like[..., :: self.stride, :: self.stride]

    def forward(self, image_like: Tensor) -> Any:
        if self.is_features(image_like):
            return self.back(self.cells(image_like), image_like)
        return self.back(self.front(image_like), image_like)


def to_grid(features: Tensor, stride: int) -> Tensor:
    """Repeat each feature cell ``stride``×``stride`` times (the image-grid form)."""
    return features if stride == 1 else F.interpolate(features, scale_factor=stride)


def normalised_mse(output: Tensor, target: Tensor) -> Tensor:
    """MSE divided by the target's variance over the batch (scale-free across layers)."""
    return F.mse_loss(output, target) / target.detach().var().clamp_min(1e-8)


class SplitTask(WrappedTask):
    """The task model behind a cut, as a head: predictions, metric and outputs are its own.

    ``loss`` on decoded features is the codec's objective (the task loss, or distillation at
    Y2 through the frozen mid-model); on an image it is the task model's own loss.
    """

    def __init__(self, task: dict[str, Any], options: SplitOptions) -> None:
        model = build_pretrained_task(task)
        network = getattr(model, "network", None)
        if not isinstance(network, nn.Module):
            raise ConfigError(f"task {task.get('name')!r} has no network to cut.")
        super().__init__(model.label_names)
        normalize = getattr(model, "normalize", None)
        if isinstance(normalize, nn.Module):  # moved into the front: the back reads features
            model.normalize = nn.Identity()
        else:
            normalize = None
        traced = TracedNetwork.trace(network)
        front = Front(traced.segment(None, options.cut), normalize)
        channels, stride = probe(front, options.probe_size)
        back = Back(traced.segment(options.cut, OUTPUT))
        model.network = SplitNetwork(front, back, channels, stride)
        self.model = model
        self.options = options
        self.task_spec = dict(task)
        self.target_keys = model.target_keys
        # the frozen mid-model Y1 → Y2 (training only; its modules are the back's, not copies)
        self._mid: tuple[Back, ...] = ()
        if options.objective == "distill" and options.target not in (options.cut, OUTPUT):
            self._mid = (Back(traced.segment(options.cut, options.target)),)

    @property
    def network(self) -> SplitNetwork:
        return cast(SplitNetwork, self.model.network)  # set in __init__

    def loss(self, image_like: Tensor, batch: dict[str, Any]) -> Tensor:
        with frozen_in_eval(self.model):
            if self.options.objective == "task" or not self.network.is_features(image_like):
                return self.model.loss(image_like, batch)
            return self.distillation(image_like, batch["image"])

    def distillation(self, image_like: Tensor, image: Tensor) -> Tensor:
        """Normalised MSE at Y2 between the decoded path and the task model on the image."""
        network = self.network
        decoded = network.cells(image_like)
        with torch.no_grad():
            target = network.front(image)
        if self.options.target == self.options.cut:
            return normalised_mse(decoded, target)
        if self.options.target == OUTPUT:
            with torch.no_grad():
                reference = self.model(image)
            return normalised_mse(self.model(image_like), reference)
        mid = self._mid[0]
        with torch.no_grad():
            reference = mid(target, image)
        return normalised_mse(mid(decoded, image_like), reference)

    def config(self) -> dict[str, Any]:
        return {"task": self.task_spec, "options": asdict(self.options), **super().config()}


# ---------------------------------------------------------------------------- feature codec
def _stage(channels: int, blocks: int) -> list[nn.Module]:
    """BatchNorm, ReLU and ``blocks`` residual blocks after a convolution."""
    layers: list[nn.Module] = [nn.BatchNorm2d(channels), nn.ReLU()]
    return layers + [ResidualBlock(channels, channels) for _ in range(blocks)]


class FeatureAnalysis(nn.Sequential):
    """``stages`` stride-2 5×5 convolutions (3×3 for 0 stages), each followed by BatchNorm, ReLU
    and residual blocks (the task networks' own building blocks), then a 3×3 convolution to the
    latent channels.

    Normalised transforms, not the ELU transforms of :mod:`hmcodec.nn.transforms`: at CPU scale
    the latter learned to regress a task model's features about ten times slower. Only the
    encoder runs them (the coded latents carry their own checksum), so BatchNorm is safe.
    """

    def __init__(self, in_channels: int, out_channels: int, size: TransformSize, stages: int):
        width, layers, channels = size.width, [], in_channels
        for _ in range(stages):
            layers += [nn.Conv2d(channels, width, 5, 2, 2), *_stage(width, size.blocks)]
            channels = width
        if not stages:
            layers += [nn.Conv2d(channels, width, 3, 1, 1), *_stage(width, size.blocks)]
        super().__init__(*layers, nn.Conv2d(width, out_channels, 3, 1, 1))


class FeatureSynthesis(nn.Module):
    """ŷ → Ŷ (the cut's channels, ``2^stages``× the latent size) on the image grid; mirrors
    :class:`FeatureAnalysis` with stride-2 transposed convolutions."""

    def __init__(
        self, in_channels: int, out_channels: int, size: TransformSize, stages: int, grid: int
    ) -> None:
        super().__init__()
        width = size.width
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, 1, 1)]
        layers += _stage(width, size.blocks)
        for _ in range(stages):
            layers.append(nn.ConvTranspose2d(width, width, 5, 2, 2, output_padding=1))
            layers += _stage(width, size.blocks)
        layers.append(nn.Conv2d(width, out_channels, 3, 1, 1))
        self.transform = nn.Sequential(*layers)
        self.grid = grid

    def features(self, y_hat: Tensor) -> Tensor:
        return self.transform(y_hat)

    def forward(self, y_hat: Tensor) -> Tensor:
        return to_grid(self.transform(y_hat), self.grid)


class SplitAnalysis(nn.Module):
    """f ∘ front: the encoder of model splitting. The front's weights belong to the task head
    (held here by reference, not registered), so freezing the task freezes them too."""

    def __init__(self, front: Front, analysis: FeatureAnalysis) -> None:
        super().__init__()
        self.analysis = analysis
        self._front = (front,)

    def forward(self, x: Tensor) -> Tensor:
        front = self._front[0]
        with frozen_in_eval(front):
            features = front(x)
        return self.analysis(features)


class NoImage(nn.Module):
    """The enhancement slot of a machines-only codec: no layer, no image; decoding all layers
    gives the base layer's task prediction."""

    has_layer: ClassVar[bool] = False
    has_output: ClassVar[bool] = False
    counts_base_rate: ClassVar[bool] = True

    def forward(self, x: Tensor, y_hat_b: Tensor, lmbda: float | None = None) -> dict[str, Any]:
        raise ConfigError("a split/direct-features codec has no enhancement layer to train.")

    def decompress(
        self, strings: list[bytes], y_hat_b: Tensor, lmbda: float | None = None
    ) -> tuple[Tensor, Tensor]:
        raise StreamError(
            "this codec codes for machines only and has no image to decode; decode or "
            "evaluate it with --layers base (the task prediction)."
        )


@ARCHITECTURES.register("split")
class SplitCodec(Codec):
    """Model splitting (Harell et al., Fig. 1b): front → feature codec → back."""

    #: what the encoder analyses: the cut features (``split``) or the image (direct coding).
    encoder: ClassVar[str] = "features"
    task: SplitTask

    def __init__(self, config: CodecConfig | dict[str, Any]) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = CodecConfig.from_dict(config)
        self.config = config
        if config.variable_rate:
            raise ConfigError(
                f"the {config.architecture} codec has no variable-rate layers; "
                "remove model.variable_rate."
            )
        self.options = SplitOptions.from_dict(config.options)
        size = config.transform_size()
        channels = config.base_channels
        self.task = SplitTask(config.task, self.options)
        network = self.task.network
        stages = self.options.stages
        #: total down-sampling: the cut's stride × the feature codec's.
        self.stride = network.stride * 2**stages
        self.base_analysis = self._analysis(network, channels, size, stages)
        self.base_entropy = ENTROPY_MODELS.build(config.base_entropy, channels=channels)
        self.base_synthesis = FeatureSynthesis(
            channels, network.channels, size, stages, network.stride
        )
        self.enhancement = NoImage()
        self.secondary_task = None
        self.auxiliary = None

    def _analysis(
        self, network: SplitNetwork, channels: int, size: TransformSize, stages: int
    ) -> nn.Module:
        return SplitAnalysis(
            network.front, FeatureAnalysis(network.channels, channels, size, stages)
        )

    def forward_base(
        self, x: Tensor, beta: float = 0.0, lmbda: float | None = None
    ) -> dict[str, Any]:
        """Latents, likelihoods and the decoded cut features on the image grid (``beta``: unused,
        there is no reconstruction head; ``lmbda``: unused, the layer is fixed-rate)."""
        y_hat = quantize(self.base_analysis(x), self.config.quantizer, self.training)
        return {
            "y_hat": y_hat,
            "likelihoods": self.base_entropy(y_hat),
            "image_like": self.base_synthesis(y_hat),
        }

    def forward_enhancement(
        self, x: Tensor, y_hat_b: Tensor, lmbda: float | None = None
    ) -> dict[str, Any]:
        return self.enhancement(x, y_hat_b)

    def base_symbols(self, x: Tensor, lmbda: float | None = None) -> Tensor:
        return torch.round(self.base_analysis(x))

    def base_latent(self, symbols: Tensor, lmbda: float | None = None) -> Tensor:
        return symbols

    def base_modules(self) -> list[nn.Module]:
        modules = [self.base_analysis, self.base_entropy, self.base_synthesis]
        return modules + ([] if self.options.freeze_task else [self.task])

    def for_inference(self) -> SplitCodec:
        return self


@ARCHITECTURES.register("direct-features")
class DirectFeaturesCodec(SplitCodec):
    """Direct coding (Harell et al., Fig. 1c, Fig. 4): X → ŷ → Ŷ1 → back; no front anywhere
    at coding time (it only gives the training targets)."""

    encoder = "image"

    def _analysis(
        self, network: SplitNetwork, channels: int, size: TransformSize, stages: int
    ) -> nn.Module:
        cut_stages = math.log2(network.stride)
        if not cut_stages.is_integer():
            raise ConfigError(
                f"direct coding needs a cut whose stride is a power of 2, not {network.stride}."
            )
        return FeatureAnalysis(3, channels, size, stages + int(cut_stages))
