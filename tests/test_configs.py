"""Every experiment config in configs/ loads, validates and (at CPU scale) builds its model."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmcodec.codec.scalable import ScalableCodec
from hmcodec.errors import ConfigError
from hmcodec.train.config import load_config
from hmcodec.train.sweep import sweep_points

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"))
CPU_SCALE = ("shapesworld", "camvid", "coco128")


def test_there_are_configs_for_every_method() -> None:
    methods = {load_config(path).model.method for path in CONFIGS}
    assert {"conditional", "residual", "standalone", "simulcast", "direct"} <= methods


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_loads_and_builds(path: Path) -> None:
    config = load_config(path)
    assert config.stages
    if config.sweep:
        points = sweep_points(config)
        lmbdas = [p.stages[int(config.sweep.get("stage", -1))].lmbda for _, p in points]
        assert lmbdas == sorted(lmbdas, reverse=True)  # lowest compression first
    if path.parent.name in CPU_SCALE:
        codec = ScalableCodec(config.model)
        assert codec.layer_count == (1 if config.model.method == "direct" else 2)


def test_overrides_reach_the_config() -> None:
    path = CONFIGS[0]
    config = load_config(path, ["stages.0.lr=0.5", "model.method=residual"])
    assert config.stages[0].lr == 0.5 and config.model.method == "residual"


@pytest.mark.parametrize(
    "override",
    ["model.method=nope", "stages.0.lr=-1", "model.unknown=1", "stages.0.stage=nope", "novalue"],
)
def test_bad_overrides_are_config_errors(override: str) -> None:
    with pytest.raises(ConfigError):
        load_config(CONFIGS[0], [override])


def test_inheritance_merges_mappings(tmp_path: Path) -> None:
    (tmp_path / "parent.yaml").write_text(load_config_text())
    (tmp_path / "child.yaml").write_text("inherit: parent.yaml\nmodel: {method: residual}\n")
    config = load_config(tmp_path / "child.yaml")
    assert config.model.method == "residual"
    assert config.model.base_channels == 16  # kept from the parent
    (tmp_path / "loop.yaml").write_text("inherit: loop.yaml\n")
    with pytest.raises(ConfigError, match="inherits from itself"):
        load_config(tmp_path / "loop.yaml")


def load_config_text() -> str:
    return (
        "model: {transform: tiny, base_channels: 16, method: conditional}\n"
        "data: {train: {name: shapesworld}}\n"
        "stages: [{stage: base}]\n"
    )
