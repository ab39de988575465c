"""Checkerboard, grouped ("enhanced"), channel-wise, ELIC and hyperprior entropy models.

Exact round trips (odd sizes included, with and without side information), likelihood ranges,
measured bits against −Σlog2 likelihood after brief training, causality of the contexts, the
position-wise decoder against the training forward, and state-dict round trips of the tables.
"""

from __future__ import annotations

import importlib.util
import math
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hmcodec.entropy import ENTROPY_MODELS
from hmcodec.entropy.checkerboard import anchor_mask, context_at
from hmcodec.entropy.elic import SpaceChannelModel, elic_groups
from hmcodec.entropy.gaussian import ContextGaussianModel, GaussianEntropyModel, GaussianTables
from hmcodec.entropy.grouped import log_scale_to_scale, raster_mask, split_groups
from hmcodec.entropy.hyperprior import HyperpriorModel, MeanScaleModel, _hyperprior_over, hyper_size

CHANNELS = 8
SIDE = 3

#: (id, registered name, small-model kwargs)
MODELS = [
    ("checkerboard", "checkerboard", {}),
    ("grouped", "grouped", {"group_size": 4, "blocks": 1, "hidden": 8}),
    ("channelwise", "channelwise", {"group_size": 4, "hidden": 8}),
    ("elic", "elic", {"hidden": 8}),
    ("hyperprior", "hyperprior", {}),
    ("hyperprior-context", "hyperprior-context", {}),
    ("hyperprior-checkerboard", "hyperprior-checkerboard", {}),
    ("hyperprior-elic", "hyperprior-elic", {"hidden": 8}),
]
MODEL_IDS = [case[0] for case in MODELS]


def build(name: str, kwargs: dict, side_channels: int = 0, channels: int = CHANNELS):
    return ENTROPY_MODELS.build(name, channels=channels, side_channels=side_channels, **kwargs)


def correlated_latent(
    channels: int, height: int, width: int, seed: int = 0, amplitude: float = 4.0
) -> torch.Tensor:
    """Integer latent: smooth (bilinearly up-sampled) noise plus a little white noise."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randn(1, channels, -(-height // 4), -(-width // 4), generator=generator)
    smooth = F.interpolate(
        coarse * amplitude, size=(height, width), mode="bilinear", align_corners=False
    )
    noise = 0.7 * torch.randn(1, channels, height, width, generator=generator)
    return torch.round(smooth + noise)


def side_information(channels: int, height: int, width: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(1, channels, height, width, generator=torch.Generator().manual_seed(seed))


def total_bits(likelihoods: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(-torch.log2(value).sum() for value in likelihoods.values())


def fit(model, y_hat: torch.Tensor, side: torch.Tensor | None, steps: int = 150) -> None:
    """Brief training on the rate of one latent, then the coder's tables."""
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(steps):
        loss = total_bits(model(y_hat, side)) / y_hat.numel() + model.aux_loss()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.update()


# -- registry and helpers -----------------------------------------------------------------------


def test_models_are_registered() -> None:
    for name in ("checkerboard", "grouped", "channelwise", "elic", "hyperprior"):
        assert name in ENTROPY_MODELS
    for context in ("context", "checkerboard", "channelwise", "grouped", "elic"):
        assert f"hyperprior-{context}" in ENTROPY_MODELS


def test_a_hyperprior_is_a_hyper_codec_around_a_context_model() -> None:
    """The hyper features come first in the context model's side information, then the
    caller's; the context model is the registered one (composition, not a subclass)."""
    joint = ENTROPY_MODELS.build("hyperprior-context", channels=4, side_channels=2)
    assert isinstance(joint, HyperpriorModel) and joint.side_channels == 2
    assert isinstance(joint.conditional, ContextGaussianModel)
    assert joint.conditional.side_channels == 2 + 8
    elic = ENTROPY_MODELS.build("hyperprior-elic", channels=32)
    assert isinstance(elic.conditional, SpaceChannelModel)
    assert isinstance(ENTROPY_MODELS.build("hyperprior", channels=4).conditional, MeanScaleModel)
    with pytest.raises(ValueError, match="side information|Gaussian context model"):
        _hyperprior_over("factorized")(channels=4)


