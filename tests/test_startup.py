"""What ``hmcodec encode``/``decode`` import (fresh processes): CompressAI's coder and layers
without its datasets, zoo and models, no Lightning, no torchvision or torchmetrics for the
shipped models' tiny heads; and CompressAI's package, loaded by :mod:`hmcodec.compressai_lazy`,
still gives its subpackages to whoever asks (benchmarks/startup.py measures the time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

MODEL = "shapesworld-segmentation"
#: imported by CompressAI's own ``__init__`` or by training and evaluation, never needed to code.
UNUSED = (
    "compressai.datasets",
    "compressai.zoo",
    "compressai.models",
    "compressai.latent_codecs",
    "compressai.losses",
    "lightning",
    "pytorch_lightning",
    "torch_geometric",
    "torchvision",
    "torchmetrics",
    "matplotlib",
    "pandas",
    "pycocotools",
    # a model without a factorized density needs no EntropyBottleneck (it pulls scipy.stats)
    "compressai.entropy_models",
    "scipy.stats",
)
PROBE = (
    "import json, sys; from hmcodec.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(json.dumps([code, sorted(sys.modules)]), file=sys.stderr)"
)


def _python(code: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"} | {"OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("startup") / "image.png"
    pixels = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_coding_imports_only_what_it_uses(command: str, image: Path, tmp_path: Path) -> None:
    stream = tmp_path / "image.hmc"
    if command == "encode":
        argv = ["encode", MODEL, str(image), "-o", str(stream)]
    else:
        from hmcodec.cli import main

        assert main(["encode", MODEL, str(image), "-o", str(stream)]) == 0
        argv = ["decode", MODEL, str(stream), "-o", str(tmp_path / "out")]
    done = _python(PROBE, *argv)
    assert done.returncode == 0, done.stderr
    code, modules = json.loads(done.stderr.strip().splitlines()[-1])
    assert code == 0
    assert {"torch", "compressai.ans", "compressai.layers"} <= set(modules)
    imported = [m for m in modules if m in UNUSED or m.split(".")[0] in UNUSED]
    assert imported == [], imported


def test_compressai_after_hmcodec_keeps_its_subpackages() -> None:
    probe = """
import sys
import hmcodec.entropy
import compressai
assert "compressai.models" not in sys.modules and "compressai.datasets" not in sys.modules
assert compressai.get_entropy_coder() == "ans" and "ans" in compressai.available_entropy_coders()
assert isinstance(compressai.__version__, str)
assert {"models", "zoo", "datasets"} <= set(dir(compressai))
from compressai.models import ScaleHyperprior
assert compressai.models.ScaleHyperprior is ScaleHyperprior
from compressai import zoo
assert zoo is sys.modules["compressai.zoo"] and compressai.zoo is zoo
try:
    compressai.no_such_thing
except AttributeError as error:
    assert "no_such_thing" in str(error)
else:
    raise AssertionError("compressai.no_such_thing")
print("ok")
"""
    done = _python(probe)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_install_is_a_no_op_after_compressai() -> None:
    probe = """
import sys
import compressai
from hmcodec.compressai_lazy import install
assert install() is sys.modules["compressai"] is compressai
assert "compressai.datasets" in sys.modules and "__getattr__" not in vars(compressai)
print("ok")
"""
    done = _python(probe)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
