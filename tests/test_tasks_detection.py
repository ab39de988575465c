"""Detection heads: COCO mAP on hand-made cases, the head contract (Faster R-CNN and the tiny
FCOS) and the tiny FCOS learning ShapesWorld boxes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import mobilenet_v3_large
from torchvision.ops.misc import FrozenBatchNorm2d

from hmcodec.data.schema import collate
from hmcodec.data.shapesworld import ShapesWorld
from hmcodec.errors import ConfigError
from hmcodec.tasks import TASKS, TaskHead
from hmcodec.tasks.detection import COCO_KEYS, DetectionMetric, TinyDetectorBackbone

#: fewer proposals and RoIs than torchvision's defaults, to keep CPU tests light; a zero score
#: threshold so that the random-init model still returns boxes.
LIGHT = {
    "box_score_thresh": 0.0,
    "box_detections_per_img": 20,
    "rpn_pre_nms_top_n_train": 200,
    "rpn_post_nms_top_n_train": 100,
    "rpn_pre_nms_top_n_test": 100,
    "rpn_post_nms_top_n_test": 20,
    "box_batch_size_per_image": 8,
}


def make_batch(height: int = 64, width: int = 64) -> dict[str, object]:
    generator = torch.Generator().manual_seed(0)
    return {
        "image": torch.rand(2, 3, height, width, generator=generator),
        "boxes": [
            torch.tensor([[4.0, 6.0, 30.0, 40.0], [20.0, 20.0, 60.0, 50.0]]),
            torch.zeros(0, 4),
        ],
        "labels": [torch.tensor([1, 7]), torch.zeros(0, dtype=torch.int64)],
    }


def detections(boxes: list[list[float]], labels: list[int], scores: list[float]) -> dict:
    return {
        "boxes": torch.tensor(boxes).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "scores": torch.tensor(scores),
    }


def targets() -> dict[str, list[torch.Tensor]]:
    return {
        "boxes": [torch.tensor([[10.0, 10.0, 50.0, 50.0]]), torch.tensor([[0.0, 0.0, 30.0, 20.0]])],
        "labels": [torch.tensor([1]), torch.tensor([2])],
    }


def test_map_is_one_for_perfect_detections() -> None:
    metric = DetectionMetric()
    assert all(math.isnan(value) for value in metric.compute().values())
    batch = targets()
    metric.update(
        [detections([[10, 10, 50, 50]], [1], [0.9]), detections([[0, 0, 30, 20]], [2], [0.8])],
        batch,
    )
    result = metric.compute()
    assert list(result) == list(COCO_KEYS)
    assert result["map"] == pytest.approx(1.0) and result["map_50"] == pytest.approx(1.0)
    assert metric.primary == "map" and metric.higher_is_better


def test_map_drops_with_a_confident_false_positive() -> None:
    metric = DetectionMetric()
    false_positive = [60, 60, 90, 90]  # no overlap with the class-1 object, higher score
    metric.update(
        [
            detections([[10, 10, 50, 50], false_positive], [1, 1], [0.5, 0.9]),
            detections([[0, 0, 30, 20]], [2], [0.8]),
        ],
        targets(),
    )
    result = metric.compute()
    # class 1: precision 1/2 at recall 1 → AP ≈ 0.5 (101-point interpolation); class 2: AP 1.
    assert result["map"] < 1.0 and result["map_50"] == pytest.approx(0.75, abs=0.01)


#: the tiny FCOS's light options: every location scores, so the random-init model gives boxes.
FCOS_LIGHT = {"score_thresh": 0.0, "detections_per_img": 20, "topk_candidates": 100}
#: (task name, detector options) of the heads that the contract tests run on.
HEADS = {
    "detection-fasterrcnn-mobilenet-v3-fpn": LIGHT,
    "detection-fcos-tiny": FCOS_LIGHT,
}


@pytest.fixture(scope="module", params=list(HEADS))
def head(request: pytest.FixtureRequest) -> TaskHead:
    torch.manual_seed(0)
    return TASKS.build(
        request.param,
        num_classes=91,
        label_names=[f"class{i}" for i in range(91)],
        detector_options=HEADS[request.param],
    )


def assert_loss_backpropagates(head: TaskHead, batch: dict) -> None:
    image_like = batch["image"].clone().requires_grad_(True)
    loss = head.loss(image_like, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert image_like.grad is not None and image_like.grad.abs().sum() > 0


def assert_predictions(predictions: list, height: int, width: int) -> None:
    assert len(predictions) == 2
    for prediction in predictions:
        assert prediction["image_size"] == (height, width)
        boxes = prediction["boxes"]
        assert boxes.ndim == 2 and boxes.shape[1] == 4
        assert prediction["labels"].dtype == torch.int64
        assert len(prediction["labels"]) == len(prediction["scores"]) == len(boxes)
        if len(boxes):
            assert float(boxes[:, 2].max()) <= width and float(boxes[:, 3].max()) <= height


def test_loss_backpropagates_with_an_image_without_boxes(head: TaskHead) -> None:
    head.train()
    assert_loss_backpropagates(head, make_batch())
    degenerate = make_batch()
    degenerate["boxes"][1] = torch.tensor([[5.0, 5.0, 5.0, 9.0]])  # zero width: dropped
    degenerate["labels"][1] = torch.tensor([3])
    assert torch.isfinite(head.loss(degenerate["image"], degenerate))


def test_loss_of_a_frozen_head_keeps_batchnorm_statistics(head: TaskHead) -> None:
    head.eval()
    running = [b.clone() for b in head.buffers()]
    assert_loss_backpropagates(head, make_batch())
    assert all(torch.equal(a, b) for a, b in zip(running, head.buffers(), strict=True))
    assert not any(module.training for module in head.modules())


def test_predict_in_eval_mode_at_input_size(head: TaskHead) -> None:
    batch = make_batch(65, 97)
    head.train()
    predictions = head.predict(batch["image"])
    assert head.training and all(module.training for module in head.modules())
    assert head.network.transform.min_size == (65,) and head.network.transform.max_size == 97
    assert_predictions(predictions, 65, 97)
    metric = head.metric()
    metric.update(predictions, batch)
    result = metric.compute()
    assert {"map", "map_50", "map_75"} <= set(result)


def test_explicit_size_goes_to_torchvision() -> None:
    head = TASKS.build(
        "detection-fasterrcnn-mobilenet-v3-fpn", min_size=48, max_size=72, detector_options=LIGHT
    )
    assert_predictions(head.predict(torch.rand(2, 3, 40, 64)), 40, 64)  # boxes in input pixels
    assert head.network.transform.min_size == (48,) and head.network.transform.max_size == 72


def test_save_prediction_writes_json_and_png(head: TaskHead, tmp_path: Path) -> None:
    prediction = detections([[4, 6, 30, 40], [60, 45, 90, 60]], [1, 7], [0.9, 0.1])
    prediction["image_size"] = (65, 97)
    paths = head.save_prediction(prediction, tmp_path / "sample")
    assert {p.name for p in paths} == {"sample_detections.json", "sample_detections.png"}
    saved = json.loads((tmp_path / "sample_detections.json").read_text())
    assert saved["image_size"] == [65, 97]
    assert [d["label_name"] for d in saved["detections"]] == ["class1", "class7"]
    assert saved["detections"][0]["box"] == [4, 6, 30, 40]
    assert saved["detections"][0]["score"] == pytest.approx(0.9)
    picture = np.array(Image.open(tmp_path / "sample_detections.png"))
    assert picture.shape == (65, 97, 3)
    assert (picture[6, 10:25] != 255).any(), "the confident box is drawn"
    assert (picture[45, 60:91] == 255).all(), "the unconfident box is not"


def test_config_rebuilds_equivalent_head(head: TaskHead) -> None:
    config = head.config()
    assert config["num_classes"] == 91 and config["detector_options"] == HEADS[head.name]
    rebuilt = TASKS.build(head.name, **config)
    assert rebuilt.config() == config and type(rebuilt) is type(head)
    rebuilt.load_state_dict(head.state_dict())
    image = make_batch()["image"]
    for a, b in zip(head.predict(image), rebuilt.predict(image), strict=True):
        assert len(a["boxes"]) > 0
        torch.testing.assert_close(a["boxes"], b["boxes"])
        torch.testing.assert_close(a["scores"], b["scores"])


def test_backbone_weights_give_frozen_batchnorm(tmp_path: Path) -> None:
    source = mobilenet_v3_large()
    path = tmp_path / "mobilenet.pth"
    torch.save(source.state_dict(), path)
    head = TASKS.build(
        "detection-fasterrcnn-mobilenet-v3-fpn", backbone_weights=str(path), detector_options=LIGHT
    )
    body = head.network.backbone.body
    assert isinstance(body["1"].block[0][1], FrozenBatchNorm2d)
    torch.testing.assert_close(body["0"][0].weight, source.features[0][0].weight, rtol=0, atol=0)


def test_resnet50_fpn_v2_loss_and_predict() -> None:
    torch.manual_seed(0)
    head = TASKS.build("detection-fasterrcnn-resnet50-fpn-v2", detector_options=LIGHT)
    head.train()
    assert_loss_backpropagates(head, make_batch())
    assert_predictions(head.predict(make_batch()["image"]), 64, 64)


def test_tiny_fcos_needs_a_multiple_of_32_channels() -> None:
    with pytest.raises(ConfigError, match="multiple of 32"):
        TASKS.build("detection-fcos-tiny", out_channels=48)


def test_tiny_fcos_levels_follow_the_backbone_strides() -> None:
    head = TASKS.build("detection-fcos-tiny", width=8, detector_options=FCOS_LIGHT)
    features = head.network.backbone(torch.rand(1, 3, 64, 96))
    assert [tuple(f.shape[-2:]) for f in features.values()] == [(16, 24), (8, 12)]
    assert all(f.shape[1] == 32 for f in features.values())
    sizes = head.network.anchor_generator.sizes
    assert sizes == tuple((s,) for s in TinyDetectorBackbone.strides)


def test_tiny_fcos_learns_shapesworld_boxes() -> None:
    """A few hundred steps on 16 ShapesWorld images take mAP@50 on them from ~0 to well above."""
    torch.manual_seed(0)
    head = TASKS.build("detection-fcos-tiny", width=8, detector_options={"score_thresh": 0.05})
    data = ShapesWorld(num_samples=16, image_size=64)
    batch = collate([data[i] for i in range(len(data))])

    def map_50() -> float:
        metric = head.metric()
        metric.update(head.predict(batch["image"]), batch)
        return metric.compute()["map_50"]

    before = map_50()
    optimizer = torch.optim.Adam(head.parameters(), lr=4e-3)
    head.train()
    for _ in range(150):
        optimizer.zero_grad()
        head.loss(batch["image"], batch).backward()
        optimizer.step()
    after = map_50()
    assert before < 0.05 and after > 0.5, (before, after)