def test_elic_groups_scale_the_papers_uneven_split() -> None:
    assert elic_groups(320) == [16, 16, 32, 64, 192]
    assert elic_groups(32) == [2, 2, 3, 6, 19]
    for channels in (1, 2, 3, 5, 8, 16, 192):
        sizes = elic_groups(channels)
        assert sum(sizes) == channels and min(sizes) >= 1
        assert sizes == sorted(sizes) or channels < 5


def test_split_groups() -> None:
    assert split_groups(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert split_groups(8, 16) == [(0, 8)]
    assert split_groups(8, [2, 2, 4]) == [(0, 2), (2, 4), (4, 8)]
    with pytest.raises(ValueError):
        split_groups(8, [4, 2])
    with pytest.raises(ValueError):
        split_groups(8, 0)


def test_log_scales_are_capped_with_an_identity_gradient() -> None:
    raw = torch.tensor([1e8, 1.0, -3.0], requires_grad=True)
    scales = log_scale_to_scale(raw, scale_max=64.0)
    assert torch.allclose(scales, torch.tensor([64 * math.e, math.e, math.exp(-3.0)]))
    scales.sum().backward()
    assert torch.allclose(raw.grad, scales.detach())


def test_raster_masks() -> None:
    a = raster_mask(1, 2, 1, 5, "A")[0]
    b = raster_mask(1, 2, 1, 5, "B")[0]
    assert bool((a[:2] == 1).all()) and bool((b[:2] == 1).all())  # visible channels: all
    assert a[2, 2, 2] == 0 and b[2, 2, 2] == 1  # the centre: hidden by A, shown by B
    assert a[2, :2].sum() == 10 and a[2, 2, :2].sum() == 2 and a[2, 3:].sum() == 0
    assert b[2, 2, 3:].sum() == 0


def test_anchor_mask() -> None:
    mask = anchor_mask(3, 4)[0, 0]
    assert bool(mask[0, 0]) and not bool(mask[0, 1]) and bool(mask[1, 1])
    assert int(mask.sum()) == 6


# -- round trips and likelihoods ----------------------------------------------------------------


@pytest.mark.parametrize("size", [(5, 7), (1, 1), (16, 16)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("side_channels", [0, SIDE], ids=["alone", "side"])
@pytest.mark.parametrize(("name", "kwargs"), [c[1:] for c in MODELS], ids=MODEL_IDS)
def test_round_trip_is_exact(name: str, kwargs: dict, side_channels: int, size) -> None:
    torch.manual_seed(0)
    model = build(name, kwargs, side_channels).eval()
    model.update()
    y_hat = correlated_latent(CHANNELS, *size, seed=3)
    y_hat[0, 0, 0, 0] = 90.0  # far outside every table: escape-coded
    side = side_information(side_channels, *size) if side_channels else None
    strings = model.compress(y_hat, side)
    assert all(isinstance(s, bytes) for s in strings)
    decoded = model.decompress(strings, size, side)
    assert decoded.dtype == torch.float32 and decoded.shape == y_hat.shape
    assert torch.equal(decoded, y_hat)


@pytest.mark.parametrize("side_channels", [0, SIDE], ids=["alone", "side"])
@pytest.mark.parametrize(("name", "kwargs"), [c[1:] for c in MODELS], ids=MODEL_IDS)
def test_likelihoods_have_the_latent_shape(name: str, kwargs: dict, side_channels: int) -> None:
    torch.manual_seed(0)
    model = build(name, kwargs, side_channels)
    y_hat = torch.cat([correlated_latent(CHANNELS, 5, 7, seed) for seed in (0, 5)])
    y_hat.requires_grad_()
    side = None
    if side_channels:
        side = torch.cat([side_information(side_channels, 5, 7, seed) for seed in (1, 6)])
    likelihoods = model(y_hat, side)
    alone = model(y_hat[1:], None if side is None else side[1:])  # a batch is per-sample
    for key, value in alone.items():
        torch.testing.assert_close(likelihoods[key][1:], value)
    expected = {"y", "z"} if name.startswith("hyperprior") else {"y"}
    assert set(likelihoods) == expected
    assert likelihoods["y"].shape == y_hat.shape
    if "z" in likelihoods:
        assert likelihoods["z"].shape[-2:] == hyper_size((5, 7)) == (2, 2)
    for value in likelihoods.values():
        assert bool((value > 0).all()) and bool((value <= 1).all())
    total_bits(likelihoods).backward()
    assert y_hat.grad is not None and bool(torch.isfinite(y_hat.grad).all())


@pytest.mark.parametrize(("name", "kwargs"), [c[1:] for c in MODELS], ids=MODEL_IDS)
def test_missing_side_information_is_an_error(name: str, kwargs: dict) -> None:
    model = build(name, kwargs, SIDE)
    model.update()
    y_hat = correlated_latent(CHANNELS, 4, 4)
    with pytest.raises(ValueError):
        model(y_hat)
    with pytest.raises(ValueError):
        model.compress(y_hat, side_information(SIDE + 1, 4, 4))


@pytest.mark.parametrize(("name", "kwargs"), [c[1:] for c in MODELS], ids=MODEL_IDS)
def test_diverged_parameters_are_refused(name: str, kwargs: dict) -> None:
    """NaN parameters would index outside the coder's tables: compress raises instead."""
    model = build(name, kwargs)
    model.update()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))
    with pytest.raises(ValueError, match="not finite"):
        model.compress(correlated_latent(CHANNELS, 3, 4))


# -- rate: measured bytes against the estimate after brief training -----------------------------

RATE_CASES = [  # (id, name, kwargs, with side information)
    ("checkerboard-side", "checkerboard", {}, True),
    ("grouped", "grouped", {"group_size": 8, "blocks": 1, "hidden": 16}, False),
    ("channelwise", "channelwise", {"group_size": 8, "hidden": 16}, False),
    ("channelwise-side", "channelwise", {"group_size": 8, "hidden": 16}, True),
    ("elic", "elic", {"hidden": 16}, False),
    ("elic-side", "elic", {"hidden": 16}, True),
    ("hyperprior-side", "hyperprior", {}, True),
    ("hyperprior-context", "hyperprior-context", {}, False),
    ("hyperprior-checkerboard", "hyperprior-checkerboard", {}, False),
    ("hyperprior-elic-side", "hyperprior-elic", {"hidden": 16}, True),
]


@pytest.mark.parametrize(
    ("name", "kwargs", "with_side"), [c[1:] for c in RATE_CASES], ids=[c[0] for c in RATE_CASES]
)
def test_real_bits_match_the_estimate_after_training(
    name: str, kwargs: dict, with_side: bool
) -> None:
    channels, size = 16, (24, 24)
    torch.manual_seed(0)
    model = build(name, kwargs, SIDE if with_side else 0, channels=channels)
    y_hat = correlated_latent(channels, *size)
    side = side_information(SIDE, *size) if with_side else None
    fit(model, y_hat, side)
    model.eval()
    with torch.no_grad():
        estimate = float(total_bits(model(y_hat, side)))
    strings = model.compress(y_hat, side)
    real = 8 * sum(len(s) for s in strings)
    gap = (real - estimate) / estimate
    print(
        f"{name} {kwargs} side={with_side}: estimate {estimate:.0f} bits, real {real}, {gap:+.3%}"
    )
    assert abs(gap) < 0.01
    assert estimate / y_hat.numel() < 4.0  # it did learn something (factorized-level rate)
    assert torch.equal(model.decompress(strings, size, side), y_hat)


def test_the_coded_floor_is_what_the_coder_spends_in_and_beyond_a_table() -> None:
    tables = GaussianTables()
    half = int(tables.half_widths[0])  # scale level 0; symbols -half … half + 1 about the base
    count = 2 * half + 2
    table = torch.zeros(6, dtype=torch.long)  # level 0, mean fraction 0
    base = torch.full((6,), 3, dtype=torch.long)
    # coded index: inside; the overflow raw values 0, 1, 16 (beyond), 1 (below); far below
    index = torch.tensor([0, count, count, count + 8, -1, -1000])
    floor = tables.coded_floor((index - half + base).double(), base, table)
    bits = (-torch.log2(floor)).tolist()
    # 16 bits for a table entry; beyond: 16 + 4 (group count) + 4 per group of the raw value
    assert bits[:2] == [16.0, 20.0]
    assert bits[3] == 16 + 4 + 8  # raw 16: two groups
    assert bits[4] == 16 + 4 + 4  # raw 1
    assert bits[5] == 16 + 4 + 4 * 3  # raw 1999: three groups


@pytest.mark.parametrize("name", ["context", "hyperprior-checkerboard"])
def test_outliers_are_estimated_as_the_coder_codes_them(name: str) -> None:
    """Symbols far in a Gaussian's tail cost the training bound's 30 bits in training but at
    most 16 bits (in a table) or 16 plus a short bypass code (beyond it) in the stream; the
    estimate outside training follows the coder."""
    channels, size = 16, (24, 24)
    torch.manual_seed(0)
    model = build(name, {}, channels=channels)
    y_hat = correlated_latent(channels, *size)
    fit(model, y_hat, None)
    outliers = y_hat.clone()
    flat = outliers.view(-1)
    positions = torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(3))[:100]
    flat[positions] += torch.tensor([12.0, -40.0, 300.0, 5.0]).repeat(25)
    strings = model.compress(outliers, None)
    real = 8 * sum(len(s) for s in strings)
    tables = [m for m in model.modules() if isinstance(m, GaussianTables)]
    with torch.no_grad():
        model.eval()
        estimate = float(total_bits(model(outliers, None)))
        for module in tables:
            module.training = True
        bound = float(total_bits(model(outliers, None)))
    assert abs(real - estimate) / real < 0.01, (estimate, real)
    assert bound > 1.02 * real  # the training bound overcharges them
    assert torch.equal(model.decompress(strings, size, None), outliers)


