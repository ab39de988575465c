"""Training variable-rate layers, and paper 002's standalone construct (entropy model re-fit)."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from hmcodec.checkpoint import load_model
from hmcodec.errors import ConfigError
from hmcodec.train.config import load_config
from hmcodec.train.module import CodecModule
from hmcodec.train.run import train

ENHANCEMENT_RANGE = "model.variable_rate={enhancement: [0.05, 0.8], levels: 3}"
BOTH_RANGES = "model.variable_rate={base: [1.0, 8.0], enhancement: [0.05, 0.8], levels: 3}"


class _Lambdas(L.Callback):
    """Records the λ each training and validation batch used (from the logged values)."""

    def __init__(self) -> None:
        self.train: list[float] = []
        self.val: list[float] = []
        self.original = CodecModule.losses

    def wrap(self, monkeypatch) -> None:
        record = self

        def losses(module, batch, batch_index=0):
            values = record.original(module, batch, batch_index)
            if "lmbda" in values:
                target = record.train if module.training else record.val
                target.append(float(values["lmbda"]))
            return values

        monkeypatch.setattr(CodecModule, "losses", losses)


def test_variable_rate_training_draws_lambda_and_validates_at_the_anchors(
    tmp_path, tiny_training, monkeypatch
):
    lambdas = _Lambdas()
    lambdas.wrap(monkeypatch)
    config = load_config("demo", [*tiny_training, BOTH_RANGES])
    model = load_model(train(config, tmp_path / "run", progress=False))
    # the base stage, then the enhancement stage: 12 training draws each, all in range
    assert len(lambdas.train) == 24
    base, enhancement = lambdas.train[:12], lambdas.train[12:]
    assert all(1.0 <= v <= 8.0 for v in base) and all(0.05 <= v <= 0.8 for v in enhancement)
    assert len(set(base)) == 12  # drawn anew for every batch
    # validation: batch k at anchor k (cyclically), the same operating points every time
    anchors = [1.0, 8**0.5, 8.0]
    assert lambdas.val[:2] == pytest.approx(anchors[:2])
    assert model.codec.rate_ranges()[0].anchors() == pytest.approx(anchors)
    stage = model.provenance["metrics"]["stage1-enhancement"]
    assert "val/lmbda" in stage  # the validation's mean λ is logged beside the loss


def test_gain_units_train_with_their_layer(tmp_path, tiny_training):
    config = load_config("demo", [*tiny_training, BOTH_RANGES])
    model = load_model(train(config, tmp_path / "run", progress=False))
    codec = model.codec
    start = load_config("demo", [*tiny_training, BOTH_RANGES]).model
    from hmcodec.codec.scalable import build_codec

    initial = build_codec(start)
    assert not torch.equal(codec.base_gain.log_gain, initial.base_gain.log_gain)
    assert not torch.equal(codec.enhancement.gain.log_gain, initial.enhancement.gain.log_gain)


def test_a_fixed_base_lambda_holds_the_base_at_one_operating_point(
    tmp_path, tiny_training, monkeypatch
):
    seen: list[float | None] = []
    from hmcodec.codec.scalable import ScalableCodec

    symbols = ScalableCodec.base_symbols

    def spy(self, x, lmbda=None):
        seen.append(lmbda)
        return symbols(self, x, lmbda)

    monkeypatch.setattr(ScalableCodec, "base_symbols", spy)
    stages = (
        "stages=[{stage: base, lmbda: 4.0, lr: 2.0e-3, max_steps: 4}, "
        "{stage: enhancement, lmbda: 0.1, lr: 2.0e-3, max_steps: 4, base_lmbda: 2.0}]"
    )
    config = load_config("demo", [*tiny_training, BOTH_RANGES, stages])
    train(config, tmp_path / "run", progress=False)
    assert seen and set(seen) == {2.0}  # the enhancement stage's frozen base, every batch
    assert len(seen) >= 4


def test_base_lmbda_needs_a_variable_rate_base(tmp_path, tiny_training):
    stages = "stages=[{stage: enhancement, lmbda: 0.1, max_steps: 4, base_lmbda: 2.0}]"
    config = load_config("demo", [*tiny_training, ENHANCEMENT_RANGE, stages])
    with pytest.raises(ConfigError, match="base_lmbda needs a variable-rate base"):
        train(config, tmp_path / "run", progress=False)


# ----------------------------------------------------------------- paper 002's standalone
def test_standalone_refits_only_the_entropy_model_of_a_trained_conditional_layer(
    tmp_path, tiny_training, trained_run
):
    conditional = trained_run / "model.ckpt"
    stages = (
        "stages=[{stage: enhancement, lmbda: 0.1, lr: 2.0e-3, max_steps: 6, "
        f"init_from: {conditional}, enhancement_from: {conditional}}}]"
    )
    config = load_config("demo", [*tiny_training, "model.method=standalone", stages])
    refit = load_model(train(config, tmp_path / "standalone", progress=False)).codec
    original = load_model(conditional).codec
    before, after = original.state_dict(), refit.state_dict()
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    trained = {k for k in changed if not k.endswith(("cdf", "cdf_length", "offset"))}
    assert trained and all(k.startswith("enhancement.entropy.") for k in trained)
    # the side information is h_c(0): the base does not reach the enhancement layer
    y_b = torch.randn(1, original.config.base_channels, 2, 3)
    torch.testing.assert_close(refit.enhancement.side(y_b), refit.enhancement.side(0 * y_b))
    assert not torch.equal(original.enhancement.side(y_b), original.enhancement.side(0 * y_b))


def test_standalone_needs_the_trained_conditional_layer(tmp_path, tiny_training):
    stages = "stages=[{stage: enhancement, lmbda: 0.1, max_steps: 4}]"
    config = load_config("demo", [*tiny_training, "model.method=standalone", stages])
    with pytest.raises(ConfigError, match="give its enhancement stage enhancement_from"):
        train(config, tmp_path / "run", progress=False)


def test_a_base_stage_can_hold_a_variable_rate_base_at_base_lmbda_and_a_later_stage_trains_on(
    tmp_path, tiny_training, monkeypatch
):
    """An image-codec start at one λ_b, then the whole range: two base stages in one run. The
    second also proves that the first's final validation (with CompressAI's masked convolution
    of the context model) leaves weights a later stage can train."""
    lambdas = _Lambdas()
    lambdas.wrap(monkeypatch)
    stages = (
        "stages=[{stage: base, lmbda: 1.0, base_lmbda: 1.0, beta: 1.0, lr: 2.0e-3, max_steps: 4},"
        " {stage: base, lmbda: 4.0, lr: 2.0e-3, max_steps: 4}]"
    )
    config = load_config(
        "demo", [*tiny_training, BOTH_RANGES, stages, "trainer.val_check_interval=3"]
    )
    model = load_model(train(config, tmp_path / "run", progress=False))
    held, drawn = lambdas.train[:4], lambdas.train[4:]
    assert held == [1.0] * 4
    assert len(set(drawn)) == 4 and all(1.0 <= v <= 8.0 for v in drawn)
    context = model.codec.base_entropy.context.weight
    assert not context.is_inference()


def test_an_auxiliary_arm_reuses_a_plain_arms_finished_task_stage(tmp_path, tiny_training):
    """Experiment 4's arms share the task model: the auxiliary arm's run starts from the plain
    arm's finished task stage, whose file has no auxiliary-branch keys; a stage file of
    another architecture is still refused with one sentence."""
    import shutil

    task = "stages=[{stage: task, lr: 2.0e-3, max_steps: 4}]"
    plain = tmp_path / "plain"
    train(load_config("demo", [*tiny_training, task]), plain, progress=False)
    both = (
        "stages=[{stage: task, lr: 2.0e-3, max_steps: 4}, "
        "{stage: base, lr: 2.0e-3, max_steps: 4, freeze_task: true}]"
    )
    aux = tmp_path / "aux"
    aux.mkdir()
    shutil.copytree(plain / "stage0-task", aux / "stage0-task")
    config = load_config("demo", [*tiny_training, both, "model.auxiliary_alpha=0.5"])
    model = load_model(train(config, aux, resume=True, progress=False))
    reused = torch.load(plain / "stage0-task" / "final.pt", weights_only=True)
    key = next(k for k in reused if k.startswith("task."))
    assert torch.equal(model.codec.state_dict()[key], reused[key])  # the shared task model
    other = tmp_path / "other"
    other.mkdir()
    shutil.copytree(plain / "stage0-task", other / "stage0-task")
    wider = load_config("demo", [*tiny_training, both, "model.task.width=12"])
    with pytest.raises(ConfigError, match="does not fit this config's codec"):
        train(wider, other, resume=True, progress=False)
