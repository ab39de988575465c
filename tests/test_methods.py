"""Every enhancement method and entropy model trains a few steps and round-trips real streams."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from hmcodec.bitstream import Stream
from hmcodec.checkpoint import load_model, save_model
from hmcodec.codec.api import decode, encode, latent_crc
from hmcodec.codec.methods import ENHANCEMENTS
from hmcodec.codec.scalable import BASE, ENHANCEMENT, build_codec, pad_to_stride
from hmcodec.data import build_dataset, collate
from hmcodec.entropy import ENTROPY_MODELS
from hmcodec.errors import ConfigError
from hmcodec.train.config import StageConfig
from hmcodec.train.module import CodecModule


@pytest.fixture(scope="module")
def batch() -> dict[str, Any]:
    data = build_dataset({"name": "shapesworld", "image_size": 32, "num_samples": 4})
    return collate([data[i] for i in range(4)])


def train_steps(codec, batch: dict[str, Any], stage: str, steps: int = 3) -> list[float]:
    """A few Adam steps of one stage; returns the losses. (``standalone`` re-fits a trained
    conditional layer, which ``hmcodec.train.run`` loads from ``enhancement_from``; here the
    codec's own layer stands in for it.)"""
    refit = getattr(codec.enhancement, "trains_entropy_only", False)
    stage_config = StageConfig(
        stage=stage,
        lr=1e-3,
        lmbda=1.0,
        beta=0.1,
        schedule="constant",
        warmup_steps=0,
        enhancement_from="conditional.ckpt" if refit else None,
    )
    module = CodecModule(codec, stage_config)
    module.train()
    optimizer = module.configure_optimizers()["optimizer"]
    losses = []
    for _ in range(steps):
        loss = module.losses(batch)["loss"] + module._aux_loss()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def round_trip(tmp_path, codec, image: torch.Tensor):
    model = load_model(save_model(codec, tmp_path / "model.ckpt").path)
    stream = Stream.from_bytes(encode(model, image).to_bytes())
    return model, stream, decode(model, stream, "all")


def encoder_latents(model, image: torch.Tensor) -> dict[int, torch.Tensor]:
    codec = model.codec
    x = pad_to_stride(image[None], codec.stride)
    with torch.no_grad():
        y_b = torch.round(codec.base_analysis(x))
        latents = {BASE: y_b}
        if codec.enhancement.has_layer:
            latents[ENHANCEMENT] = codec.enhancement.compress(x, y_b)[1]
    return latents


@pytest.mark.parametrize("method", ENHANCEMENTS.names())
def test_method_trains_and_round_trips(tmp_path, batch, tiny_codec, method: str) -> None:
    torch.manual_seed(0)
    codec = build_codec(tiny_codec | {"method": method})
    base_before = {k: v.clone() for k, v in codec.base_analysis.state_dict().items()}
    assert all(map(torch.isfinite, map(torch.tensor, train_steps(codec, batch, "base"))))
    base_trained = {k: v.clone() for k, v in codec.base_analysis.state_dict().items()}
    assert any(not torch.equal(base_before[k], base_trained[k]) for k in base_before)
    train_steps(codec, batch, "enhancement")
    # the enhancement stage leaves the base as it was
    for key, value in codec.base_analysis.state_dict().items():
        assert torch.equal(value, base_trained[key])
    image = batch["image"][0][:, :29, :31]  # odd size, padded inside the codec
    model, stream, decoded = round_trip(tmp_path, codec, image)
    expected = encoder_latents(model, image)
    assert stream.layer_indices() == tuple(expected)
    for index, latent in expected.items():
        assert torch.equal(decoded.latents[index], latent)
        assert stream.chunk(index).latent_crc == latent_crc(latent, *image.shape[-2:])
    assert decoded.image.shape == image.shape
    assert decoded.prediction.shape == image.shape[-2:]


ENHANCEMENT_ENTROPY = [n for n in ENTROPY_MODELS.names() if n != "factorized"]


@pytest.mark.parametrize("entropy", ENHANCEMENT_ENTROPY)
def test_conditional_layer_with_each_entropy_model(
    tmp_path, batch, tiny_codec, entropy: str
) -> None:
    """Each Gaussian model takes the side information h_c(ŷ_b) and codes exactly."""
    torch.manual_seed(0)
    codec = build_codec(tiny_codec | {"enhancement_entropy": entropy, "base_entropy": "factorized"})
    train_steps(codec, batch, "enhancement", steps=2)
    image = batch["image"][1]
    model, _, decoded = round_trip(tmp_path, codec, image)
    assert torch.equal(decoded.latents[ENHANCEMENT], encoder_latents(model, image)[ENHANCEMENT])


def test_second_task_as_enhancement(tmp_path, batch, tiny_codec) -> None:
    """A depth base and a segmentation enhancement layer (task-compatible paper)."""
    torch.manual_seed(0)
    config = tiny_codec | {
        "task": {"name": "depth-tiny", "width": 8},
        "secondary_task": {"name": "segmentation-tiny", "num_classes": 6, "width": 8},
    }
    codec = build_codec(config)
    losses = train_steps(codec, batch, "enhancement", steps=4)
    assert losses[-1] < losses[0]
    image = batch["image"][2]
    _, _, decoded = round_trip(tmp_path, codec, image)
    assert decoded.image is None
    assert decoded.secondary_prediction.shape == image.shape[-2:]
    assert decoded.prediction.dtype.is_floating_point  # depth from the base alone


#: the task heads of the auxiliary-branch test: a dense one and a box detector.
AUXILIARY_TASKS = {
    "segmentation": None,  # conftest's tiny segmentation head
    "detection": {"name": "detection-fcos-tiny", "num_classes": 6, "width": 8},
}


@pytest.mark.parametrize("task", list(AUXILIARY_TASKS))
def test_auxiliary_branch_is_training_only(tmp_path, batch, tiny_codec, task) -> None:
    """The auxiliary recognition branch (arXiv 2402.08267) shapes the encoder, then is dropped;
    for detection its FCOS copy reads the boxes of the pixel-shuffled latent's image grid."""
    torch.manual_seed(0)
    head = AUXILIARY_TASKS[task]
    codec = build_codec(tiny_codec | {"auxiliary_alpha": 0.5} | ({"task": head} if head else {}))
    module = CodecModule(codec, StageConfig(stage="base"))
    values = module.losses(batch)
    assert float(values["auxiliary_loss"]) > 0
    codec.base_analysis.zero_grad()
    values["auxiliary_loss"].backward()
    assert codec.base_analysis[0].weight.grad.abs().sum() > 0  # it reaches the encoder
    model = save_model(codec, tmp_path / "model.ckpt")
    assert model.codec.auxiliary is None
    assert not any(
        k.startswith("auxiliary.")
        for k in torch.load(tmp_path / "model.ckpt", weights_only=True)["state_dict"]
    )
    decoded = decode(model, encode(model, batch["image"][0]), "base")
    if task == "segmentation":
        assert decoded.prediction.shape == (32, 32)
    else:
        assert decoded.prediction["image_size"] == (32, 32)
        assert decoded.prediction["boxes"].shape[-1] == 4


def test_auxiliary_branch_leaves_the_other_weights_and_later_draws_alone(tiny_codec) -> None:
    """With the same seed, a codec with the auxiliary branch starts from the same weights as one
    without it, and the random stream after construction is the same: the two runs of an
    auxiliary-loss comparison differ only by the branch."""
    draws = []
    states = []
    for alpha in (0.0, 0.5):
        torch.manual_seed(0)
        codec = build_codec(tiny_codec | {"auxiliary_alpha": alpha})
        draws.append(torch.rand(4))
        states.append(codec.state_dict())
    plain, with_branch = states
    assert set(with_branch) - set(plain) and all(
        k.startswith("auxiliary.") for k in set(with_branch) - set(plain)
    )
    for key, value in plain.items():
        torch.testing.assert_close(with_branch[key], value, rtol=0, atol=0, msg=key)
    torch.testing.assert_close(draws[0], draws[1], rtol=0, atol=0)


def test_beta_scales_the_reward_reaching_the_encoder(batch, tiny_codec) -> None:
    """β = 0 detaches the reconstruction head from the encoder; β > 0 lets a share through."""
    torch.manual_seed(0)
    codec = build_codec(tiny_codec)
    grads = {}
    for beta in (0.0, 0.1, 1.0):
        codec.zero_grad()
        out = codec.forward_base(batch["image"], beta=beta)
        ((out["direct"] - batch["image"]) ** 2).mean().backward()
        grad = codec.base_analysis[0].weight.grad
        grads[beta] = 0.0 if grad is None else grad.abs().sum().item()
        assert codec.recon_head[-1].weight.grad.abs().sum() > 0  # the head always learns
    assert grads[0.0] == 0.0
    assert grads[0.1] == pytest.approx(0.1 * grads[1.0], rel=1e-4)


def test_conditional_synthesis_decodes_with_the_base_and_conditional_does_not(
    batch, tiny_codec
) -> None:
    """x̂ = g_e([ŷ_e, h_c(ŷ_b)]): with ŷ_e fixed, changing ŷ_b changes the conditional-synthesis
    output but not the conditional one (whose synthesis sees ŷ_e only)."""
    x = batch["image"][:1]
    for method, depends in (("conditional-synthesis", True), ("conditional", False)):
        torch.manual_seed(0)
        codec = build_codec(tiny_codec | {"method": method}).eval()
        with torch.no_grad():
            y_b = torch.round(codec.base_analysis(x))
            out = codec.enhancement.forward(x, y_b)
            moved = codec.enhancement._output(out["y_hat"], y_b + 3.0)
        assert (not torch.allclose(moved, out["output"], atol=1e-4)) is depends, method


def test_the_enhancement_layer_can_have_wider_transforms_than_the_base(tiny_codec) -> None:
    narrow = build_codec(tiny_codec)
    wide = build_codec(tiny_codec | {"enhancement_transform": {"width": 40, "blocks": 1}})
    assert wide.enhancement.analysis[0].out_channels == 40
    assert narrow.enhancement.analysis[0].out_channels == narrow.base_analysis[0].out_channels
    assert wide.base_analysis[0].out_channels == narrow.base_analysis[0].out_channels
    with pytest.raises(ConfigError, match="unknown transform preset 'huge'"):
        build_codec(tiny_codec | {"enhancement_transform": "huge"})


def assert_the_auxiliary_loss_trains_the_encoder(codec, batch: dict[str, Any]) -> None:
    """The auxiliary branch's loss reaches the base analysis (the task model stays frozen)."""
    module = CodecModule(codec, StageConfig(stage="base", freeze_task=True))
    values = module.losses(batch)
    codec.base_analysis.zero_grad()
    values["auxiliary_loss"].backward()
    assert codec.base_analysis[0].weight.grad.abs().sum() > 0


def test_a_shallow_auxiliary_branch_is_the_recognisers_first_stages(batch, tiny_codec) -> None:
    """``auxiliary_branch: shallow`` (paper 004): stem, one context stage and the head of the
    task's recogniser, a shortcut past a deeper frozen task model; it still trains the encoder."""
    deep = tiny_codec["task"] | {"context_stages": 8}
    torch.manual_seed(0)
    shallow = build_codec(
        tiny_codec | {"task": deep, "auxiliary_alpha": 0.5, "auxiliary_branch": "shallow"}
    )
    copy = build_codec(tiny_codec | {"task": deep, "auxiliary_alpha": 0.5})
    assert len(shallow.task.network.context) == 8
    assert len(shallow.auxiliary.task.network.context) == 1
    assert len(copy.auxiliary.task.network.context) == 8
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(shallow.auxiliary) < count(copy.auxiliary) / 2
    assert_the_auxiliary_loss_trains_the_encoder(shallow, batch)
    with pytest.raises(ConfigError, match="unknown auxiliary_branch 'deep'"):
        build_codec(tiny_codec | {"auxiliary_alpha": 0.5, "auxiliary_branch": "deep"})
    classification = {"name": "classification-tiny", "num_classes": 6}
    with pytest.raises(ConfigError, match="classification-tiny has no shallow form"):
        build_codec(
            tiny_codec
            | {"task": classification, "auxiliary_alpha": 0.5, "auxiliary_branch": "shallow"}
        )


def test_a_shallow_detection_branch_is_the_detectors_first_stages(batch, tiny_codec) -> None:
    """The tiny FCOS's shallow form (paper 004 with detection): the fine path, one coarse stage
    and one convolution per head branch; its box loss trains the encoder, and the frozen
    detector keeps its full depth."""
    detection = {"name": "detection-fcos-tiny", "num_classes": 6, "width": 8}
    torch.manual_seed(0)
    shallow = build_codec(
        tiny_codec | {"task": detection, "auxiliary_alpha": 0.5, "auxiliary_branch": "shallow"}
    )
    full, branch = shallow.task.network, shallow.auxiliary.task.network
    assert (len(full.backbone.coarse), len(branch.backbone.coarse)) == (3, 1)
    assert (len(full.head.classification_head.conv), len(branch.head.classification_head.conv)) == (
        4 * 3,
        1 * 3,
    )  # each convolution is Conv2d, GroupNorm and ReLU
    assert shallow.auxiliary.task.config()["coarse_stages"] == 1
    assert "coarse_stages" not in shallow.task.config()  # the default architecture is unchanged
    assert_the_auxiliary_loss_trains_the_encoder(shallow, batch)
    with pytest.raises(ConfigError, match="at least one coarse stage"):
        build_codec(tiny_codec | {"task": detection | {"coarse_stages": 0}})