# -- causality ----------------------------------------------------------------------------------


def test_grouped_context_is_causal() -> None:
    """A symbol never influences the parameters of a symbol decoded before it (float64)."""
    torch.manual_seed(0)
    groups = split_groups(10, 4)
    model = build("grouped", {"group_size": 4, "blocks": 2, "hidden": 6}, SIDE, 10).double()
    height, width = 6, 7
    y_hat = correlated_latent(10, height, width).double()
    side = side_information(SIDE, height, width).double()
    order = torch.arange(height * width).view(height, width)  # raster rank inside a group
    with torch.no_grad():
        means, scales = model.gaussian(y_hat, side)
        for group, (start, stop) in enumerate(groups):
            for channel, h, w in ((start, 2, 3), (stop - 1, 0, 0), (start, height - 1, 6)):
                changed = y_hat.clone()
                changed[0, channel, h, w] += 7
                new_means, new_scales = model.gaussian(changed, side)
                moved = (new_means - means).abs() + (new_scales - scales).abs() > 1e-12
                earlier = torch.zeros_like(moved)
                earlier[0, :start] = True  # earlier groups: everywhere
                earlier[0, start:stop] = (order <= h * width + w).expand(stop - start, -1, -1)
                assert not bool((moved & earlier).any()), (group, channel, h, w)
                if (h, w) == (2, 3):  # it does reach later symbols of its group and later groups
                    assert bool(moved[0, start:stop].any())
                    assert group == len(groups) - 1 or bool(moved[0, stop:].any())


