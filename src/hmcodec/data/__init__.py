"""Datasets yielding the sample schema (see ``schema.py``), selected by name through ``DATASETS``.

``build_dataset({"name": "camvid", "root": ..., "split": "train", "crop": 256, "flip": True})``
builds one. Every builder accepts the augmentation keywords of ``transforms.build_transforms``
(``crop``, ``flip``, ``jitter``, ``downscale``, ``pad_multiple``, ``pad_mode``) or an explicit
``transform`` callable; the rest goes to the dataset class. ``collate`` batches samples for a
``DataLoader``.

Names: ``shapesworld`` (synthetic, exact segmentation/depth/boxes), ``coco`` (detection, VOC
segmentation), ``camvid`` and ``cityscapes`` (segmentation; Cityscapes depth), ``folder`` and
``kodak`` (reconstruction only), ``mixture`` (the images of several datasets).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch.utils.data import Dataset

from hmcodec.data.base import SampleDataset, default_data_root
from hmcodec.data.camvid import CamVid
from hmcodec.data.cityscapes import Cityscapes
from hmcodec.data.coco import CocoDataset
from hmcodec.data.folder import ImageFolder, Kodak
from hmcodec.data.mixture import Mixture
from hmcodec.data.schema import IGNORE_INDEX, check_sample, collate
from hmcodec.data.shapesworld import ShapesWorld
from hmcodec.data.transforms import build_transforms
from hmcodec.errors import ConfigError
from hmcodec.registry import Registry

DATASETS: Registry[Dataset] = Registry("dataset")

_AUGMENT_KEYS = ("crop", "flip", "jitter", "downscale", "pad_multiple", "pad_mode")


def _augmented(cls: type[SampleDataset]) -> Callable[..., Dataset]:
    """A builder of ``cls`` that turns the augmentation keywords into its ``transform``."""

    def build(**kwargs: Any) -> Dataset:
        augment = {k: kwargs.pop(k) for k in _AUGMENT_KEYS if k in kwargs}
        if augment:
            if kwargs.get("transform") is not None:
                raise ConfigError(
                    f"give either 'transform' or augmentation keywords {sorted(augment)}, not both."
                )
            kwargs["transform"] = build_transforms(**augment)
        try:
            inspect.signature(cls).bind(**kwargs)
        except TypeError as err:
            raise ConfigError(f"dataset {cls.__name__} got bad arguments: {err}.") from err
        return cls(**kwargs)

    build.__doc__ = f"Build ``{cls.__name__}`` (augmentation keywords → ``transform``)."
    return build


for _name, _cls in [
    ("shapesworld", ShapesWorld),
    ("coco", CocoDataset),
    ("camvid", CamVid),
    ("cityscapes", Cityscapes),
    ("folder", ImageFolder),
    ("kodak", Kodak),
]:
    DATASETS.register(_name)(_augmented(_cls))


@DATASETS.register("mixture")
def _mixture(parts: list[dict[str, Any]]) -> Dataset:
    """``{name: mixture, parts: [spec, spec, ...]}``: the parts' images in one dataset."""
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise ConfigError("a mixture dataset's parts must be a list of dataset specs.")
    return Mixture([build_dataset(part) for part in parts])


def build_dataset(spec: dict[str, Any]) -> Dataset:
    """Build a dataset from a config mapping ``{"name": ..., **kwargs}``."""
    if "name" not in spec:
        raise ConfigError(f"dataset spec {spec!r} has no 'name'; known: {DATASETS.names()}.")
    spec = dict(spec)
    name = spec.pop("name")
    return DATASETS.build(name, **spec)


__all__ = [
    "DATASETS",
    "IGNORE_INDEX",
    "CamVid",
    "Cityscapes",
    "CocoDataset",
    "ImageFolder",
    "Kodak",
    "SampleDataset",
    "ShapesWorld",
    "build_dataset",
    "build_transforms",
    "check_sample",
    "collate",
    "default_data_root",
]
