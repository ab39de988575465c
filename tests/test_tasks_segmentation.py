"""Segmentation heads: mIoU by hand, and the head contract for the tiny and torchvision models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.models import mobilenet_v3_large

from hmcodec.tasks import TASKS, TaskHead
from hmcodec.tasks.segmentation import AUX_LOSS_WEIGHT, IGNORE_INDEX, SegmentationMetric

NUM_CLASSES = 3
HEADS = ["segmentation-tiny", "segmentation-deeplabv3-mobilenet", "segmentation-lraspp-mobilenet"]


def make_batch(height: int = 64, width: int = 64, batch: int = 2) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    segmentation = torch.randint(0, NUM_CLASSES, (batch, height, width), generator=generator)
    segmentation[:, :4] = IGNORE_INDEX
    return {
        "image": torch.rand(batch, 3, height, width, generator=generator),
        "segmentation": segmentation,
    }


def test_miou_by_hand_with_ignore() -> None:
    target = torch.tensor([[0, 0, 1, 255], [0, 1, 1, 2], [2, 2, 1, 255], [0, 0, 0, 0]])
    prediction = torch.tensor([[0, 1, 1, 0], [0, 1, 2, 2], [2, 1, 1, 1], [0, 0, 0, 2]])
    # class 0: TP 5 ((0,0) (1,0) (3,0..2)), FN 2 ((0,1) (3,3)), FP 0 → 5/7
    # class 1: TP 3 ((0,2) (1,1) (2,2)), FN 1 ((1,2)), FP 2 ((0,1) (2,1)) → 3/6
    # class 2: TP 2 ((1,3) (2,0)), FN 1 ((2,1)), FP 2 ((1,2) (3,3)) → 2/5
    # class 3 appears nowhere and is not averaged; 255 pixels are skipped whatever predicted.
    metric = SegmentationMetric(num_classes=4)
    metric.update([prediction], {"segmentation": target[None]})
    result = metric.compute()
    assert result["miou"] == pytest.approx((5 / 7 + 3 / 6 + 2 / 5) / 3, abs=1e-6)
    assert result["pixel_accuracy"] == pytest.approx(10 / 14)
    assert SegmentationMetric.higher_is_better


@pytest.fixture(scope="module", params=HEADS)
def head(request: pytest.FixtureRequest) -> TaskHead:
    torch.manual_seed(0)
    return TASKS.build(request.param, num_classes=NUM_CLASSES, label_names=["a", "b", "c"])


def test_loss_backpropagates_to_image_like(head: TaskHead) -> None:
    batch = make_batch(32, 32)
    image_like = batch["image"].clone().requires_grad_(True)
    head.train()
    loss = head.loss(image_like, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert image_like.grad is not None and image_like.grad.abs().sum() > 0


@pytest.mark.parametrize("size", [(64, 64), (65, 97)])
def test_predict_is_label_map_at_input_size(head: TaskHead, size: tuple[int, int]) -> None:
    batch = make_batch(*size)
    head.train()
    running = [b.clone() for b in head.buffers()]
    predictions = head.predict(batch["image"])
    assert head.training, "predict restores the training flag"
    assert all(torch.equal(a, b) for a, b in zip(running, head.buffers(), strict=True))
    assert len(predictions) == 2
    for prediction in predictions:
        assert prediction.shape == size and prediction.dtype == torch.int64
        assert 0 <= int(prediction.min()) and int(prediction.max()) < NUM_CLASSES
    metric = head.metric()
    metric.update(predictions, batch)
    result = metric.compute()
    assert 0.0 <= result[metric.primary] <= 1.0


def test_save_prediction_writes_readable_pngs(head: TaskHead, tmp_path: Path) -> None:
    prediction = head.predict(make_batch(65, 97)["image"])[0]
    paths = head.save_prediction(prediction, tmp_path / "sample")
    assert {p.name for p in paths} == {"sample_segmentation.png", "sample_labels.png"}
    labels = np.array(Image.open(tmp_path / "sample_labels.png"))
    assert labels.shape == (65, 97) and np.array_equal(labels, prediction.numpy())
    assert np.array(Image.open(tmp_path / "sample_segmentation.png")).shape == (65, 97, 3)


def test_config_rebuilds_equivalent_head(head: TaskHead) -> None:
    rebuilt = TASKS.build(head.name, **head.config())
    assert rebuilt.config() == head.config() and type(rebuilt) is type(head)
    rebuilt.load_state_dict(head.state_dict())  # same architecture, strictly
    image = make_batch(32, 48)["image"]
    for a, b in zip(head.predict(image), rebuilt.predict(image), strict=True):
        assert torch.equal(a, b)


def test_deeplabv3_resnet50_adds_half_the_aux_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    head = TASKS.build("segmentation-deeplabv3-resnet50", num_classes=NUM_CLASSES)
    assert head.config()["aux_loss"] is True and head.network.aux_classifier is not None
    batch = make_batch(32, 32)
    image_like = batch["image"].clone().requires_grad_(True)
    head.train()
    outputs = head.outputs(image_like)
    assert set(outputs) == {"out", "aux"} and outputs["aux"].shape == (2, NUM_CLASSES, 32, 32)
    monkeypatch.setattr(head, "outputs", lambda image: outputs)  # one ResNet-50 pass only
    loss = head.loss(image_like, batch)
    target = batch["segmentation"]
    out = F.cross_entropy(outputs["out"], target, ignore_index=255)
    aux = F.cross_entropy(outputs["aux"], target, ignore_index=255)
    expected = out + AUX_LOSS_WEIGHT * aux
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert image_like.grad is not None and image_like.grad.abs().sum() > 0
    rebuilt = TASKS.build(head.name, **head.config())
    rebuilt.load_state_dict(head.state_dict())


def test_backbone_weights_from_local_file(tmp_path: Path) -> None:
    source = mobilenet_v3_large()
    path = tmp_path / "mobilenet.pth"
    torch.save(source.state_dict(), path)
    head = TASKS.build("segmentation-lraspp-mobilenet", num_classes=2, backbone_weights=str(path))
    torch.testing.assert_close(
        head.network.backbone["0"][0].weight, source.features[0][0].weight, rtol=0, atol=0
    )
    assert head.config()["backbone_weights"] == str(path)