#: every Gaussian model whose walk is checked against its training forward (float64)
GAUSSIAN_MODELS = [
    ("context", {}),
    ("checkerboard", {}),
    ("channelwise", {"group_size": 4, "hidden": 6}),
    ("grouped", {"group_size": 4, "blocks": 2, "hidden": 6}),
    ("elic", {"hidden": 6}),
]


@pytest.mark.parametrize("with_side", [False, True], ids=["alone", "side"])
@pytest.mark.parametrize(("name", "kwargs"), GAUSSIAN_MODELS, ids=[m[0] for m in GAUSSIAN_MODELS])
def test_the_coding_walk_computes_the_training_parameters(
    name: str, kwargs: dict, with_side: bool
) -> None:
    """The float64 walk that encoder and decoder share derives exactly the (μ, σ) that
    training used, for every symbol, each symbol visited once (the coded probability is the
    trained likelihood)."""
    torch.manual_seed(1)
    model = build(name, kwargs, SIDE if with_side else 0, 10).double()
    assert isinstance(model, GaussianEntropyModel)
    height, width = 5, 6
    y_hat = correlated_latent(10, height, width).double()
    side = side_information(SIDE, height, width).double() if with_side else None
    with torch.no_grad():
        means, scales = model.gaussian(y_hat, side)
    walked_means, walked_scales = torch.zeros_like(means), torch.zeros_like(scales)
    visits = torch.zeros_like(means)

    def step(where, mean, scale) -> torch.Tensor:
        walked_means[where] = mean
        walked_scales[where] = scale
        visits[where] += 1
        return y_hat[where]

    assert torch.equal(model.walk((height, width), side, step), y_hat)
    assert bool((visits == 1).all())
    torch.testing.assert_close(walked_means, means, rtol=0, atol=1e-10)
    torch.testing.assert_close(walked_scales, scales, rtol=0, atol=1e-10)


