"""The three coding-for-machines paradigms of Harell et al. (full-input, model splitting, direct
coding) train a few steps from their configs in configs/machines through ``hmcodec train``'s
pipeline, save model files, and round-trip real streams: decoding the bytes gives the encoder's
latents and the encoder-side prediction at any image size. The decoder of split and direct codecs
never needs the front of the task model; a frozen task model stays the pretrained one."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import hmcodec.machines  # noqa: F401  (registers the architectures and heads)
from hmcodec.bitstream import Stream
from hmcodec.checkpoint import LoadedModel, load_model
from hmcodec.codec.api import decode, encode
from hmcodec.codec.scalable import BASE, pad_to_stride
from hmcodec.codec.split import SplitCodec, SplitOptions
from hmcodec.errors import ConfigError, StreamError
from hmcodec.evaluate.learned import evaluate_models
from hmcodec.machines.tasks import FullInputTask, build_pretrained_task, load_task_weights
from hmcodec.tasks.weights import evaluating
from hmcodec.train.config import load_config
from hmcodec.train.run import train

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "machines"
TINY = [
    "data.batch_size=2",
    "data.train.image_size=32",
    "data.val.image_size=32",
    "data.val.num_samples=2",
    "trainer.limit_val_batches=1",
    "trainer.val_check_interval=3",
    "trainer.log_every_n_steps=1",
    "trainer.progress_bar=false",
    "stages.0.max_steps=3",
    "sweep=null",
    "model.base_channels=8",
]
#: paradigm config → its extra overrides (no pretrained weights or codecs, a narrow task model,
#: 3 steps in the second stage of the two-stage sweep).
TASK = ["model.task.weights=null", "model.task.width=8"]
FRESH = "stages.0.init_from=null"
PARADIGMS = {
    "full_input_unsupervised": [
        "model.task.weights=null",
        "model.task.task.width=8",
        "stages.1.max_steps=3",
    ],
    "full_input_supervised": ["model.task.weights=null", "model.task.task.width=8", FRESH],
    "split_pretrain": TASK,
    "split": [*TASK, FRESH],
    "direct_pretrain_layer2": TASK,
    "direct_distill_layer2": [*TASK, FRESH],
    "direct_distill_layer4": [*TASK, FRESH],
    "direct_distill_output": [*TASK, FRESH],
}
SIZES = [(32, 32), (37, 53)]


def _train(name: str, out: Path, *overrides: str) -> Path:
    config = load_config(CONFIGS / f"{name}.yaml", [*TINY, *overrides])
    return train(config, out, progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, torch_threads) -> dict[str, LoadedModel]:
    """Every paradigm trained 3 steps at 32×32, loaded back from its model file."""
    root = tmp_path_factory.mktemp("machines")
    with torch_threads(1):
        return {
            name: load_model(_train(name, root / name, *overrides))
            for name, overrides in PARADIGMS.items()
        }


@pytest.fixture(scope="module")
def pretrained_task(tmp_path_factory, torch_threads) -> Path:
    """A task model file from task_model.yaml (stage task, 3 steps)."""
    out = tmp_path_factory.mktemp("task_model") / "run"
    with torch_threads(1):
        return _train("task_model", out, "model.task.width=8")


def test_the_paradigms_build_their_architectures(trained):
    assert type(trained["split"].codec).__name__ == "SplitCodec"
    assert type(trained["direct_distill_output"].codec).__name__ == "DirectFeaturesCodec"
    full = trained["full_input_supervised"].codec
    assert isinstance(full.task, FullInputTask) and full.task.objective == "task"
    assert trained["full_input_unsupervised"].codec.task.objective == "reconstruction"
    for model in trained.values():
        assert model.codec.layer_count == 1 and model.codec.stride == 16


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(PARADIGMS))
def test_streams_round_trip_to_the_encoders_latents_and_prediction(trained, shapes, name, size):
    model = trained[name]
    codec = model.codec
    height, width = size
    image = shapes(height, width, index=3)
    data = encode(model, image).to_bytes()
    decoded = decode(model, Stream.from_bytes(data), "base")
    with torch.no_grad():
        y_hat = torch.round(codec.base_analysis(pad_to_stride(image[None], codec.stride)))
        task_input = codec.base_synthesis(y_hat)[..., :height, :width]
        expected = codec.task.predict(task_input)[0]
    assert torch.equal(decoded.latents[BASE], y_hat)
    assert decoded.prediction.shape == (height, width)
    assert torch.equal(decoded.prediction, expected)
    assert len(data) > 0


@pytest.mark.parametrize("name", ["split", "direct_distill_layer2", "direct_distill_output"])
def test_the_decoder_never_needs_the_front_of_the_task_model(trained, shapes, name):
    model = trained[name]
    image = shapes(37, 53, index=1)
    stream = Stream.from_bytes(encode(model, image).to_bytes())
    reference = decode(model, stream, "base")

    decoder = copy.deepcopy(model.codec)
    front = decoder.task.network.front
    with torch.no_grad():
        for tensor in [*front.parameters(), *front.buffers()]:
            tensor.fill_(float("nan") if tensor.is_floating_point() else -1)

    def no_front(*args, **kwargs):
        raise AssertionError("the decoder ran the front of the task model")

    front.forward = no_front  # type: ignore[method-assign]
    decoded = decode(LoadedModel(decoder, model.fingerprint), stream, "base")
    assert torch.equal(decoded.latents[BASE], reference.latents[BASE])
    assert torch.equal(decoded.prediction, reference.prediction)
    if name != "split":  # direct coding: the encoder does not need it either
        assert encode(LoadedModel(decoder, model.fingerprint), image).to_bytes() == (
            stream.to_bytes()
        )


def test_decoding_all_layers_of_a_machines_only_codec_gives_the_prediction(trained, shapes):
    """A split codec has only the base layer: "all" decodes it and gives no image."""
    model = trained["split"]
    stream = encode(model, shapes(32, 32))
    everything, base = decode(model, stream, "all"), decode(model, stream, "base")
    assert everything.layers == (BASE,) and everything.image is None
    assert torch.equal(everything.prediction, base.prediction)
    with pytest.raises(StreamError, match="--layers base"):
        model.codec.enhancement.decompress([], base.latents[BASE])


def test_a_frozen_task_model_stays_the_pretrained_one(pretrained_task, tmp_path):
    weights = f"model.task.weights={pretrained_task}"
    frozen = _train("split_pretrain", tmp_path / "frozen", weights, "model.task.width=8")
    free = _train(
        "split_pretrain",
        tmp_path / "free",
        weights,
        "model.task.width=8",
        "model.options.freeze_task=false",
    )
    spec = {"name": "segmentation-resnet-tiny", "num_classes": 6, "width": 8}
    original = build_pretrained_task(spec | {"weights": str(pretrained_task)}).state_dict()
    after = load_task_weights(build_pretrained_task(spec), str(frozen)).state_dict()
    changed = load_task_weights(build_pretrained_task(spec), str(free)).state_dict()
    assert all(torch.equal(original[k], after[k]) for k in original)
    assert not all(torch.equal(original[k], changed[k]) for k in original)
    # and the pretrained model is what the split codec starts from
    codec = load_model(frozen).codec
    assert codec.task.label_names == load_model(pretrained_task).codec.task.label_names


def test_distillation_needs_a_frozen_task_and_known_options():
    with pytest.raises(ConfigError, match="freeze_task"):
        SplitOptions.from_dict({"cut": "layer2", "objective": "distill", "freeze_task": False})
    with pytest.raises(ConfigError, match="unknown: colour"):
        SplitOptions.from_dict({"cut": "layer2", "colour": 1})
    with pytest.raises(ConfigError, match="needs 'cut'"):
        SplitOptions.from_dict({})


def test_distillation_losses_are_measured_at_their_point(trained):
    x = torch.rand(2, 3, 32, 32)
    batch = {"image": x, "segmentation": torch.randint(0, 6, (2, 32, 32))}
    for name in ("direct_distill_layer2", "direct_distill_layer4", "direct_distill_output"):
        codec: SplitCodec = copy.deepcopy(trained[name].codec).train()
        codec.task.requires_grad_(False)  # as the base stage freezes it
        statistics = copy.deepcopy(codec.task.state_dict())
        out = codec.forward_base(x)
        loss = codec.task.loss(out["image_like"], batch)
        loss.backward()
        assert loss > 0 and codec.base_synthesis.transform[0].weight.grad is not None
        assert all(p.grad is None for p in codec.task.parameters())
        for key, value in codec.task.state_dict().items():  # BatchNorm statistics kept
            assert torch.equal(value, statistics[key]), key
        # on the uncompressed image's own features the distillation loss is zero
        with torch.no_grad(), evaluating(codec.task):
            cells = codec.task.network.front(x)
        grid = cells.repeat_interleave(4, -2).repeat_interleave(4, -1)
        assert float(codec.task.loss(grid, batch)) < 1e-10


def test_hmcodec_eval_scores_the_paradigms_from_streams(trained):
    dataset = {"name": "shapesworld", "split": "test", "image_size": 32, "num_samples": 2}
    curve = evaluate_models(
        [trained["split"], trained["full_input_supervised"]], dataset, layers="base", name="x"
    )
    assert len(curve) == 2
    assert all(b > 0 for b in curve.bpp)
    assert {"miou", "uncompressed_miou"} <= set(curve.results)
    # All layers of a machines-only stream are its base layer: the same rate and scores.
    everything = evaluate_models([trained["split"]], dataset, layers="all", name="x")
    assert everything.bpp == curve.bpp[:1]
    assert everything.results["miou"] == curve.results["miou"][:1]


def test_the_supervised_full_input_codec_starts_from_the_unsupervised_one(trained, tmp_path):
    unsupervised = trained["full_input_unsupervised"]
    init = f"stages.0.init_from={unsupervised.path}"
    overrides = ["model.task.weights=null", "model.task.task.width=8", init]
    supervised = load_model(_train("full_input_supervised", tmp_path / "sup", *overrides)).codec
    before, after = unsupervised.codec.state_dict(), supervised.state_dict()
    assert supervised.task.objective == "task"
    task_keys = [k for k in before if k.startswith("task.")]
    assert task_keys and all(torch.equal(before[k], after[k]) for k in task_keys)  # frozen
    assert not torch.equal(before["base_analysis.0.weight"], after["base_analysis.0.weight"])
