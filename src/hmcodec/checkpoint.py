"""Self-describing model files (DESIGN.md §3 checkpoint contract).

A model file holds the architecture config, the weights with the entropy coder's tables (built
by ``update()`` before saving), the task's label names, the model fingerprint and the training
provenance; ``hmcodec encode MODEL IMAGE`` needs nothing else. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hmcodec.codec.scalable import CodecConfig, ScalableCodec, build_codec
from hmcodec.errors import HmcodecError, ModelError
from hmcodec.io import atomic_torch_save

MODEL_FORMAT = "hmcodec-model"
MODEL_VERSION = 1


def _offline(config: dict[str, Any]) -> dict[str, Any]:
    """The stored config with pretrained-weight names removed from its tasks.

    The model file already holds every weight; rebuilding must not reload or download them.
    """
    config = dict(config)
    for key in ("task", "secondary_task"):
        if isinstance(config.get(key), dict):
            config[key] = {
                k: v for k, v in config[key].items() if k not in ("weights", "backbone_weights")
            }
    return config


def fingerprint(codec: ScalableCodec, config: dict[str, Any] | None = None) -> bytes:
    """8-byte SHA-256 prefix over the architecture config and every tensor of the state dict.

    ``config`` is the config as stored in the model file (settings added to hmcodec later, with
    their defaults, do not change an existing model's fingerprint); by default the codec's own.
    """
    if config is None:
        config = _offline(codec.config.as_dict())
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name, tensor in sorted(codec.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.digest()[:8]


@dataclass
class LoadedModel:
    """A codec ready to code: eval mode, tables built, fingerprint known."""

    codec: ScalableCodec
    fingerprint: bytes
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def name(self) -> str:
        return str(self.path) if self.path else "the model in memory"


def prepare(codec: ScalableCodec, provenance: dict[str, Any] | None = None) -> LoadedModel:
    """Build the coder tables and fingerprint an in-memory codec."""
    codec.eval()
    codec.update()
    return LoadedModel(codec, fingerprint(codec), dict(provenance or {}))


def save_model(
    codec: ScalableCodec, path: str | os.PathLike[str], provenance: dict[str, Any] | None = None
) -> LoadedModel:
    codec = codec.for_inference()
    model = prepare(codec, provenance)
    payload = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "config": _offline(codec.config.as_dict()),
        "state_dict": codec.state_dict(),
        "label_names": list(codec.task.label_names),
        "secondary_label_names": list(codec.secondary_task.label_names)
        if codec.secondary_task
        else [],
        "fingerprint": model.fingerprint.hex(),
        "provenance": json.loads(json.dumps(model.provenance, default=str)),
    }
    atomic_torch_save(payload, path)
    model.path = Path(path)
    return model


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Load a model file; every problem with the file is one :class:`ModelError` sentence."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for foreign files (pickle, zip, key errors…)
        raise ModelError(
            f"{path} is not an hmcodec model file (it cannot be read as a PyTorch file)."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelError(
            f"{path} is not an hmcodec model file (it may be a Lightning training "
            "checkpoint; `hmcodec train` exports model.ckpt)."
        )
    if payload.get("version") != MODEL_VERSION:
        raise ModelError(
            f"{path} is model file version {payload.get('version')}; this hmcodec "
            f"reads version {MODEL_VERSION}."
        )
    try:
        codec = build_codec(CodecConfig.from_dict(_offline(payload["config"])))
        codec.load_state_dict(payload["state_dict"])
    except HmcodecError as error:
        raise ModelError(f"{path} describes a model this hmcodec cannot build: {error}") from None
    except (KeyError, RuntimeError, TypeError) as error:
        raise ModelError(f"{path} does not match its own architecture ({error}).") from None
    codec.eval()
    model = LoadedModel(
        codec, fingerprint(codec, payload["config"]), payload.get("provenance", {}), path
    )
    if model.fingerprint.hex() != payload.get("fingerprint"):
        raise ModelError(f"{path} is corrupted: its weights do not match its fingerprint.")
    return model