def test_the_mean_scale_model_needs_side_information() -> None:
    with pytest.raises(ValueError, match="side information only"):
        MeanScaleModel(4, 0)


def test_elic_groups_see_earlier_groups_and_their_own_anchors_only() -> None:
    """Anchors of group g: side information and groups < g; non-anchors: also g's anchors."""
    torch.manual_seed(0)
    model = build("elic", {"hidden": 6}, 0, 10)
    groups = model.groups
    height, width = 6, 7
    anchors = anchor_mask(height, width)[0, 0]
    y_hat = correlated_latent(10, height, width)
    with torch.no_grad():
        means, scales = model.gaussian(y_hat)
        for group, (start, stop) in enumerate(groups):
            for h, w in ((2, 2), (2, 3)):
                changed = y_hat.clone()
                changed[0, start, h, w] += 7
                new_means, new_scales = model.gaussian(changed)
                moved = ((new_means - means).abs() + (new_scales - scales).abs() > 1e-6)[0]
                assert not bool(moved[:start].any())  # earlier groups never
                own = moved[start:stop]
                assert not bool((own & anchors).any())  # the group's anchors never
                if not bool(anchors[h, w]):
                    assert not bool(own.any())  # a non-anchor informs nothing in its group
                else:
                    assert bool(own.any())
                assert group == len(groups) - 1 or bool(moved[stop:].any())


def test_checkerboard_context_is_two_pass() -> None:
    """Anchors depend on side information only; non-anchors on anchors (and side) only."""
    torch.manual_seed(0)
    height, width = 6, 7
    anchors = anchor_mask(height, width).expand(1, CHANNELS, -1, -1)
    y_hat = correlated_latent(CHANNELS, height, width)
    for side in (None, side_information(SIDE, height, width)):
        model = build("checkerboard", {}, 0 if side is None else SIDE)
        with torch.no_grad():
            means, scales = model.gaussian(y_hat, side)
            if side is None:  # no side information: one (μ, σ) per channel for every anchor
                anchor_means = means[anchors].view(CHANNELS, -1)
                assert bool((anchor_means == anchor_means[:, :1]).all())
            for h, w in ((2, 2), (2, 3), (0, 0), (5, 6)):
                changed = y_hat.clone()
                changed[0, 1, h, w] += 7
                new_means, new_scales = model.gaussian(changed, side)
                moved = (new_means - means).abs() + (new_scales - scales).abs() > 1e-6
                assert not bool((moved & anchors).any())
                if bool(anchors[0, 0, h, w]):
                    assert bool(moved.any())  # an anchor informs nearby non-anchors
                else:
                    assert not bool(moved.any())  # a non-anchor informs nothing


def test_channelwise_groups_see_only_earlier_groups() -> None:
    torch.manual_seed(0)
    model = build("channelwise", {"group_size": 4, "hidden": 8}, 0, 12)
    y_hat = correlated_latent(12, 5, 5)
    with torch.no_grad():
        means, _ = model.gaussian(y_hat)
        for start in (0, 4, 8):
            changed = y_hat.clone()
            changed[0, start : start + 4] += 3
            moved = ((model.gaussian(changed)[0] - means).abs() > 1e-6).flatten(2).any(-1)[0]
            assert not bool(moved[: start + 4].any())
            assert start == 8 or bool(moved[start + 4 :].any())


