"""``hmcodec encode``/``decode`` import only what they use: CompressAI's coder and layers
without its datasets and zoo, no torchvision, torchmetrics, Lightning or SciPy for a model
without a factorized density (benchmarks/startup.py measures the time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HEAVY = (
    "compressai.datasets",
    "compressai.zoo",
    "compressai.models",
    "torch_geometric",
    "torchvision",
    "torchmetrics",
    "lightning",
    "scipy.stats",
)
PROBE = (
    "import sys; from hmcodec.cli import main\n"
    "code = main(sys.argv[1:])\n"
    f"print(code, *[name in sys.modules for name in {HEAVY!r}], file=sys.stderr)"
)


def run(argv: list[str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stderr.split()[-(len(HEAVY) + 1) :]


def test_encode_and_decode_import_only_what_they_use(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "image.png")
    stream = tmp_path / "image.hmc"
    encoded = run(
        ["encode", "shapesworld-segmentation", str(tmp_path / "image.png"), "-o", str(stream)]
    )
    decoded = run(["decode", "shapesworld-segmentation", str(stream), "-o", str(tmp_path / "out")])
    for result in (encoded, decoded):
        assert result == ["0", *["False"] * len(HEAVY)], dict(
            zip(("exit", *HEAVY), result, strict=True)
        )


def test_compressai_stays_whole_for_its_users() -> None:
    """After hmcodec's entropy models load (without CompressAI's subpackages), ``import
    compressai`` still gives its zoo and models, as the benchmark and users expect."""
    probe = (
        "import sys, hmcodec.entropy, compressai\n"
        "before = 'compressai.zoo' in sys.modules\n"
        "from compressai.zoo import bmshj2018_hyperprior\n"
        "print(before, callable(bmshj2018_hyperprior), compressai.models.ScaleHyperprior.__name__,"
        " compressai.get_entropy_coder())"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300
    )
    assert done.stdout.split() == ["False", "True", "ScaleHyperprior", "ans"], done.stderr
