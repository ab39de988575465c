"""Classification heads: top-1 by hand and the head contract (tiny and ResNet-18)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torchvision.models import resnet50

from hmcodec.tasks import TASKS, TaskHead
from hmcodec.tasks.classification import ClassificationMetric, ResNet50Task
from hmcodec.tasks.weights import torchvision_builder

NUM_CLASSES = 4
HEADS = ["classification-tiny", "classification-resnet18"]


def make_batch(height: int = 64, width: int = 64, batch: int = 2) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "image": torch.rand(batch, 3, height, width, generator=generator),
        "label": torch.tensor([1, 3])[:batch],
    }


def test_top1_by_hand() -> None:
    metric = ClassificationMetric(NUM_CLASSES)
    assert math.isnan(metric.compute()["top1"])
    metric.update([torch.tensor(1), torch.tensor(2)], {"label": torch.tensor([1, 3])})
    metric.update(
        [torch.tensor(0), torch.tensor(0), torch.tensor(3)], {"label": torch.tensor([0, 1, 3])}
    )
    assert metric.compute() == {"top1": pytest.approx(3 / 5)}
    assert metric.primary == "top1" and metric.higher_is_better


@pytest.fixture(scope="module", params=HEADS)
def head(request: pytest.FixtureRequest) -> TaskHead:
    torch.manual_seed(0)
    return TASKS.build(request.param, num_classes=NUM_CLASSES, label_names=list("abcd"))


def test_loss_backpropagates_to_image_like(head: TaskHead) -> None:
    batch = make_batch()
    image_like = batch["image"].clone().requires_grad_(True)
    head.train()
    loss = head.loss(image_like, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert image_like.grad is not None and image_like.grad.abs().sum() > 0


def test_predict_metric_and_save(head: TaskHead, tmp_path: Path) -> None:
    batch = make_batch(65, 97)
    head.train()
    predictions = head.predict(batch["image"])
    assert head.training and len(predictions) == 2
    assert all(p.shape == () and p.dtype == torch.int64 for p in predictions)
    metric = head.metric()
    metric.update(predictions, batch)
    assert 0.0 <= metric.compute()["top1"] <= 1.0
    paths = head.save_prediction(predictions[0], tmp_path / "sample")
    assert [p.name for p in paths] == ["sample_class.json"]
    saved = json.loads(paths[0].read_text())
    assert saved == {"label": int(predictions[0]), "label_name": "abcd"[int(predictions[0])]}


def test_config_rebuilds_equivalent_head(head: TaskHead) -> None:
    rebuilt = TASKS.build(head.name, **head.config())
    assert rebuilt.config() == head.config() and type(rebuilt) is type(head)
    rebuilt.load_state_dict(head.state_dict())
    image = make_batch()["image"]
    for a, b in zip(head.predict(image), rebuilt.predict(image), strict=True):
        assert torch.equal(a, b)


def test_resnet50_uses_torchvision_builder() -> None:
    # Same code path as ResNet-18 (tested above); building ResNet-50 is left to the other tests.
    # The builder imports torchvision when called (start-up), and is torchvision's resnet50.
    assert ResNet50Task.builder.__name__ == "resnet50" and "classification-resnet50" in TASKS
    built = torchvision_builder("torchvision.models", "resnet50")
    assert type(built(weights=None, num_classes=3)) is type(resnet50(weights=None, num_classes=3))


def test_imagenet_label_names_come_from_weights(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pth"
    head = TASKS.build("classification-resnet18", num_classes=1000)
    torch.save(head.network.state_dict(), path)
    loaded = TASKS.build("classification-resnet18", num_classes=1000, weights=str(path))
    assert loaded.config()["weights"] == str(path) and loaded.label_names == []
    torch.testing.assert_close(loaded.network.fc.weight, head.network.fc.weight)
