"""Training: a tiny two-stage run exports a model that codes, the enhancement stage leaves the
base untouched, an interrupted run resumes from its checkpoint, and the demo writes its files."""

from __future__ import annotations

import json
import signal

import lightning as L
import numpy as np
import pytest
import torch
from conftest import InterruptAt
from PIL import Image

from hmcodec.bitstream import Stream, read_stream
from hmcodec.checkpoint import load_model
from hmcodec.codec.api import decode, encode
from hmcodec.codec.scalable import BASE, ENHANCEMENT
from hmcodec.errors import ConfigError, HmcodecError
from hmcodec.train import run
from hmcodec.train.config import load_config
from hmcodec.train.run import MODEL_FILE, TrainingInterrupted, train
from hmcodec.train.sweep import sweep_points, train_sweep

BASE_PREFIXES = ("base_analysis.", "base_entropy.", "base_synthesis.", "task.", "recon_head.")
TABLES = ("cdf", "cdf_length", "offset")  # coder tables: built by update() at export only


def _weights(state: dict[str, torch.Tensor], base: bool) -> dict[str, torch.Tensor]:
    return {
        k: v
        for k, v in state.items()
        if k.startswith(BASE_PREFIXES) == base and k.rsplit(".", 1)[-1] not in TABLES
    }


def test_training_writes_a_model_that_codes(trained_run, shapes):
    model = load_model(trained_run / MODEL_FILE)
    for index, stage in enumerate(("base", "enhancement")):
        stage_dir = trained_run / f"stage{index}-{stage}"
        assert (stage_dir / "final.pt").is_file()
        assert json.loads((stage_dir / "final.json").read_text())["steps"] == 12
        assert model.provenance["metrics"][stage_dir.name]["steps"] == 12
    assert model.provenance["config"]["stages"][0]["max_steps"] == 12

    image = shapes(40, 72)
    stream = Stream.from_bytes(encode(model, image).to_bytes())
    assert stream.layer_indices() == (BASE, ENHANCEMENT)
    decoded = decode(model, stream, "all")
    assert decoded.image.shape == (3, 40, 72)
    assert decoded.prediction.shape == (40, 72)


def test_enhancement_stage_leaves_the_base_unchanged(trained_run):
    after_base = torch.load(trained_run / "stage0-base" / "final.pt", weights_only=True)
    final = load_model(trained_run / MODEL_FILE).codec.state_dict()
    before, after = _weights(after_base, base=True), _weights(final, base=True)
    assert before.keys() == after.keys() and before
    assert any(k.endswith("running_mean") for k in before)  # BatchNorm statistics too
    for name, tensor in before.items():
        assert torch.equal(after[name], tensor), f"{name} changed in the enhancement stage"
    # ...while the enhancement layer did train (else the comparison proves nothing)
    enhancement_before = _weights(after_base, base=False)
    enhancement_after = _weights(final, base=False)
    assert any(not torch.equal(enhancement_after[k], v) for k, v in enhancement_before.items())


