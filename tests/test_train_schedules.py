"""Learning-rate schedules, the best validation checkpoint as the exported model, resume of the
schedule and of the best-so-far, and the thread policy of training and evaluation."""

from __future__ import annotations

import json
import math

import lightning as L
import pytest
import torch
from conftest import InterruptAt

from hmcodec.checkpoint import load_model
from hmcodec.codec.scalable import build_codec
from hmcodec.errors import ConfigError, HmcodecError
from hmcodec.train.callbacks import training_threads
from hmcodec.train.config import StageConfig, load_config
from hmcodec.train.module import CodecModule, lr_factor
from hmcodec.train.run import MODEL_FILE, TrainingInterrupted, _loader, train

TABLES = ("cdf", "cdf_length", "offset")  # coder tables: built by update() at export only


def _single_stage(tiny_training, stage: str, *more: str):
    return load_config("demo", [*tiny_training, f"stages=[{stage}]", *more])


class _Record(L.Callback):
    """Records, per optimizer step, the learning rate it used and torch's thread count."""

    def __init__(self) -> None:
        self.lr: dict[int, float] = {}
        self.threads: set[int] = set()

    def on_train_batch_start(self, trainer, *args) -> None:
        self.lr[trainer.global_step] = trainer.optimizers[0].param_groups[0]["lr"]
        self.threads.add(torch.get_num_threads())


@pytest.fixture
def fake_val_loss(monkeypatch):
    """``fake_val_loss(function)``: validation reports ``val/loss = function(global_step)``
    (training is untouched), so a test decides which validation is best."""

    def install(function) -> None:
        losses = CodecModule.losses

        def patched(self, batch, batch_index=0):
            values = losses(self, batch, batch_index)
            if not self.training:
                values["loss"] = torch.tensor(float(function(self.trainer.global_step)))
            return values

        monkeypatch.setattr(CodecModule, "losses", patched)

    return install


def _stepped_lrs(stage: StageConfig, codec_factory, steps: int) -> list[float]:
    """The learning rate of each of ``steps`` optimizer steps from ``configure_optimizers``."""
    configured = CodecModule(codec_factory(), stage).configure_optimizers()
    optimizer = configured["optimizer"]
    scheduler = configured["lr_scheduler"]["scheduler"]
    assert configured["lr_scheduler"]["interval"] == "step"
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_cosine_warms_up_linearly_then_decays_to_min_lr(codec_factory):
    stage = StageConfig("base", lr=1e-3, max_steps=100, warmup_steps=10, min_lr=1e-5)
    lrs = _stepped_lrs(stage, codec_factory, 100)
    assert lrs[0] == pytest.approx(1e-4)  # lr / warmup_steps
    assert lrs[4] == pytest.approx(5e-4)
    assert lrs[9] == pytest.approx(1e-3)  # warm-up done
    assert lrs[10] == pytest.approx(1e-3)  # the cosine starts at lr
    middle = 1e-5 + (1e-3 - 1e-5) * 0.5  # halfway through the cosine: (lr + min_lr) / 2
    assert lrs[55] == pytest.approx(middle)
    assert lrs[99] == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 89 / 90)))
    assert lrs[99] < 1.05e-5
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))  # never rises again
    assert lrs == pytest.approx([1e-3 * lr_factor(stage, s) for s in range(100)])


def test_default_schedule_is_cosine_with_a_short_warm_up(codec_factory):
    stage = StageConfig("enhancement", lr=2e-3, max_steps=1000)
    assert stage.schedule == "cosine" and stage.warmup == 50 and stage.final_lr == 2e-5
    assert StageConfig("base", max_steps=100_000).warmup == 1000  # at most 1,000 steps
    lrs = _stepped_lrs(stage, codec_factory, 1000)
    assert lrs[0] == pytest.approx(2e-3 / 50) and lrs[49] == pytest.approx(2e-3)
    assert lrs[-1] == pytest.approx(2e-5, rel=1e-3)


