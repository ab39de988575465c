"""Shared fixtures: tiny codecs (coding-ready, rate-trained, saved to files), ShapesWorld images,
a trained run and an in-process CLI runner.

Everything expensive is session-scoped and built on one intra-op thread (the CPU is shared;
threads that spin on tiny tensors only slow everyone down). Fixtures hand out shared objects:
a test that changes a model deep-copies it first.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from hmcodec.checkpoint import LoadedModel, prepare, save_model
from hmcodec.codec import ScalableCodec
from hmcodec.codec.scalable import pad_to_stride
from hmcodec.data import build_dataset
from hmcodec.entropy.gaussian import ContextGaussianModel

#: the smallest sensible scalable codec: coding is exact at any size, and fast.
TINY_CODEC: dict[str, Any] = {
    "transform": "tiny",
    "base_channels": 8,
    "enhancement_channels": 16,
    "side_channels": 8,
    "task": {"name": "segmentation-tiny", "num_classes": 6, "width": 8},
}

#: an untrained analysis transform gives latents of std ~0.1 that all round to 0; scaling its
#: last convolution gives latents of a few units, so coding exercises real symbols (and, with
#: untrained entropy models, the escape path for symbols outside the tables).
LATENT_GAIN = 30.0

#: the experiment config used by the training tests: demo.yaml's model and data shrunk to
#: seconds, with its own two stages (base, then enhancement) whatever demo.yaml's stages are.
TINY_STAGES = (
    "stages=["
    "{stage: base, lmbda: 4.0, beta: 0.1, lr: 2.0e-3, max_steps: 12}, "
    "{stage: enhancement, lmbda: 0.1, lr: 2.0e-3, max_steps: 12}]"
)
TINY_TRAINING = [
    "model.base_channels=8",
    "model.enhancement_channels=16",
    "model.side_channels=8",
    "model.task.width=8",
    "data.batch_size=2",
    "data.train.image_size=32",
    "data.val.image_size=32",
    "data.val.num_samples=4",
    "trainer.limit_val_batches=2",
    "trainer.val_check_interval=6",
    "trainer.log_every_n_steps=1",
    "trainer.progress_bar=false",
    TINY_STAGES,
]


def assert_one_sentence(message: str) -> None:
    """A user-facing error: one line, one sentence, no traceback."""
    assert "\n" not in message, message
    assert "Traceback" not in message, message
    assert message.endswith("."), message
    assert not re.search(r"\.\s+[A-Z]", message), f"more than one sentence: {message}"


@contextlib.contextmanager
def threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread() -> Iterator[None]:
    """Every test runs on one intra-op thread: on a shared 2-core machine a second thread makes
    small convolutions many times slower. A test that needs other counts uses ``torch_threads``."""
    with threads(1):
        yield


@pytest.fixture(scope="session")
def torch_threads() -> Callable[[int], contextlib.AbstractContextManager[None]]:
    """``with torch_threads(n): ...`` — a thread count for a block, restored afterwards."""
    return threads


def build_codec(seed: int = 0, gain: float = LATENT_GAIN, **settings: Any) -> ScalableCodec:
    """A tiny codec with reproducible random weights (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        codec = ScalableCodec(copy.deepcopy(TINY_CODEC) | settings)
    with torch.no_grad():
        analyses = [codec.base_analysis, getattr(codec.enhancement, "analysis", None)]
        for analysis in filter(None, analyses):
            analysis[-1].weight.mul_(gain)
            analysis[-1].bias.mul_(gain)
    return codec


@pytest.fixture(scope="session")
def tiny_codec() -> dict[str, Any]:
    """A copy of :data:`TINY_CODEC`, the CodecConfig settings of the smallest codec (derive
    variants with ``tiny_codec | {...}``; do not change it in place)."""
    return copy.deepcopy(TINY_CODEC)


@pytest.fixture(scope="session")
def codec_factory() -> Callable[..., ScalableCodec]:
    """``codec_factory(seed=0, gain=30, **CodecConfig settings)`` → a fresh untrained codec."""
    return build_codec


@pytest.fixture(scope="session")
def coding_model() -> Callable[..., LoadedModel]:
    """``coding_model(method=..., base_entropy=..., seed=...)`` → a shared prepared model."""
    cache: dict[tuple[Any, ...], LoadedModel] = {}

    def get(method: str = "conditional", base_entropy: str = "context", seed: int = 0):
        key = (method, base_entropy, seed)
        if key not in cache:
            with threads(1):
                codec = build_codec(seed, method=method, base_entropy=base_entropy)
                cache[key] = prepare(codec)
        return cache[key]

    return get


# ----------------------------------------------------------------------------------- images
@pytest.fixture(scope="session")
def shapes() -> Callable[..., torch.Tensor]:
    """``shapes(height, width, index=0, split="test")`` → a ShapesWorld image (3×H×W in [0, 1]).

    ShapesWorld needs at least 8×8; smaller images are crops of a 16×16 one.
    """
    cache: dict[tuple[Any, ...], torch.Tensor] = {}

    def get(height: int, width: int, index: int = 0, split: str = "test") -> torch.Tensor:
        key = (height, width, index, split)
        if key not in cache:
            size = [max(height, 16), max(width, 16)]
            spec = {"name": "shapesworld", "split": split, "image_size": size}
            dataset = build_dataset(spec | {"num_samples": index + 1})
            cache[key] = dataset[index]["image"][:, :height, :width].contiguous()
        return cache[key].clone()

    return get


# ------------------------------------------------------------------- rate-trained models
RATE_CODEC = {"base_channels": 16, "enhancement_channels": 32, "side_channels": 8}
RATE_GAIN = 50.0
RATE_STEPS = 150
RATE_TRAIN_IMAGES = 4


def _train_entropy_models(codec: ScalableCodec, images: torch.Tensor, steps: int) -> None:
    """Fit the entropy models (and side transform) to the codec's own latents: rate loss only.

    The transforms stay as they are, so the latents are fixed and computed once. The Gaussian
    models start with wide scales (σ ≈ 5): with a random start most symbols lie far out in
    σ = 0.11 tails whose likelihood underflows to zero, and no gradient reaches them.
    """
    codec.eval()
    enhancement = codec.enhancement
    with torch.no_grad():
        x = pad_to_stride(images, codec.stride)
        y_base = torch.round(codec.base_analysis(x))
        y_enh = enhancement.forward(x, y_base)["y_hat"] if enhancement.has_layer else None
        for module in codec.modules():
            if isinstance(module, ContextGaussianModel):
                module.entropy_parameters[-1].bias[module.channels :] += 5.0
    modules: list[torch.nn.Module] = [codec.base_entropy]
    if enhancement.has_layer:
        modules.append(enhancement.entropy)
        if enhancement.side_channels:
            modules.append(enhancement.side_transform)
    parameters = [p for m in modules for p in m.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-2)
    pixels = images.shape[0] * images.shape[2] * images.shape[3]
    for _ in range(steps):
        likelihoods = list(codec.base_entropy(y_base).values())
        if y_enh is not None:
            side = enhancement.side(y_base)
            likelihoods += list(enhancement.entropy(y_enh, side).values())
        rate = sum((-torch.log2(lik)).sum() for lik in likelihoods) / pixels
        aux = sum(m.aux_loss() for m in modules if hasattr(m, "aux_loss"))
        optimizer.zero_grad()
        (rate + aux).backward()
        optimizer.step()


@pytest.fixture(scope="session")
def rate_images() -> torch.Tensor:
    """256×256 ShapesWorld training images: 0..3 fit the entropy models, 4 is held out."""
    spec = {"name": "shapesworld", "split": "train", "image_size": 256, "num_samples": 5}
    dataset = build_dataset(spec)
    return torch.stack([dataset[i]["image"] for i in range(len(dataset))])


@pytest.fixture(scope="session")
def rate_model(rate_images: torch.Tensor) -> Callable[..., LoadedModel]:
    """``rate_model(method, base_entropy)`` → a shared model with briefly trained entropy models
    (16/32 channels, so one layer is ≥ 1 KB and the coder's fixed flush bytes stay < 1 %)."""
    cache: dict[tuple[str, str], LoadedModel] = {}

    def get(method: str = "conditional", base_entropy: str = "context") -> LoadedModel:
        if (method, base_entropy) not in cache:
            with threads(1):
                codec = build_codec(
                    0, RATE_GAIN, method=method, base_entropy=base_entropy, **RATE_CODEC
                )
                _train_entropy_models(codec, rate_images[:RATE_TRAIN_IMAGES], RATE_STEPS)
                cache[(method, base_entropy)] = prepare(codec)
        return cache[(method, base_entropy)]

    return get


# ------------------------------------------------------------------------------ model files
@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny conditional model (untrained weights, latents amplified)."""
    path = tmp_path_factory.mktemp("models") / "model.ckpt"
    with threads(1):
        save_model(build_codec(0), path)
    return path


@pytest.fixture(scope="session")
def other_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same architecture as ``model_file``, other weights (another fingerprint)."""
    path = tmp_path_factory.mktemp("models") / "other.ckpt"
    with threads(1):
        save_model(build_codec(1), path)
    return path


# --------------------------------------------------------------------------------- training
@pytest.fixture(scope="session")
def tiny_training() -> list[str]:
    """Overrides that shrink demo.yaml to a few seconds of training (two stages of 12 steps)."""
    return list(TINY_TRAINING)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of ``train(demo + TINY_TRAINING)``: both stages, ``model.ckpt``."""
    from hmcodec.train.config import load_config
    from hmcodec.train.run import train

    out = tmp_path_factory.mktemp("training") / "run"
    with threads(1):
        train(load_config("demo", TINY_TRAINING), out, progress=False)
    return out


# ------------------------------------------------------------------------------ logs and CLI
@pytest.fixture
def hmcodec_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """caplog with the ``hmcodec`` logger's records, even after ``cli.main`` stopped that
    logger from propagating to the root logger (where caplog listens)."""
    logger = logging.getLogger("hmcodec")
    monkeypatch.setattr(logger, "propagate", True)
    monkeypatch.setattr(logger, "disabled", False)
    caplog.set_level(logging.INFO, logger="hmcodec")
    return caplog


# -------------------------------------------------------------------------------------- CLI
@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., CliResult]]:
    """``run_cli("encode", model, image, "-o", out)`` → exit code, stdout and stderr of
    ``hmcodec.cli.main``; the ``hmcodec`` logger (which ``main`` reconfigures) is restored."""
    from hmcodec.cli import main

    logger = logging.getLogger("hmcodec")
    saved = (list(logger.handlers), logger.propagate, logger.level)

    def run(*args: Any) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    with threads(1):
        yield run
    logger.handlers[:] = saved[0]
    logger.propagate, logger.level = saved[1], saved[2]


# ------------------------------------------------------------------------------ training
class InterruptAt(L.Callback):
    """Raises KeyboardInterrupt (as Ctrl-C would) once training reaches ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step >= self.step:
            raise KeyboardInterrupt


@pytest.fixture
def extra_callbacks(monkeypatch: pytest.MonkeyPatch) -> list[L.Callback]:
    """Callbacks added to every trainer ``run.train`` builds (the list may change in between)."""
    from hmcodec.train import run

    extra: list[L.Callback] = []
    make_trainer = run.build_trainer

    def trainer_with_callbacks(*args: Any, **kwargs: Any) -> L.Trainer:
        trainer = make_trainer(*args, **kwargs)
        trainer.callbacks.extend(extra)
        return trainer

    monkeypatch.setattr(run, "build_trainer", trainer_with_callbacks)
    return extra