def test_training_into_a_non_empty_folder_needs_resume(tmp_path, tiny_training):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="--resume"):
        train(load_config("demo", tiny_training), tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "keep me"


class _FirstStep(L.Callback):
    """Records the global step training starts from (after any checkpoint was restored)."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_train_start(self, trainer, *args) -> None:
        self.steps.append(trainer.global_step)


def test_interrupted_training_resumes_from_its_checkpoint(
    tmp_path, tiny_training, monkeypatch, hmcodec_log, extra_callbacks
):
    single_stage = "stages=[{stage: base, lmbda: 4.0, beta: 0.1, lr: 2.0e-3, max_steps: 20}]"
    config = load_config("demo", [*tiny_training, single_stage, "trainer.val_check_interval=5"])
    assert [s.max_steps for s in config.stages] == [20]
    out = tmp_path / "run"
    extra_callbacks.append(InterruptAt(12))
    sigint = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match="--resume") as interrupted:
        train(config, out, progress=False)
    assert isinstance(interrupted.value, HmcodecError) and interrupted.value.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is sigint  # Lightning's SIG_IGN undone
    assert not (out / MODEL_FILE).exists()
    checkpoints = out / "stage0-base" / "checkpoints"
    saved = {
        p.name: torch.load(p, weights_only=False)["global_step"] for p in checkpoints.iterdir()
    }
    assert max(saved.values()) >= 10, saved

    first_step = _FirstStep()
    extra_callbacks[:] = [first_step]
    model_path = train(config, out, resume=True, progress=False)
    print(f"\ncheckpoints after the interrupt: {saved}; resumed at step {first_step.steps}")
    assert len(first_step.steps) == 1 and first_step.steps[0] >= 10, first_step.steps
    resumed = [r.getMessage() for r in hmcodec_log.records if "resuming stage 0" in r.getMessage()]
    assert len(resumed) == 1, resumed
    assert json.loads((out / "stage0-base" / "final.json").read_text())["steps"] == 20
    assert load_model(model_path).provenance["metrics"]["stage0-base"]["steps"] == 20


def test_demo_writes_every_promised_file(tmp_path, capsys):
    from hmcodec.demo import run_demo

    held_back = {"name": "shapesworld", "split": "test", "image_size": 64, "num_samples": 2}
    stages = len(load_config("demo").stages)  # every stage of the packaged demo, 8 steps each
    overrides = [f"stages.{i}.max_steps=8" for i in range(stages)]
    overrides += ["data.batch_size=4", "trainer.limit_val_batches=1"]
    summary = run_demo(tmp_path, overrides=overrides, progress=False, held_back=held_back)
    printed = capsys.readouterr().out

    promised = [
        "model.ckpt",
        "example.png",
        "example.hmc",
        "example_base.hmc",
        "example_base_segmentation.png",
        "example_base_labels.png",
        "example_reconstruction.png",
        "summary.json",
    ]
    for name in promised:
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(summary))

    model = load_model(tmp_path / "model.ckpt")
    full, base = read_stream(tmp_path / "example.hmc"), read_stream(tmp_path / "example_base.hmc")
    assert full.layer_indices() == (BASE, ENHANCEMENT) and base.layer_indices() == (BASE,)
    example = summary["example"]
    pixels = 64 * 64
    for chunk in full.chunks:
        assert example["bytes"][f"layer{chunk.index}"] == chunk.payload_bytes
        assert example["bpp"][f"layer{chunk.index}"] == pytest.approx(
            chunk.payload_bytes * 8 / pixels
        )
    assert example["bytes"]["total"] == len(full.to_bytes())
    assert example["bpp"]["total"] == pytest.approx(len(full.to_bytes()) * 8 / pixels)
    assert example["psnr"] > 0

    held = summary["held_back"]
    assert held["images"] == 2
    for key in ("bpp", "bpp_base", "bpp_enhancement", "bpp_estimated", "psnr", "miou"):
        assert key in held, key
    for key in ("bpp_estimated_base", "bpp_estimated_enhancement", "pixel_accuracy"):
        assert key in held, key

    for name in ("example.png", "example_reconstruction.png", "example_base_segmentation.png"):
        with Image.open(tmp_path / name) as png:
            assert png.size == (64, 64), name
    labels = torch.from_numpy(np.array(Image.open(tmp_path / "example_base_labels.png")))
    assert torch.equal(labels.long(), decode(model, base, "base").prediction.long())
    assert "hmcodec demo" in printed and "mIoU" in printed


def test_a_frozen_task_model_is_untouched_by_the_base_stage(tmp_path, tiny_training):
    """`freeze_task`: the task model trained on uncompressed images keeps every weight and its
    BatchNorm statistics while the base layer trains through it (validation included)."""
    stages = (
        "stages=[{stage: task, lr: 0.002, max_steps: 4},"
        " {stage: base, lr: 0.002, max_steps: 6, freeze_task: true}]"
    )
    config = load_config("demo", [*tiny_training, stages, "trainer.val_check_interval=2"])
    train(config, tmp_path, progress=False)
    after_task = torch.load(tmp_path / "stage0-task" / "final.pt", weights_only=True)
    after_base = torch.load(tmp_path / "stage1-base" / "final.pt", weights_only=True)
    task_keys = [k for k in after_task if k.startswith("task.")]
    assert any("running_mean" in k for k in task_keys)
    for key in task_keys:
        assert torch.equal(after_task[key], after_base[key]), key
    moved = [k for k in after_task if k.startswith("base_analysis.")]
    assert any(not torch.equal(after_task[k], after_base[k]) for k in moved)


@pytest.mark.parametrize("warm_start", [False, True])
def test_sweep_points_share_earlier_stages_and_start_as_configured(
    tmp_path, tiny_training, warm_start
):
    """An RD sweep trains the stages before the swept one once; with ``warm_start: false`` every
    point trains the swept stage from that shared state, exactly like a run of its own, and with
    warm starts the later points begin from the first point instead (and so end elsewhere)."""
    stages = (
        "stages=[{stage: task, lr: 0.002, max_steps: 3},"
        " {stage: base, lmbda: 4.0, lr: 0.002, max_steps: 4}]"
    )
    sweep = f"sweep={{stage: 1, lmbda: [4.0, 1.0], warm_start: {str(warm_start).lower()}}}"
    config = load_config("demo", [*tiny_training, stages, sweep])
    models = train_sweep(config, tmp_path / "sweep", progress=False)
    assert [m.parent.name for m in models] == ["lmbda-4", "lmbda-1"]
    assert (tmp_path / "sweep" / "lmbda-4" / "stage0-task").is_dir()
    assert not (tmp_path / "sweep" / "lmbda-1" / "stage0-task").exists()  # shared, not retrained

    alone = load_config("demo", [*tiny_training, stages, "stages.1.lmbda=1.0"])
    shared = {0: tmp_path / "sweep" / "lmbda-4" / "stage0-task"}
    train(alone, tmp_path / "alone", progress=False, shared=shared)
    swept = torch.load(tmp_path / "sweep" / "lmbda-1" / "stage1-base" / "final.pt")
    reference = torch.load(tmp_path / "alone" / "stage1-base" / "final.pt")
    same = all(torch.equal(swept[k], reference[k]) for k in reference)
    assert same is not warm_start


def test_a_sweep_with_unknown_keys_is_refused(tiny_training):
    config = load_config("demo", [*tiny_training, "sweep={stage: 1, lmbda: [1, 2], warm: no}"])
    with pytest.raises(ConfigError, match="unknown sweep key"):
        sweep_points(config)


def test_enhancement_from_copies_a_matching_enhancement_layer(trained_run, tiny_training):
    """``enhancement_from``: the stage starts from another model's enhancement layer (weights
    equal, the base untouched); a layer of another shape is refused with one sentence."""
    source = load_model(trained_run / MODEL_FILE)
    config = load_config("demo", tiny_training)
    codec = run.build_codec(config.model)
    base_before = _weights(codec.state_dict(), base=True)
    run._load_enhancement(codec, source)
    state, wanted = codec.state_dict(), source.codec.state_dict()
    assert all(torch.equal(state[k], wanted[k]) for k in wanted if k.startswith("enhancement."))
    assert all(torch.equal(state[k], v) for k, v in base_before.items())
    other = load_config("demo", [*tiny_training, "model.enhancement_channels=24"])
    with pytest.raises(ConfigError, match="no enhancement layer matching"):
        run._load_enhancement(run.build_codec(other.model), source)