def test_constant_schedule_keeps_lr_after_its_warm_up(codec_factory):
    stage = StageConfig("base", lr=1e-3, max_steps=30, schedule="constant", warmup_steps=4)
    lrs = _stepped_lrs(stage, codec_factory, 30)
    assert lrs[:4] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert lrs[4:] == pytest.approx([1e-3] * 26)
    flat = StageConfig("base", lr=1e-3, max_steps=30, schedule="constant", warmup_steps=0)
    assert _stepped_lrs(flat, codec_factory, 30) == pytest.approx([1e-3] * 30)  # as before


@pytest.mark.parametrize(
    "settings",
    [
        {"schedule": "linear"},
        {"warmup_steps": 12},
        {"warmup_steps": -1},
        {"min_lr": 1.0},
        {"plateau_factor": 1.5},
        {"plateau_patience": -1},
    ],
)
def test_bad_schedule_settings_are_refused(settings):
    with pytest.raises(ConfigError):
        StageConfig("base", lr=1e-3, max_steps=12, **settings)


def test_plateau_reduces_after_patience_validations_in_a_real_run(
    tmp_path, tiny_training, extra_callbacks, fake_val_loss
):
    """val/loss stops improving after the first validation: with patience 1 the rate halves at
    every second validation without improvement (torch's ReduceLROnPlateau), down to min_lr."""
    fake_val_loss(lambda step: 1.0)
    stage = (
        "{stage: base, lmbda: 4.0, beta: 0.1, lr: 1.0e-3, max_steps: 28, schedule: plateau, "
        "warmup_steps: 2, plateau_factor: 0.5, plateau_patience: 1, min_lr: 2.0e-4}"
    )
    config = _single_stage(tiny_training, stage, "trainer.val_check_interval=4")
    record = _Record()
    extra_callbacks.append(record)
    train(config, tmp_path / "run", progress=False)
    lr = record.lr
    assert sorted(lr) == list(range(28))
    assert lr[0] == pytest.approx(5e-4) and lr[1] == pytest.approx(1e-3)  # warm-up
    # validations at 4 (best), 8 (1 bad: within patience), 12 (2 bad: halved), 16, 20 (halved)
    assert [lr[s] for s in (2, 7, 8, 11)] == pytest.approx([1e-3] * 4)
    assert [lr[s] for s in (12, 15, 16, 19)] == pytest.approx([5e-4] * 4)
    assert [lr[s] for s in (20, 27)] == pytest.approx([2.5e-4] * 2)
    last = torch.load(tmp_path / "run/stage0-base/checkpoints/last.ckpt", weights_only=False)
    assert last["global_step"] == 28
    state = last["lr_schedulers"][-1]  # the validation at 28 halved it again: to min_lr
    assert state["num_bad_epochs"] == 0 and state["best"] == pytest.approx(1.0)
    assert last["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(2e-4)


def _exported_matches(model_path, checkpoint_path) -> bool:
    exported = load_model(model_path).codec.state_dict()
    saved = torch.load(checkpoint_path, weights_only=False)["state_dict"]
    saved = {k.removeprefix("codec."): v for k, v in saved.items()}
    keys = [k for k in exported if k.rsplit(".", 1)[-1] not in TABLES]
    assert keys and all(k in saved for k in keys)
    return all(torch.equal(exported[k], saved[k]) for k in keys)


def test_the_best_validation_checkpoint_is_exported_not_the_last_iterate(
    tmp_path, tiny_training, fake_val_loss
):
    fake_val_loss(lambda step: 1.0 if step == 6 else 2.0 + step)  # best at 6, later worse
    stage = "{stage: base, lmbda: 4.0, beta: 0.1, lr: 2.0e-3, max_steps: 12, warmup_steps: 0}"
    config = _single_stage(tiny_training, stage)
    model_path = train(config, tmp_path / "run", progress=False)
    checkpoints = tmp_path / "run" / "stage0-base" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last.ckpt", "step6.ckpt"]
    assert _exported_matches(model_path, checkpoints / "step6.ckpt")
    assert not _exported_matches(model_path, checkpoints / "last.ckpt")  # training moved on
    assert torch.load(checkpoints / "last.ckpt", weights_only=False)["global_step"] == 12

    metrics = load_model(model_path).provenance["metrics"]["stage0-base"]
    assert metrics["best_step"] == 6 and metrics["best_val_loss"] == pytest.approx(1.0)
    assert metrics["last_step"] == 12 and metrics["last_val_loss"] == pytest.approx(14.0)
    assert metrics["steps"] == 12 and metrics["val/loss"] == pytest.approx(1.0)
    final = json.loads((tmp_path / "run" / "stage0-base" / "final.json").read_text())
    assert [v["step"] for v in final["validations"]] == [6, 12]
    # the stage's final.pt (what the next stage starts from) holds the best weights too
    best = torch.load(checkpoints / "step6.ckpt", weights_only=False)["state_dict"]
    final_state = torch.load(tmp_path / "run" / "stage0-base" / "final.pt", weights_only=True)
    assert all(torch.equal(final_state[k.removeprefix("codec.")], v) for k, v in best.items())


def test_an_unvalidated_last_step_is_validated_and_kept_when_best(
    tmp_path, tiny_training, fake_val_loss
):
    """max_steps not a multiple of the interval: the last step is validated after training,
    and being the best there, the last iterate is exported."""
    fake_val_loss(lambda step: 100.0 - step)
    stage = "{stage: base, lmbda: 4.0, beta: 0.1, lr: 2.0e-3, max_steps: 8, warmup_steps: 0}"
    config = _single_stage(tiny_training, stage)
    model_path = train(config, tmp_path / "run", progress=False)
    metrics = load_model(model_path).provenance["metrics"]["stage0-base"]
    assert metrics["best_step"] == 8 == metrics["last_step"]
    assert metrics["best_val_loss"] == pytest.approx(92.0)
    history = load_model(model_path).provenance["validations"]["stage0-base"]
    assert [v["step"] for v in history] == [6, 8]


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_resume_keeps_the_schedule_position_and_the_best_so_far(
    tmp_path, tiny_training, extra_callbacks, fake_val_loss, schedule
):
    """An interrupted and resumed run steps through exactly the learning rates of an
    uninterrupted one, and still exports the best checkpoint from before the interrupt."""
    fake_val_loss(lambda step: 1.0 if step == 3 else 5.0)
    stage = (
        f"{{stage: base, lmbda: 4.0, beta: 0.1, lr: 2.0e-3, max_steps: 15, schedule: {schedule},"
        " warmup_steps: 2, plateau_patience: 0, plateau_factor: 0.5}"
    )
    config = _single_stage(tiny_training, stage, "trainer.val_check_interval=3")

    reference = _Record()
    extra_callbacks[:] = [reference]
    train(config, tmp_path / "reference", progress=False)

    before = _Record()
    extra_callbacks[:] = [before, InterruptAt(8)]
    with pytest.raises(TrainingInterrupted):
        train(config, tmp_path / "run", progress=False)
    after = _Record()
    extra_callbacks[:] = [after]
    model_path = train(config, tmp_path / "run", resume=True, progress=False)

    assert min(after.lr) == 8  # resumed from the interrupt, not from scratch
    assert sorted(before.lr) == list(range(8)) and sorted(after.lr) == list(range(8, 15))
    resumed = {**before.lr, **after.lr}
    assert resumed == pytest.approx(reference.lr)
    if schedule == "plateau":  # halved at the validations of steps 6, 9 and 12
        assert reference.lr[14] == pytest.approx(2e-3 / 8)
    metrics = load_model(model_path).provenance["metrics"]["stage0-base"]
    assert metrics["best_step"] == 3 and metrics["last_step"] == 15
    checkpoints = tmp_path / "run" / "stage0-base" / "checkpoints"
    assert _exported_matches(model_path, checkpoints / "step3.ckpt")
    history = load_model(model_path).provenance["validations"]["stage0-base"]
    assert [v["step"] for v in history] == [3, 6, 9, 12, 15]


def test_early_stopping_ends_the_stage_and_a_resume_keeps_it_finished(
    tmp_path, tiny_training, fake_val_loss, hmcodec_log
):
    fake_val_loss(lambda step: 1.0 if step <= 2 else 3.0)
    stage = "{stage: base, lmbda: 4.0, beta: 0.1, lr: 2.0e-3, max_steps: 40}"
    config = _single_stage(
        tiny_training, stage, "trainer.val_check_interval=2", "trainer.early_stopping_patience=2"
    )
    model_path = train(config, tmp_path / "run", progress=False)
    metrics = load_model(model_path).provenance["metrics"]["stage0-base"]
    # validations at 2 (best), 4 and 6 without improvement: stopped at 6, step 2 exported
    assert metrics["stopped_early"] is True and metrics["last_step"] == 6
    assert metrics["best_step"] == 2
    train(config, tmp_path / "run", resume=True, progress=False)
    skipped = [r.getMessage() for r in hmcodec_log.records if "already finished" in r.getMessage()]
    assert skipped, "an early-stopped stage was trained again on --resume"
    again = load_model(tmp_path / "run" / MODEL_FILE).provenance["metrics"]["stage0-base"]
    assert again["best_step"] == 2 and again["stopped_early"] is True


# ------------------------------------------------------------------------------ thread policy
def test_training_runs_on_one_thread_on_cpu_by_default(
    tmp_path, tiny_training, extra_callbacks, torch_threads
):
    config = _single_stage(tiny_training, "{stage: base, max_steps: 2}")
    assert config.trainer.threads is None and training_threads(config.trainer) == 1
    record = _Record()
    extra_callbacks.append(record)
    with torch_threads(2):
        train(config, tmp_path / "run", progress=False)
        assert torch.get_num_threads() == 2  # restored afterwards
    assert record.threads == {1}
    assert load_model(tmp_path / "run" / MODEL_FILE).provenance["threads"] == 1


def test_train_threads_option_sets_torch_threads_during_training(
    tmp_path, tiny_training, extra_callbacks, run_cli
):
    record = _Record()
    extra_callbacks.append(record)
    settings = [*tiny_training, "stages=[{stage: base, max_steps: 2}]"]
    args = [arg for s in settings for arg in ("--set", s)]
    result = run_cli("train", "demo", "--out", tmp_path / "run", "--threads", 2, *args)
    assert result.code == 0, result.err
    assert record.threads == {2}
    assert torch.get_num_threads() == 1  # run_cli's count, restored
    model = load_model(tmp_path / "run" / MODEL_FILE)
    assert model.provenance["config"]["trainer"]["threads"] == 2

    with pytest.raises(SystemExit) as refused:  # argparse: "--threads: 0 is below 1"
        run_cli("train", "demo", "--out", tmp_path / "bad", "--threads", 0, *args)
    assert refused.value.code == 2
    assert not (tmp_path / "bad").exists()
    bad = run_cli("train", "demo", "--out", tmp_path / "bad", "--set", "trainer.threads=0", *args)
    assert bad.code != 0 and "trainer.threads" in bad.err


def test_eval_threads_option_sets_torch_threads(monkeypatch, run_cli, model_file):
    import hmcodec.evaluate.learned as learned

    seen: list[int] = []

    class _Stop(HmcodecError):
        pass

    def fake_evaluate_models(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise _Stop("stopped")

    monkeypatch.setattr(learned, "evaluate_models", fake_evaluate_models)
    common = [model_file, "--dataset", "shapesworld", "-o", "unused.json"]
    assert run_cli("eval", *common, "--threads", 2).code != 0
    assert run_cli("eval", *common).code != 0
    assert seen == [2, 1]  # --threads N, and 1 by default
    assert torch.get_num_threads() == 1


def test_relative_beta_scales_the_reward_with_the_task_weight(monkeypatch):
    """``beta_relative``: the reward's weight is β·λ_b (the authors' α-form), else β."""
    assert StageConfig(stage="base", lmbda=8.0, beta=0.1).effective_beta == 0.1
    relative = StageConfig(stage="base", lmbda=8.0, beta=0.1, beta_relative=True)
    assert relative.effective_beta == pytest.approx(0.8)
    assert load_config("demo", ["stages.1.beta_relative=true"]).stages[1].effective_beta == (
        pytest.approx(0.1 * 8.0)
    )


def _total_norm(tensors) -> float:
    return float(torch.sqrt(sum((t.double() ** 2).sum() for t in tensors)))


def test_the_quantiles_gradient_stays_out_of_the_clipped_norm(codec_factory):
    """A hyperprior's learned quantiles form their own group, the rate–distortion loss gives them
    no gradient, and clipping scales the rate–distortion gradient alone: summed into one norm, a
    large auxiliary gradient shrank every step of the transforms."""
    stage = StageConfig("enhancement", lr=1e-3, max_steps=10)
    codec = codec_factory(enhancement_entropy="hyperprior-checkerboard")
    module = CodecModule(codec, stage)
    optimizer = module.configure_optimizers()["optimizer"]
    rate_distortion, quantiles = (group["params"] for group in optimizer.param_groups)
    hyper_quantiles = codec.enhancement.entropy.hyper.bottleneck.quantiles
    assert quantiles == [hyper_quantiles]
    assert all(p is not hyper_quantiles for p in rate_distortion)

    module.losses({"image": torch.rand(2, 3, 64, 64)})["loss"].backward()
    assert hyper_quantiles.grad is None or not hyper_quantiles.grad.any()
    gradients = [p.grad.clone() for p in rate_distortion if p.grad is not None]
    norm = _total_norm(gradients)
    assert norm > 1.0  # so that clipping at 1 acts
    (1e6 * module._aux_loss()).backward()  # an auxiliary gradient far above the other
    auxiliary = hyper_quantiles.grad.clone()
    assert _total_norm([auxiliary]) > 100 * norm

    module.configure_gradient_clipping(optimizer, 1.0, "norm")
    clipped = [p.grad for p in rate_distortion if p.grad is not None]
    assert _total_norm(clipped) == pytest.approx(1.0, rel=1e-4)
    assert all(
        torch.allclose(c, g / norm, rtol=1e-4, atol=1e-12)
        for c, g in zip(clipped, gradients, strict=True)
    )
    assert torch.equal(hyper_quantiles.grad, auxiliary)


def test_a_model_without_learned_quantiles_has_one_parameter_group(codec_factory):
    stage = StageConfig("enhancement", lr=1e-3, max_steps=10)
    optimizer = CodecModule(codec_factory(), stage).configure_optimizers()["optimizer"]
    assert [group["name"] for group in optimizer.param_groups] == ["rate-distortion"]


def test_a_checkpoint_with_other_parameter_groups_is_refused_with_a_sentence(codec_factory):
    stage = StageConfig("enhancement", lr=1e-3, max_steps=10)
    module = CodecModule(codec_factory(enhancement_entropy="hyperprior"), stage)
    before = {"optimizer_states": [{"state": {}, "param_groups": [{"params": []}]}]}
    with pytest.raises(ConfigError, match="1 parameter group.*trains 2.*cannot resume"):
        module.on_load_checkpoint(before)
    module.on_load_checkpoint({"optimizer_states": [{"param_groups": [{}, {}]}]})  # accepted


def test_training_clips_the_rate_distortion_gradient_without_the_quantiles(
    tiny_training, tmp_path, monkeypatch
):
    """Lightning's loop calls the module's clipping: every clipped set of a hyperprior run
    leaves out the quantiles, which still train (the auxiliary loss moves them)."""
    clipped: list[set[int]] = []
    clip = torch.nn.utils.clip_grad_norm_

    def recording(parameters, *args, **kwargs):
        parameters = list(parameters)
        clipped.append({id(p) for p in parameters})
        return clip(parameters, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording)
    config = _single_stage(
        tiny_training,
        "{stage: enhancement, lr: 0.01, max_steps: 3}",
        "model.enhancement_entropy=hyperprior",
    )
    codec = build_codec(config.model)
    quantiles = codec.enhancement.entropy.hyper.bottleneck.quantiles
    before = quantiles.detach().clone()
    module = CodecModule(codec, config.stages[0])
    trainer = L.Trainer(
        max_steps=3,
        gradient_clip_val=1.0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(module, _loader(config.data["train"], 2, 0, shuffle=True))
    assert len(clipped) == 3
    assert all(id(quantiles) not in ids and ids for ids in clipped)
    assert not torch.equal(quantiles.detach(), before)
