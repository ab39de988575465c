"""Variable-rate layers: one trained model covers a λ range (gain units, Cui et al. 2021).

"Asymmetric Gained Deep Image Compression With Continuous Rate Adaptation" (Cui, Wang, Gao,
Bai, Liu and Bai, CVPR 2021): a layer keeps a *gain* matrix and an *inverse-gain* matrix of
``levels × C`` channel scalings, one row per anchor λ_k (log-spaced over the layer's range).
The encoder codes ŷ_q = round(y ⊙ g(λ)); the decoder synthesises from ŷ_q ⊙ g⁻¹(λ). Between
anchors both vectors are interpolated exponentially (Eq. 8: g = g_k^(1−l) ⊙ g_{k+1}^l with l
the position of log λ between log λ_k and log λ_{k+1}), so any λ of the range is an operating
point. Training draws λ log-uniformly from the range, one per batch.

The entropy models see the integers ŷ_q unchanged, so every entropy model and method works
variable-rate without code of its own; side information from a variable-rate base is computed
from the de-scaled ŷ_q ⊙ g⁻¹ (the same for every operating point of the base).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hmcodec.errors import ConfigError

#: anchors per layer when a config gives none (Cui et al. use 4–6 discrete rates).
DEFAULT_LEVELS = 6


@dataclass(frozen=True)
class RateRange:
    """The λ range of a variable-rate layer and its number of gain anchors."""

    lmbda_min: float
    lmbda_max: float
    levels: int = DEFAULT_LEVELS

    @classmethod
    def parse(cls, layer: str, value: object, levels: object = DEFAULT_LEVELS) -> RateRange:
        """``[λ_min, λ_max]`` from a config, checked; ``layer`` names it in errors."""
        where = f"model.variable_rate.{layer}"
        if (
            not isinstance(value, Sequence)
            or isinstance(value, str)
            or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            raise ConfigError(f"{where} must be [lmbda_min, lmbda_max], e.g. [0.05, 0.8].")
        low, high = float(value[0]), float(value[1])
        if not (0 < low < high and math.isfinite(high)):
            raise ConfigError(f"{where} needs 0 < lmbda_min < lmbda_max, not [{low}, {high}].")
        if not isinstance(levels, int) or isinstance(levels, bool) or levels < 2:
            raise ConfigError("model.variable_rate.levels must be a whole number of at least 2.")
        return cls(low, high, levels)

    def anchors(self) -> list[float]:
        """The anchor λ_k, log-spaced from λ_min to λ_max."""
        step = math.log(self.lmbda_max / self.lmbda_min) / (self.levels - 1)
        return [self.lmbda_min * math.exp(k * step) for k in range(self.levels)]

    def from_quality(self, quality: float) -> float:
        """λ at ``quality`` ∈ [0, 1]: 0 is λ_min (lowest rate), 1 is λ_max, log-linear between."""
        if not (isinstance(quality, (int, float)) and 0.0 <= quality <= 1.0):
            raise ValueError(f"quality must lie in [0, 1], not {quality}")
        return float(self.lmbda_min * (self.lmbda_max / self.lmbda_min) ** quality)

    def contains(self, lmbda: float) -> bool:
        # a λ read back from a float64 field or from quality 1.0 may differ in the last ulp
        tolerance = 1e-9
        return self.lmbda_min * (1 - tolerance) <= lmbda <= self.lmbda_max * (1 + tolerance)

    def check(self, lmbda: float, layer: str) -> float:
        """``lmbda`` if it lies in the range; otherwise one sentence naming the range."""
        if not (isinstance(lmbda, (int, float)) and math.isfinite(lmbda) and self.contains(lmbda)):
            raise ValueError(
                f"the {layer} layer codes λ from {self.lmbda_min:g} to {self.lmbda_max:g}, "
                f"not {lmbda}"
            )
        return float(min(max(lmbda, self.lmbda_min), self.lmbda_max))


class GainUnit(nn.Module):
    """Gain and inverse-gain vectors of one layer at any λ of its range (Cui et al. 2021).

    Both are stored as logarithms (positive by construction) and start at
    g_k = (λ_k / λ̄)^½, g⁻¹_k = 1 / g_k with λ̄ the range's geometric mean: a finer quantiser
    for a larger λ, the trained layer's rates already spread over the range at step 0.
    """

    def __init__(self, channels: int, rate: RateRange) -> None:
        super().__init__()
        self.rate = rate
        anchors = torch.tensor(rate.anchors(), dtype=torch.float64)
        #: log λ_k of the anchors (derived from the config, so not stored in model files).
        self.log_anchors = [math.log(a) for a in rate.anchors()]
        centre = anchors.log().mean()
        start = (0.5 * (anchors.log() - centre)).float().view(-1, 1).repeat(1, channels)
        self.log_gain = nn.Parameter(start.clone())
        self.log_inverse_gain = nn.Parameter(-start.clone())

    def sample(self, generator: torch.Generator | None = None) -> float:
        """One λ drawn log-uniformly from the range (training draws one per batch)."""
        low, high = math.log(self.rate.lmbda_min), math.log(self.rate.lmbda_max)
        u = float(torch.rand((), generator=generator))
        return math.exp(low + (high - low) * u)

    def _interpolate(self, table: Tensor, lmbda: float) -> Tensor:
        """Row of ``table`` (log values) at ``lmbda``: linear in log λ (Eq. 8), 1×C×1×1."""
        position = (math.log(lmbda) - self.log_anchors[0]) / (
            self.log_anchors[1] - self.log_anchors[0]
        )
        position = min(max(position, 0.0), self.rate.levels - 1.0)
        low = min(int(math.floor(position)), self.rate.levels - 2)
        fraction = position - low
        # float64 then float32: encoder and decoder derive the same vector on any machine
        rows = table.double()
        row = rows[low] * (1.0 - fraction) + rows[low + 1] * fraction
        return row.exp().float().view(1, -1, 1, 1)

    def gain(self, lmbda: float) -> Tensor:
        """g(λ): the scaling before quantisation (encoder only)."""
        return self._interpolate(self.log_gain, lmbda)

    def inverse_gain(self, lmbda: float) -> Tensor:
        """g⁻¹(λ): the scaling of the decoded integers (encoder and decoder)."""
        return self._interpolate(self.log_inverse_gain, lmbda)


def scaled(unit: GainUnit | None, y: Tensor, lmbda: float | None) -> Tensor:
    """y ⊙ g(λ) for a variable-rate layer, y itself for a fixed-rate one."""
    return y if unit is None else y * unit.gain(_required(lmbda))


def descaled(unit: GainUnit | None, y_hat: Tensor, lmbda: float | None) -> Tensor:
    """ŷ ⊙ g⁻¹(λ) for a variable-rate layer, ŷ itself for a fixed-rate one."""
    return y_hat if unit is None else y_hat * unit.inverse_gain(_required(lmbda))


def _required(lmbda: float | None) -> float:
    if lmbda is None:
        raise ValueError("this layer is variable-rate: give its operating point λ")
    return float(lmbda)


def build_gain_units(
    variable_rate: dict[str, object], channels: dict[str, int]
) -> dict[str, GainUnit]:
    """The gain unit of every layer that ``variable_rate`` (a model config section) names."""
    levels = variable_rate.get("levels", DEFAULT_LEVELS)
    return {
        layer: GainUnit(channels[layer], RateRange.parse(layer, variable_rate[layer], levels))
        for layer in channels
        if layer in variable_rate
    }


def check_variable_rate(variable_rate: object, layers: Sequence[str]) -> None:
    """Refuse a ``model.variable_rate`` section that names other layers or bad ranges."""
    if not isinstance(variable_rate, dict):
        raise ConfigError(
            "model.variable_rate must be a mapping such as {enhancement: [0.05, 0.8]}."
        )
    unknown = sorted(set(variable_rate) - {*layers, "levels"})
    if unknown:
        raise ConfigError(
            f"model.variable_rate names unknown layer(s) {', '.join(unknown)}; "
            f"layers are {', '.join(layers)} (and the option levels)."
        )
    levels = variable_rate.get("levels", DEFAULT_LEVELS)
    for layer in layers:
        if layer in variable_rate:
            RateRange.parse(layer, variable_rate[layer], levels)
