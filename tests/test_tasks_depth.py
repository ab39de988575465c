"""Depth heads: RMSE / AbsRel / δ<1.25 by hand, masked loss, and the head contract."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hmcodec.tasks import TASKS, TaskHead
from hmcodec.tasks.depth import DEPTH_PNG_SCALE, DepthMetric, masked_rmse

HEADS = ["depth-tiny", "depth-lraspp-mobilenet"]


def make_batch(height: int = 32, width: int = 32, batch: int = 2) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    depth = 1 + 20 * torch.rand(batch, height, width, generator=generator)
    mask = torch.rand(batch, height, width, generator=generator) > 0.3
    return {
        "image": torch.rand(batch, 3, height, width, generator=generator),
        "depth": depth,
        "depth_mask": mask,
    }


def test_metrics_by_hand() -> None:
    target = torch.tensor([[2.0, 4.0], [10.0, 0.0]])  # 0 = no ground truth
    prediction = torch.tensor([[2.0, 5.0], [8.0, 7.0]])
    mask = torch.tensor([[True, True], [True, True]])
    second = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    second_mask = torch.tensor([[True, False], [False, False]])
    metric = DepthMetric()
    metric.update(
        [prediction, second * 2],
        {"depth": torch.stack([target, second]), "depth_mask": torch.stack([mask, second_mask])},
    )
    result = metric.compute()
    # image 1, valid pixels 2→2, 4→5, 10→8: errors 0, 1, -2; ratios 1, 1.25, 1.25
    rmse_1 = math.sqrt((0 + 1 + 4) / 3)
    abs_rel_1 = (0 + 1 / 4 + 2 / 10) / 3
    delta_1 = 1 / 3  # 1.25 is not < 1.25
    # image 2, one valid pixel 1→2: error 1, AbsRel 1, ratio 2
    assert result["rmse"] == pytest.approx((rmse_1 + 1) / 2)
    assert result["abs_rel"] == pytest.approx((abs_rel_1 + 1) / 2)
    assert result["delta1"] == pytest.approx((delta_1 + 0) / 2)
    assert metric.primary == "rmse" and DepthMetric.higher_is_better is False


def test_metric_without_valid_pixels_is_nan() -> None:
    metric = DepthMetric()
    metric.update(
        [torch.ones(2, 2)],
        {"depth": torch.ones(1, 2, 2), "depth_mask": torch.zeros(1, 2, 2, dtype=torch.bool)},
    )
    assert math.isnan(metric.compute()["rmse"])


def test_masked_rmse_ignores_masked_pixels() -> None:
    prediction = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[1.0, 4.0], [100.0, -7.0]])
    mask = torch.tensor([[True, True], [False, False]])
    assert float(masked_rmse(prediction, target, mask)) == pytest.approx(math.sqrt(2), rel=1e-6)
    empty = masked_rmse(prediction.requires_grad_(True), target, torch.zeros_like(mask))
    assert empty.detach().item() == 0.0
    empty.backward()


@pytest.fixture(scope="module", params=HEADS)
def head(request: pytest.FixtureRequest) -> TaskHead:
    torch.manual_seed(0)
    return TASKS.build(request.param)


def test_loss_backpropagates_and_respects_mask(head: TaskHead) -> None:
    batch = make_batch()
    image_like = batch["image"].clone().requires_grad_(True)
    head.eval()  # deterministic forward so the two losses can be compared
    loss = head.loss(image_like, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    changed = dict(batch, depth=torch.where(batch["depth_mask"], batch["depth"], 1e6))
    torch.testing.assert_close(head.loss(batch["image"], changed), loss.detach())
    head.train()
    loss = head.loss(image_like, batch)
    loss.backward()
    assert image_like.grad is not None and image_like.grad.abs().sum() > 0


@pytest.mark.parametrize("size", [(64, 64), (65, 97)])
def test_predict_is_depth_map_at_input_size(head: TaskHead, size: tuple[int, int]) -> None:
    batch = make_batch(*size)
    head.train()
    predictions = head.predict(batch["image"])
    assert head.training
    assert len(predictions) == 2
    for prediction in predictions:
        assert prediction.shape == size and prediction.dtype == torch.float32
        assert float(prediction.min()) >= 0.0
    metric = head.metric()
    metric.update(predictions, batch)
    assert set(metric.compute()) == {"rmse", "abs_rel", "delta1"}


def test_save_prediction_writes_16_bit_and_colour_pngs(head: TaskHead, tmp_path: Path) -> None:
    depth = torch.linspace(0, 30, 65 * 97).reshape(65, 97)
    paths = head.save_prediction(depth, tmp_path / "sample")
    assert {p.name for p in paths} == {"sample_depth16.png", "sample_depth.png"}
    raw = np.array(Image.open(tmp_path / "sample_depth16.png"))
    assert raw.shape == (65, 97) and raw.dtype == np.uint16
    np.testing.assert_allclose(raw / DEPTH_PNG_SCALE, depth.numpy(), atol=0.5 / DEPTH_PNG_SCALE)
    colour = Image.open(tmp_path / "sample_depth.png")
    assert colour.mode == "RGB" and colour.size == (97, 65)


def test_config_rebuilds_equivalent_head(head: TaskHead) -> None:
    rebuilt = TASKS.build(head.name, **head.config())
    assert rebuilt.config() == head.config() and type(rebuilt) is type(head)
    rebuilt.load_state_dict(head.state_dict())
    image = make_batch(32, 48)["image"]
    for a, b in zip(head.predict(image), rebuilt.predict(image), strict=True):
        torch.testing.assert_close(a, b)
