"""Self-describing model files (DESIGN.md §3 checkpoint contract).

A model file holds the architecture config, the weights with the entropy coder's tables (built
by ``update()`` before saving), the task's label names, the model fingerprint and the training
provenance; ``hmcodec encode MODEL IMAGE`` needs nothing else. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from hmcodec.codec.scalable import CodecConfig, build_codec
from hmcodec.errors import HmcodecError, ModelError
from hmcodec.io import atomic_torch_save

if TYPE_CHECKING:
    from hmcodec.codec.interface import Codec

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


def fingerprint(codec: Codec, config: dict[str, Any] | None = None) -> bytes:
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

    #: any architecture of ``ARCHITECTURES``: a ScalableCodec, a SplitCodec…
    codec: Codec
    fingerprint: bytes
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def name(self) -> str:
        return str(self.path) if self.path else "the model in memory"


def prepare(codec: Codec, provenance: dict[str, Any] | None = None) -> LoadedModel:
    """Build the coder tables and fingerprint an in-memory codec."""
    codec.eval()
    codec.update()
    return LoadedModel(codec, fingerprint(codec), dict(provenance or {}))


def save_model(
    codec: Codec, path: str | os.PathLike[str], provenance: dict[str, Any] | None = None
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


def _brief(error: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message, short and without a final full stop."""
    lines = str(error).strip().splitlines()
    text = lines[0].strip().rstrip(".:") if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _read_failure(path: Path, error: Exception) -> ModelError:
    """Why ``torch.load`` could not read ``path``, as one sentence."""
    if "weights only load failed" in str(error).lower():
        return ModelError(
            f"{path} is not an hmcodec model file: it holds Python objects that hmcodec does not "
            "load (model files are read with weights_only=True, which allows only plain data "
            "and tensors)."
        )
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as failure:
        return ModelError(f"cannot read model file {path}: {failure.strerror or failure}.")
    if magic == b"PK\x03\x04":  # a PyTorch zip archive: a model file, damaged
        return ModelError(
            f"{path} is a damaged PyTorch file (truncated or corrupted) and cannot be read as an "
            "hmcodec model file."
        )
    return ModelError(f"{path} is not an hmcodec model file (it cannot be read as a PyTorch file).")


def _foreign(path: Path, payload: object) -> ModelError:
    """One sentence for a readable PyTorch file that is not an hmcodec model file."""
    if isinstance(payload, dict) and (
        "pytorch-lightning_version" in payload or {"state_dict", "epoch"} <= payload.keys()
    ):
        return ModelError(
            f"{path} is not an hmcodec model file (it may be a Lightning training "
            "checkpoint; `hmcodec train` exports model.ckpt)."
        )
    if (
        isinstance(payload, dict)
        and payload
        and all(isinstance(value, torch.Tensor) for value in payload.values())
    ):
        what = "a bare state dict (weights without their architecture)"
    elif isinstance(payload, dict):
        what = "a dictionary without the hmcodec format marker"
    else:
        what = f"a {type(payload).__name__}, not a dictionary"
    return ModelError(
        f"{path} is not an hmcodec model file: it holds {what}; `hmcodec train` exports model.ckpt."
    )


def _mismatch(path: Path, missing: list[str], unexpected: list[str], shapes: str) -> ModelError:
    """Weights that do not fit the declared architecture, as one sentence."""
    parts = [
        f"{len(names)} {what} (e.g. {names[0]})"
        for names, what in ((missing, "missing"), (unexpected, "unexpected"))
        if names
    ]
    summary = ", ".join([*parts, shapes] if shapes else parts)
    return ModelError(
        f"{path} is corrupted or mixes models: its weights do not fit the architecture it "
        f"declares ({summary})."
    )


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Load a model file; every problem with the file is one :class:`ModelError` sentence.

    The file is read with ``torch.load(weights_only=True)``: plain data and tensors only, no
    Python objects. A missing, truncated, bit-flipped or foreign file (another PyTorch file, a
    bare state dict, a Lightning checkpoint), a model file of an unknown version or architecture,
    weights that do not fit the architecture the file declares, and weights that do not match
    the file's fingerprint are each refused with one sentence naming the file. ``path`` may be
    a reference model's name (:mod:`hmcodec.zoo`, ``hmcodec models``).
    """
    from hmcodec.zoo import resolve  # a reference model's name stands for its shipped file

    path = resolve(path)
    if path.is_dir():
        raise ModelError(f"model file {path} is a folder, not a file.")
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for foreign files (pickle, zip, keys…)
        raise _read_failure(path, error) from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise _foreign(path, payload)
    if payload.get("version") != MODEL_VERSION:
        raise ModelError(
            f"{path} is model file version {payload.get('version')}; this hmcodec "
            f"reads version {MODEL_VERSION}."
        )
    config, state = payload.get("config"), payload.get("state_dict")
    provenance = payload.get("provenance", {})
    if (
        not isinstance(config, dict)
        or not isinstance(state, dict)
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
        or not isinstance(payload.get("fingerprint"), str)
        or not isinstance(provenance, dict)
    ):
        raise ModelError(
            f"{path} is a damaged hmcodec model file: its config, weights or fingerprint are "
            "missing or malformed."
        )
    try:
        codec = build_codec(CodecConfig.from_dict(_offline(config)))
    except HmcodecError as error:
        raise ModelError(f"{path} describes a model this hmcodec cannot build: {error}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as error:
        raise ModelError(
            f"{path} describes a model this hmcodec cannot build (invalid settings: "
            f"{_brief(error)})."
        ) from None
    try:
        keys = codec.load_state_dict(state, strict=False)
    except RuntimeError as error:  # torch reports shape mismatches as "size mismatch for NAME: …"
        shapes = re.findall(r"size mismatch for ([^:\s]+)", str(error))
        detail = f"{len(shapes)} of the wrong shape (e.g. {shapes[0]})" if shapes else _brief(error)
        raise _mismatch(path, [], [], detail) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise _mismatch(path, [], [], _brief(error)) from None
    if keys.missing_keys or keys.unexpected_keys:
        raise _mismatch(path, keys.missing_keys, keys.unexpected_keys, "")
    codec.eval()
    try:
        digest = fingerprint(codec, config)
    except (TypeError, ValueError) as error:  # a config that is not plain JSON data
        raise ModelError(f"{path} is a damaged hmcodec model file ({_brief(error)}).") from None
    model = LoadedModel(codec, digest, provenance, path)
    if model.fingerprint.hex() != payload["fingerprint"]:
        raise ModelError(f"{path} is corrupted: its weights do not match its fingerprint.")
    return model
