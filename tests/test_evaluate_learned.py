"""``hmcodec eval`` and ``hmcodec scalable-analysis`` on tiny models and synthetic curves."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from hmcodec.bitstream import Stream
from hmcodec.checkpoint import LoadedModel, load_model, save_model
from hmcodec.cli import evaluation
from hmcodec.codec.api import encode
from hmcodec.codec.scalable import BASE, ENHANCEMENT
from hmcodec.data import build_dataset
from hmcodec.errors import ConfigError
from hmcodec.evaluate.bench import random_model
from hmcodec.evaluate.learned import evaluate_model, parse_dataset_spec
from hmcodec.evaluate.results import RDResults
from hmcodec.evaluate.scalable import analyse

DATASET = ["shapesworld", "split=test", "image_size=64", "num_samples=3"]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hmcodec")
    evaluation.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.command_line = "hmcodec " + " ".join(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, tiny_codec: dict) -> list[Path]:
    """Three tiny models (two conditional, one standalone) whose latents are not all zero."""
    folder = tmp_path_factory.mktemp("models")
    paths = []
    for i, (method, gain) in enumerate(
        [("conditional", 8.0), ("conditional", 40.0), ("standalone", 20.0)]
    ):
        model = random_model(tiny_codec | {"method": method}, latent_gain=gain, seed=i)
        provenance = {"config": {"name": f"tiny-{method}-{gain:g}"}}
        paths.append(save_model(model.codec, folder / f"m{i}.ckpt", provenance).path)
    return paths


@pytest.fixture(scope="module")
def images() -> list:
    data = build_dataset(parse_dataset_spec(DATASET))
    return [data[i]["image"] for i in range(len(data))]


def measured_bpp(model: LoadedModel, images: list) -> dict[str, float]:
    """Mean stream sizes, recomputed here by encoding each image once."""
    sums = {"total": 0.0, "base_stream": 0.0, "enhancement_stream": 0.0}
    for image in images:
        stream = encode(model, image)
        pixels = image.shape[-2] * image.shape[-1]
        sums["total"] += len(stream.to_bytes()) * 8 / pixels
        sums["base_stream"] += len(stream.select([BASE]).to_bytes()) * 8 / pixels
        sums["enhancement_stream"] += len(stream.select([ENHANCEMENT]).to_bytes()) * 8 / pixels
    return {k: v / len(images) for k, v in sums.items()}


def test_parse_dataset_spec() -> None:
    assert parse_dataset_spec(DATASET) == {
        "name": "shapesworld",
        "split": "test",
        "image_size": 64,
        "num_samples": 3,
    }
    assert parse_dataset_spec("kodak flip=true") == {"name": "kodak", "flip": True}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_dataset_spec(["kodak", "oops"])
    with pytest.raises(ConfigError, match="names no dataset"):
        parse_dataset_spec(["split=test"])


def test_eval_writes_rd_json_from_real_streams(
    models: list[Path], images: list, tmp_path: Path
) -> None:
    out = tmp_path / "rd.json"
    argv = ["eval", *map(str, models), "--dataset", *DATASET, "--per-image", "-o", str(out)]
    assert run([*argv, "--no-progress"]) == 0
    curve = RDResults.load(out)
    assert len(curve) == 3 and curve.bpp == sorted(curve.bpp)
    assert {"bpp_total", "bpp_base", "bpp_enhancement", "bpp_estimated", "miou"} <= set(
        curve.results
    )
    assert {"psnr-rgb", "ms-ssim", "pixel_accuracy"} <= set(curve.results)
    assert all(math.isnan(v) for v in curve.results["ms-ssim"])  # 64×64 is too small
    assert curve.per_image is not None and all(len(p) == 3 for p in curve.per_image)
    by_print = {p["fingerprint"]: i for i, p in enumerate(curve.provenance)}
    for path in models:
        model = load_model(path)
        i = by_print[model.fingerprint.hex()]
        prov = curve.provenance[i]
        assert prov["model"] == str(path) and prov["config"].startswith("tiny-")
        assert prov["architecture"] == model.codec.config.architecture == "scalable"
        assert prov["command"].startswith("hmcodec eval") and prov["images"] == 3
        rates = measured_bpp(model, images)
        assert curve.results["bpp_total"][i] == pytest.approx(rates["total"])
        base, enhancement = curve.results["bpp_base"][i], curve.results["bpp_enhancement"][i]
        if model.codec.config.method == "standalone":
            assert curve.bpp[i] == pytest.approx(rates["enhancement_stream"])
            assert curve.results["bpp_payload"][i] == pytest.approx(enhancement)
        else:
            assert curve.bpp[i] == pytest.approx(rates["total"])
            assert curve.results["bpp_payload"][i] == pytest.approx(base + enhancement)
        assert curve.results["bpp_payload"][i] < curve.bpp[i]  # the container is not payload
        assert curve.bpp[i] > 0 and curve.results["bpp_estimated"][i] > 0


def test_eval_base_layer_only(models: list[Path], images: list, tmp_path: Path) -> None:
    out = tmp_path / "base.json"
    assert (
        run(
            [
                "eval",
                str(models[1]),
                "--dataset",
                *DATASET,
                "--layers",
                "base",
                "-o",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    curve = RDResults.load(out)
    assert curve.name.endswith("(base layer)")
    assert "psnr-rgb" not in curve.results and "miou" in curve.results
    rates = measured_bpp(load_model(models[1]), images)
    assert curve.bpp[0] == pytest.approx(rates["base_stream"])
    assert curve.bpp[0] < curve.results["bpp_total"][0]
    assert curve.results["bpp_payload"][0] == curve.results["bpp_base"][0] < curve.bpp[0]
    assert curve.provenance[0]["layers"] == "base"


def test_evaluation_keeps_the_demo_summary_keys(models: list[Path], images: list) -> None:
    model = load_model(models[0])
    summary = evaluate_model(model, [{"image": im} for im in images[:1]]).summary()
    keys = {"bpp", "bpp_base", "bpp_estimated_base", "bpp_enhancement", "psnr", "ms_ssim"}
    assert keys <= set(summary)
    stream = Stream.from_bytes(encode(model, images[0]).to_bytes())
    assert summary["bpp"] == pytest.approx(len(stream.to_bytes()) * 8 / 64**2)


# ----------------------------------------------------------------------- scalable analysis
QUALITY = [28.0, 30.0, 32.0, 34.0]
STANDALONE = [0.2, 0.35, 0.6, 1.0]


def synthetic(tmp_path: Path) -> tuple[Path, Path]:
    """Scalable = standalone × 1.1 with base = standalone × 0.2: simulcast − half the base."""
    standalone = RDResults("standalone", results={"bpp": STANDALONE, "psnr-rgb": QUALITY})
    scalable = RDResults(
        "conditional",
        results={
            "bpp": [1.1 * r for r in STANDALONE],
            "bpp_base": [0.2 * r for r in STANDALONE],
            "psnr-rgb": QUALITY,
        },
        provenance=[{"fingerprint": f"{i:016x}"} for i in range(4)],
    )
    return scalable.save(tmp_path / "a.json"), standalone.save(tmp_path / "b.json")


def test_reuse_is_half_when_scalable_saves_half_the_base(tmp_path: Path) -> None:
    a, b = synthetic(tmp_path)
    analysis = analyse(RDResults.load(a), RDResults.load(b))
    assert analysis.reuse_mean == pytest.approx(0.5)
    assert all(p.reuse == pytest.approx(0.5) for p in analysis.reuse_points)
    assert analysis.quality_range == (28.0, 34.0)
    upper = {r.method: r.bd_rate for r in analysis.bd_upper}
    lower = {r.method: r.bd_rate for r in analysis.bd_lower}
    assert upper["pchip"] == pytest.approx(10.0) and upper["cubic"] == pytest.approx(10.0)
    assert lower["pchip"] == pytest.approx(100 * (1.1 / 1.2 - 1))


def test_scalable_analysis_command_with_base_file(tmp_path: Path) -> None:
    a, b = synthetic(tmp_path)
    # A constant base of 0.1 bpp from a base-layer evaluation matched by fingerprint:
    # reuse = 1 − (R_s − R_u) / R_b = 1 − 0.1 R_u / 0.1, i.e. 80 % at R_u = 0.2 and 0 % at 1.0.
    base = RDResults(
        "base",
        results={"bpp": [0.1] * 4, "miou": [0.5] * 4},
        provenance=[{"fingerprint": f"{i:016x}"} for i in range(4)],
    ).save(tmp_path / "base.json")
    out = tmp_path / "report.md"
    argv = ["scalable-analysis", "--scalable", str(a), "--standalone", str(b)]
    assert run([*argv, "--base", str(base), "-o", str(out)]) == 0
    text = out.read_text()
    assert "matched to the scalable points by model fingerprint" in text
    assert "| 28 | 0.2200 | 0.2000 | 0.1000 | 0.3000 | 80.0 % |" in text
    assert "| 34 | 1.1000 | 1.0000 | 0.1000 | 1.1000 | 0.0 % |" in text
    assert "BD-rate" in text and "+10.00 %" in text


def test_scalable_analysis_needs_a_base_rate(tmp_path: Path) -> None:
    _, b = synthetic(tmp_path)
    bare = RDResults("bare", results={"bpp": [0.3, 0.5, 0.8, 1.2], "psnr-rgb": QUALITY})
    with pytest.raises(ConfigError, match="--base"):
        analyse(bare, RDResults.load(b))
    a, _ = synthetic(tmp_path)
    odd = RDResults("odd", results={"bpp": [0.1, 0.2]}, provenance=[{}, {}])
    with pytest.raises(ConfigError, match="cannot match"):
        analyse(RDResults.load(a), RDResults.load(b), odd)
    # fewer than 4 points: the re-use is still defined, the BD-rate is not
    few = RDResults(
        "few", results={"bpp": [0.3, 0.7], "bpp_base": [0.1, 0.1], "psnr-rgb": [29.0, 33.0]}
    )
    analysis = analyse(few, RDResults.load(b))
    assert not analysis.bd_upper and analysis.bd_notes and math.isfinite(analysis.reuse_mean)
    assert json.dumps(analysis.markdown())
