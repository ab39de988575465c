"""Pretrained-weight loading (local files, torchvision enum names) without any download."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18
from torchvision.ops.misc import FrozenBatchNorm2d

from hmcodec.errors import ModelError
from hmcodec.tasks.weights import (
    ImageNetNormalize,
    evaluating,
    freeze_batchnorm,
    load_weights,
    weight_categories,
)


def small_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))


def assert_same_state(a: nn.Module, b: nn.Module) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


@pytest.mark.parametrize("wrap", [None, "state_dict", "model", "module."])
def test_local_file_round_trip(tmp_path: Path, wrap: str | None) -> None:
    source = small_model()
    state = source.state_dict()
    if wrap == "module.":
        saved: object = {f"module.{key}": value for key, value in state.items()}
    elif wrap is not None:
        saved = {wrap: state, "epoch": 3}
    else:
        saved = state
    path = tmp_path / "weights.pth"
    torch.save(saved, path)
    target = small_model()
    assert load_weights(target, str(path)) is target
    assert_same_state(source, target)


def test_none_keeps_random_init() -> None:
    model = small_model()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    load_weights(model, None)
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())


def test_missing_file_sentence(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"weight file .*nothing\.pth.* does not exist"):
        load_weights(small_model(), str(tmp_path / "nothing.pth"))


def test_unreadable_file_sentence(tmp_path: Path) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="could not be read"):
        load_weights(small_model(), str(path))


def test_mismatched_keys_sentence(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save(nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(ModelError, match="do not match the model"):
        load_weights(small_model(), str(path))
    torch.save(nn.Sequential(nn.Conv2d(3, 5, 3)).state_dict(), path)  # same key, other shape
    with pytest.raises(ModelError, match="do not match the model"):
        load_weights(nn.Sequential(nn.Conv2d(3, 4, 3)), str(path))


@pytest.mark.parametrize(
    "name", ["NoSuch_Weights.IMAGENET1K_V1", "ResNet18_Weights.NO_SUCH", "resnet18"]
)
def test_unknown_enum_name_sentence(name: str) -> None:
    with pytest.raises(ModelError, match="unknown torchvision weights"):
        load_weights(small_model(), name)


def test_enum_name_loads_torchvision_state(monkeypatch: pytest.MonkeyPatch) -> None:
    source = resnet18()
    calls = []

    def fake_state_dict(self: ResNet18_Weights, **kwargs: object) -> dict:
        calls.append((self, kwargs))
        return source.state_dict()

    monkeypatch.setattr(ResNet18_Weights, "get_state_dict", fake_state_dict)
    target = load_weights(resnet18(), "ResNet18_Weights.IMAGENET1K_V1")
    assert calls[0][0] is ResNet18_Weights.IMAGENET1K_V1
    assert_same_state(source, target)


def test_download_failure_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(self: ResNet18_Weights, **kwargs: object) -> dict:
        raise URLError("no network")

    monkeypatch.setattr(ResNet18_Weights, "get_state_dict", offline)
    with pytest.raises(ModelError, match="could not be downloaded.*local path"):
        load_weights(resnet18(), "ResNet18_Weights.IMAGENET1K_V1")


def test_weight_categories_need_no_download() -> None:
    names = weight_categories("DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1")
    assert names is not None and len(names) == 21 and names[0] == "__background__"
    assert weight_categories(None) is None
    assert weight_categories("some/dir/file.pth") is None


def test_freeze_batchnorm_keeps_eval_output() -> None:
    model = small_model()
    model[1].running_mean.uniform_(-1, 1)
    model[1].running_var.uniform_(0.5, 2)
    x = torch.rand(2, 3, 8, 8)
    expected = model.eval()(x)
    freeze_batchnorm(model)
    assert isinstance(model[1], FrozenBatchNorm2d)
    torch.testing.assert_close(model(x), expected)


def test_evaluating_restores_each_flag() -> None:
    model = small_model().train()
    model[1].eval()
    with evaluating(model):
        assert not any(module.training for module in model.modules())
    assert model.training and model[0].training and not model[1].training


def test_imagenet_normalize_is_not_in_state_dict() -> None:
    normalize = ImageNetNormalize()
    assert normalize.state_dict() == {}
    out = normalize(torch.full((1, 3, 2, 2), 0.485))
    assert torch.allclose(out[0, 0], torch.zeros(2, 2), atol=1e-6)