# -- tables survive a state-dict round trip -----------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs"), [c[1:] for c in MODELS], ids=MODEL_IDS)
def test_state_dict_restores_the_tables(name: str, kwargs: dict) -> None:
    torch.manual_seed(0)
    model = build(name, kwargs, SIDE)
    model.update()
    torch.manual_seed(1)
    fresh = build(name, kwargs, SIDE)
    fresh.load_state_dict(model.state_dict())
    y_hat = correlated_latent(CHANNELS, 6, 5)
    side = side_information(SIDE, 6, 5)
    strings = model.compress(y_hat, side)
    assert fresh.compress(y_hat, side) == strings
    assert torch.equal(fresh.decompress(strings, (6, 5), side), y_hat)


# -- the paper-size grouped model decodes fast enough ------------------------------------------


def test_grouped_default_size_decodes_in_seconds() -> None:
    """32 channels, 16×16, two groups of 16, five blocks: the per-position decoder is fast."""
    torch.manual_seed(0)
    model = build("grouped", {}, 0, 32)
    model.update()
    y_hat = correlated_latent(32, 16, 16)
    strings = model.compress(y_hat)
    start = time.perf_counter()
    decoded = model.decompress(strings, (16, 16))
    elapsed = time.perf_counter() - start
    assert torch.equal(decoded, y_hat)
    assert elapsed < 15.0, f"decoding took {elapsed:.1f} s"
    assert math.isfinite(elapsed)


def test_benchmark_script_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "entropy_decode.py"
    spec = importlib.util.spec_from_file_location("entropy_decode", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    threads = torch.get_num_threads()
    try:
        script.main(["--channels", "4", "--size", "5", "--steps", "2", "--repeat", "1", "--side"])
    finally:
        torch.set_num_threads(threads)
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(script.MODELS)
    assert table[1].startswith("| context |") and "1.0×" in table[1]


# -- the coding path's caches follow the parameters --------------------------------------------


@pytest.mark.parametrize("name", ["checkerboard", "hyperprior-elic"])
def test_cached_coding_copies_follow_the_parameters(name: str) -> None:
    """The float64 copies and coder tables are reused between images, but an optimiser step,
    a loaded state dict or new tables are coded with at once (a stale copy would code with
    the old weights and the decoder of a fresh process would refuse the stream)."""
    torch.manual_seed(0)
    model = build(name, {}, SIDE)
    model.update()
    y_hat, side = correlated_latent(CHANNELS, 6, 7), side_information(SIDE, 6, 7)
    first = model.compress(y_hat, side)
    assert model.compress(y_hat, side) == first  # reused: same strings
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    total_bits(model(y_hat, side)).backward()
    optimizer.step()  # in place, as training does
    model.update()
    fresh = build(name, {}, SIDE)
    fresh.load_state_dict(model.state_dict())
    stepped = model.compress(y_hat, side)
    assert stepped != first and stepped == fresh.compress(y_hat, side)
    torch.manual_seed(5)
    other = build(name, {}, SIDE)
    other.update()
    model.load_state_dict(other.state_dict())
    assert model.compress(y_hat, side) == other.compress(y_hat, side)
    assert torch.equal(model.decompress(other.compress(y_hat, side), (6, 7), side), y_hat)


@pytest.mark.parametrize("size", [(7, 5), (1, 1), (2, 9)])
def test_checkerboard_context_at_positions_equals_the_masked_convolution(size) -> None:
    """The decoder's gathered taps give the whole-tensor masked convolution at the positions."""
    from compressai.layers import CheckerboardMaskedConv2d

    torch.manual_seed(0)
    conv = CheckerboardMaskedConv2d(3, 6, 5, padding=2, mask_type="A")
    y_hat = torch.randn(1, 3, *size, dtype=torch.float64).round()
    weight = (conv.weight * conv.mask).detach().double()
    full = F.conv2d(y_hat, weight, conv.bias.detach().double(), padding=2)
    for positions in (~anchor_mask(*size)[0, 0], anchor_mask(*size)[0, 0]):
        rows = context_at(conv, y_hat, positions)
        assert rows.dtype == torch.float64 and rows.shape == (int(positions.sum()), 6)
        torch.testing.assert_close(rows, full[0][:, positions].T, rtol=1e-12, atol=1e-12)
