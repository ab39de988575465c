"""Analysis and synthesis transforms of the scalable codecs.

Task-compatible paper (§3, Fig. 1) and conditional/residual paper (§3): four stride-2 5×5
convolutions (16× down-sampling) with residual bottleneck blocks (1×1, 3×3, 1×1, identity skip)
between them and ELU activations; the synthesis mirrors the analysis with transposed
convolutions. No GDN, no attention.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

#: total down-sampling factor of an analysis transform; images are padded to a multiple of it.
STRIDE = 16


class _ExpELU(torch.autograd.Function):
    """ELU(x) = max(x, exp(min(x, 0)) − 1), its gradient from the output: 1 where it is positive,
    output + 1 (= eˣ) elsewhere. PyTorch's CPU kernel evaluates expm1 and runs about 4× slower
    than one exp over the tensor; the values agree to one float32 ulp near zero."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor) -> Tensor:
        out = torch.clamp(x, max=0)
        out.exp_().sub_(1)
        torch.maximum(x, out, out=out)  # eˣ − 1 ≥ x for x ≤ 0, and 0 < x for x > 0
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors  # type: ignore[attr-defined]
        return grad * (out.clamp(max=0) + 1)


class ELU(nn.Module):
    """The exponential linear unit (α = 1) of the transforms, computed with one exp
    (:class:`_ExpELU`); a drop-in for ``nn.ELU()``, with no parameters."""

    def forward(self, x: Tensor) -> Tensor:
        result: Tensor = _ExpELU.apply(x)
        return result


class Conv1x1(nn.Conv2d):
    """A 1×1 convolution that runs on a channels-last input as one matrix product over its
    pixels (``F.linear`` on the N×H×W×C view, no copies). PyTorch's CPU dispatch sends a 1×1
    convolution at batch < 16 on one thread to its slow im2col path, which also returns a
    contiguous tensor that every following op must convert. Same parameters (and state-dict
    keys) as ``nn.Conv2d(in, out, 1)``; other layouts use its convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or not x.is_contiguous(memory_format=torch.channels_last):
            return super().forward(x)
        out = F.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1), self.bias)
        return out.permute(0, 3, 1, 2)


class ResidualBottleneck(nn.Module):
    """``x + conv1×1(ELU(conv3×3(ELU(conv1×1(x)))))`` with a channel bottleneck of half width."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(channels // 2, 1)
        self.body = nn.Sequential(
            Conv1x1(channels, hidden),
            ELU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            ELU(),
            Conv1x1(hidden, channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


@dataclass(frozen=True)
class TransformSize:
    """Widths of a transform pair: ``width`` inside, ``blocks`` bottlenecks between strides."""

    width: int = 192
    blocks: int = 1

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


#: paper-size transforms (task-compatible paper: N = 192) and a CPU-scale preset.
PRESETS: dict[str, TransformSize] = {
    "paper": TransformSize(width=192, blocks=3),
    "small": TransformSize(width=48, blocks=1),
    "tiny": TransformSize(width=24, blocks=1),
}


def _blocks(channels: int, count: int) -> list[nn.Module]:
    return [ResidualBottleneck(channels) for _ in range(count)]


class _ChannelsLast(nn.Sequential):
    """Runs its layers on a channels-last copy of the input, oneDNN's native layout on CPU
    (the session-12 figures in ``docs/benchmarks.md``), and returns a contiguous tensor, so that
    what follows (the exact float64 entropy models) sees the layout it always did. Values agree
    with the contiguous layout's to float rounding."""

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = super().forward(x.contiguous(memory_format=torch.channels_last))
        return out.contiguous()


class AnalysisTransform(_ChannelsLast):
    """x (N×in×H×W) → y (N×out×H/16×W/16)."""

    def __init__(self, in_channels: int, out_channels: int, size: TransformSize) -> None:
        layers: list[nn.Module] = []
        channels = in_channels
        for stage in range(4):
            last = stage == 3
            layers.append(nn.Conv2d(channels, out_channels if last else size.width, 5, 2, 2))
            channels = size.width
            if not last:
                layers += [ELU(), *_blocks(channels, size.blocks)]
        super().__init__(*layers)


class SynthesisTransform(_ChannelsLast):
    """ŷ (N×in×h×w) → output (N×out×16h×16w), mirroring :class:`AnalysisTransform`."""

    def __init__(self, in_channels: int, out_channels: int, size: TransformSize) -> None:
        layers: list[nn.Module] = []
        channels = in_channels
        for stage in range(4):
            last = stage == 3
            width = out_channels if last else size.width
            layers.append(nn.ConvTranspose2d(channels, width, 5, 2, 2, output_padding=1))
            channels = width
            if not last:
                layers += [ELU(), *_blocks(channels, size.blocks)]
        super().__init__(*layers)


class SideInformationTransform(nn.Sequential):
    """h_c: the decoded base latent → side information for the enhancement entropy model.

    Conditional/residual paper §3.2: "the representation of the primary task is processed by a
    ResNet and concatenated with the context"; same resolution as the enhancement latent.
    """

    def __init__(self, in_channels: int, out_channels: int, blocks: int = 2) -> None:
        width = max(out_channels, in_channels)
        super().__init__(
            nn.Conv2d(in_channels, width, 3, padding=1),
            ELU(),
            *_blocks(width, blocks),
            nn.Conv2d(width, out_channels, 3, padding=1),
        )
