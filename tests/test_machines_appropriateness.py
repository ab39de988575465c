"""Task appropriateness ρ (Harell et al., Figs. 2–3): k-means in torch is deterministic and finds
separated clusters; ρ = I(Q;T)/H(T) is 1 for cells that determine the label and 0 for
independent ones; ``hmcodec analyze appropriateness`` (through an argparse parser and
``register``) prints the table and writes JSON, markdown and the plot, for a named head and for
an hmcodec model file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

import hmcodec.machines  # noqa: F401  (registers the heads)
from hmcodec.checkpoint import save_model
from hmcodec.cli.analyze import register
from hmcodec.codec.scalable import build_codec
from hmcodec.errors import ConfigError
from hmcodec.machines.appropriateness import appropriateness, information, kmeans
from hmcodec.machines.tasks import MODEL_FORMAT, load_task_weights
from hmcodec.tasks import build_task


def _blobs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = torch.arange(3).repeat_interleave(200)
    return centres[labels] + 0.5 * torch.randn(600, 2, generator=generator), labels


def test_kmeans_finds_separated_clusters_deterministically():
    x, labels = _blobs()
    centroids, cells = kmeans(x, 3, seed=0)
    again = kmeans(x, 3, seed=0)[1]
    assert torch.equal(cells, again)
    assert information(cells, labels)["rho"] == pytest.approx(1.0)
    assert sorted(torch.bincount(cells).tolist()) == [200, 200, 200]
    assert centroids.shape == (3, 2)


def test_rho_is_zero_for_cells_independent_of_the_labels():
    cells = torch.arange(4).repeat(100)  # 0,1,2,3,0,1,...
    labels = torch.arange(2).repeat_interleave(200)  # half 0, half 1
    values = information(cells, labels)
    assert values["rho"] == pytest.approx(0.0, abs=1e-12)
    assert values["label_entropy"] == pytest.approx(1.0)
    assert values["purity"] == pytest.approx(0.5)


def test_rho_of_a_layer_reads_segmentation_labels_at_its_positions():
    torch.manual_seed(0)
    head = build_task({"name": "segmentation-resnet-tiny", "num_classes": 6, "width": 8})
    image = torch.rand(2, 3, 32, 32)
    segmentation = torch.zeros(2, 32, 32, dtype=torch.long)
    segmentation[:, :, 16:] = 1
    segmentation[0, 0, 0] = 255  # ignored
    batch = {"image": image, "segmentation": segmentation}
    results = appropriateness(head, ["input", "layer2", "output"], [batch], clusters=(2, 4))
    assert [r.layer for r in results] == ["input", "layer2", "output"]
    assert [r.stride for r in results] == [1, 4, 1]
    assert results[0].samples == 2 * 32 * 32 - 1 and results[1].samples == 2 * 8 * 8 - 1
    assert all(0 <= r.rho(k) <= 1 for r in results for k in (2, 4))
    with pytest.raises(ConfigError, match="at least 2"):
        appropriateness(head, ["layer2"], [batch], clusters=(1,))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hmcodec")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


DATASET = ["--dataset", "shapesworld", "split=val", "image_size=32", "num_samples=4"]


def test_cli_writes_table_json_and_plot_for_a_named_head(tmp_path, capsys):
    out = tmp_path / "rho"
    args = _parser().parse_args(
        ["analyze", "appropriateness", "segmentation-resnet-tiny", "--task-option",
         "num_classes=6", "--task-option", "width=8", "--layers", "input", "layer1", "layer4",
         "--clusters", "2", "8", "--max-samples", "500", *DATASET, "-o", str(out)]
    )  # fmt: skip
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "| layer4 |" in printed and "ρ K=8" in printed
    document = json.loads(Path(f"{out}.json").read_text())
    assert [r["layer"] for r in document["layers"]] == ["input", "layer1", "layer4"]
    assert set(document["layers"][0]["by_clusters"]) == {"2", "8"}
    assert document["layers"][1]["samples"] == 500 and document["seed"] == 0
    for suffix in (".png", ".svg", ".md"):
        assert Path(f"{out}{suffix}").stat().st_size > 0


def test_cli_reads_the_task_head_of_a_model_file(tmp_path, capsys):
    task = {"name": "segmentation-resnet-tiny", "num_classes": 6, "width": 8}
    config = {"transform": "tiny", "base_channels": 8, "method": "direct", "task": task}
    torch.manual_seed(1)
    model = save_model(build_codec(config), tmp_path / "model.ckpt")
    assert torch.load(model.path, weights_only=True)["format"] == MODEL_FORMAT
    split = {
        "architecture": "split",
        "transform": "tiny",
        "base_channels": 8,
        "task": task | {"weights": str(model.path)},
        "options": {"cut": "layer2"},
    }
    split_file = save_model(build_codec(split), tmp_path / "split.ckpt").path
    heads = [load_task_weights(build_task(task), str(path)) for path in (model.path, split_file)]
    for key, value in heads[0].state_dict().items():  # the split codec carries the same head
        assert torch.equal(value, heads[1].state_dict()[key])
    outputs = []
    for path in (model.path, split_file):
        out = tmp_path / path.stem
        args = _parser().parse_args(
            ["analyze", "appropriateness", str(path), "--layers", "layer2", *DATASET,
             "--max-samples", "300", "-o", str(out)]
        )  # fmt: skip
        assert args.func(args) == 0
        outputs.append(json.loads(Path(f"{out}.json").read_text())["layers"])
    assert outputs[0] == outputs[1]  # the same task model, so the same ρ
    capsys.readouterr()


def test_cli_refuses_unknown_models(tmp_path):
    args = _parser().parse_args(
        ["analyze", "appropriateness", "no-such-head", "--layers", "x", "-o", str(tmp_path / "o")]
    )
    with pytest.raises(ConfigError, match="neither a file nor a task head"):
        args.func(args)
