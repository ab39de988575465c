"""ShapesWorld: a deterministic synthetic scene dataset with exact segmentation, depth and boxes.

Each image is a textured background (a smooth two-colour gradient plus stripes, a checkerboard
or noise) with 1..``max_shapes`` occluding shapes. A shape's class is decided by its geometry
only: its colours and texture are drawn independently of the class, so a model has to see the
shape. Every shape lies at its own depth (2-15, constant or gently slanted); the background is a
tilted plane at 20-40. Shapes are painted far to near with a depth test, so a nearer shape
occludes a farther one and the depth map is exactly the depth of what is seen.

Sample ``i`` of ``(seed, split)`` comes from its own ``numpy`` generator seeded by a stable hash
of ``(seed, split, i)``: any index is reproducible alone, in any order, in any worker.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from hmcodec.data.base import SampleDataset
from hmcodec.data.transforms import size_pair
from hmcodec.errors import ConfigError

LABEL_NAMES: list[str] = ["background", "circle", "square", "triangle", "star", "ring"]
SPLITS: tuple[str, ...] = ("train", "val", "test")

#: a shape keeps a box only if at least this many of its pixels are visible.
MIN_VISIBLE_PIXELS = 10

_STAR_INNER = 0.45  # inner radius of the five-pointed star, relative to its outer radius
_SQUARE_HALF = 0.8  # half side of a square relative to the shape radius (similar area)
_EXTENT = 1.2  # half size of a shape's pixel window, relative to its radius (>= 0.8·√2)


def _size_hw(image_size: int | Sequence[int]) -> tuple[int, int]:
    h, w = size_pair(image_size, "image_size")
    if h < 8 or w < 8:
        raise ConfigError(f"ShapesWorld image_size must be at least 8×8, got {h}×{w}.")
    return h, w


def sample_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """The stable seed of sample ``index`` of ``(seed, split)`` (independent of PYTHONHASHSEED)."""
    return np.random.SeedSequence([int(seed) % (1 << 64), zlib.crc32(split.encode()), index])


def _ramp(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A linear ramp from 0 to 1 across the grid in a random direction."""
    angle = rng.uniform(0.0, 2 * np.pi)
    t = x * np.float32(np.cos(angle)) + y * np.float32(np.sin(angle))
    lo, hi = float(t.min()), float(t.max())
    return (t - np.float32(lo)) / np.float32(max(hi - lo, 1e-6))


def _pattern(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A random texture in [0, 1] on the grid ``x`` (1×w) × ``y`` (h×1): gradient/stripes/…"""
    kind = int(rng.integers(4))
    angle = rng.uniform(0.0, np.pi)
    u = x * np.float32(np.cos(angle)) + y * np.float32(np.sin(angle))
    if kind == 0:  # smooth ramp
        span = np.float32(rng.uniform(8.0, 48.0))
        return np.clip(0.5 + (u - u.mean()) / span, 0.0, 1.0)
    if kind == 1:  # sinusoidal stripes
        freq = np.float32(2 * np.pi / rng.uniform(3.0, 12.0))
        return 0.5 + 0.5 * np.sin(u * freq + np.float32(rng.uniform(0, 2 * np.pi)))
    if kind == 2:  # (rotated) checkerboard
        v = -x * np.float32(np.sin(angle)) + y * np.float32(np.cos(angle))
        cell = np.float32(rng.uniform(2.5, 8.0))
        return ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
    shape = np.broadcast_shapes(x.shape, y.shape)  # i.i.d. noise
    return rng.random(shape, dtype=np.float32)


def _paint(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """An h×w×3 texture mixing two random colours by a random pattern."""
    c0, c1 = rng.random((2, 3), dtype=np.float32)
    p = _pattern(rng, x, y)
    return c0 + (c1 - c0) * p[..., None]


def _shape_mask(cls: int, u: np.ndarray, v: np.ndarray, hole: float) -> np.ndarray:
    """Inside test of class ``cls`` in the shape's normalised, rotated frame (radius 1)."""
    rho2 = u * u + v * v
    if cls == 1:  # circle
        return rho2 <= 1.0
    if cls == 2:  # square
        return np.maximum(np.abs(u), np.abs(v)) <= _SQUARE_HALF
    if cls == 3:  # equilateral triangle, circumradius 1 (inradius 1/2)
        inside = v <= 0.5
        for a in (np.pi / 6 + 2 * np.pi / 3, np.pi / 6 + 4 * np.pi / 3):
            inside &= u * np.float32(np.cos(a)) + v * np.float32(np.sin(a)) <= 0.5
        return inside
    if cls == 4:  # five-pointed star: tips at radius 1, inner vertices at _STAR_INNER
        phi = np.arctan2(v, u)
        sector = np.float32(2 * np.pi / 5)
        a = np.abs(np.mod(phi + sector / 2, sector) - sector / 2)
        rho = np.sqrt(rho2)
        qx, qy = rho * np.cos(a), rho * np.sin(a)
        p2x = np.float32(_STAR_INNER * np.cos(np.pi / 5))
        p2y = np.float32(_STAR_INNER * np.sin(np.pi / 5))
        # inside iff Q is on the origin's side of the edge from tip (1, 0) to inner vertex P2.
        return (p2x - 1.0) * qy - p2y * (qx - 1.0) >= 0.0
    if cls == 5:  # ring
        return (rho2 <= 1.0) & (rho2 >= hole * hole)
    raise ValueError(f"unknown ShapesWorld class {cls}")


class ShapesWorld(SampleDataset):
    """Synthetic occluding shapes with ``segmentation``, ``depth``/``depth_mask`` and boxes.

    ``label_names`` = background, circle, square, triangle, star, ring; ``labels`` of boxes are
    1..5 and boxes cover the *visible* pixels of each shape (shapes with fewer than
    ``MIN_VISIBLE_PIXELS`` visible pixels are dropped). ``image_size`` is an int (square) or
    ``(H, W)``. ``transform`` (optional) maps a sample dict to a sample dict.
    """

    label_names: list[str] = LABEL_NAMES
    num_classes: int = len(LABEL_NAMES)

    def __init__(
        self,
        num_samples: int = 1000,
        image_size: int | tuple[int, int] = 64,
        seed: int = 0,
        split: str = "train",
        max_shapes: int = 6,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ConfigError(f"unknown ShapesWorld split {split!r}; known: {', '.join(SPLITS)}.")
        if num_samples < 0:
            raise ConfigError(f"ShapesWorld num_samples must be >= 0, got {num_samples}.")
        if max_shapes < 1:
            raise ConfigError(f"ShapesWorld max_shapes must be >= 1, got {max_shapes}.")
        super().__init__(transform)
        self.num_samples = int(num_samples)
        self.height, self.width = _size_hw(image_size)
        self.seed = int(seed)
        self.split = split
        self.max_shapes = int(max_shapes)
        self.label_names = list(LABEL_NAMES)
        self.num_classes = len(LABEL_NAMES)

    def __len__(self) -> int:
        return self.num_samples

    def load(self, index: int) -> dict[str, Any]:
        return self.generate(index)

    def generate(self, index: int, layers: bool = False) -> dict[str, Any]:
        """Render sample ``index`` (no transform): image, segmentation, depth, boxes, labels.

        With ``layers=True`` the sample also has ``layers``: per shape, far to near, its class
        ``label``, its whole (unoccluded) ``mask`` and its ``depth`` plane where the mask is set
        (inf elsewhere); for checking occlusion, not part of the schema.
        """
        rng = np.random.default_rng(sample_seed(self.seed, self.split, index))
        h, w = self.height, self.width
        xs = np.arange(w, dtype=np.float32)[None, :]
        ys = np.arange(h, dtype=np.float32)[:, None]

        # Background: a smooth gradient between two colours blended with a random texture
        # (ramp, stripes, checkerboard or noise), at a tilted depth plane.
        c0, c1 = rng.random((2, 3), dtype=np.float32)
        image = c0 + (c1 - c0) * _ramp(rng, xs / max(w - 1, 1), ys / max(h - 1, 1))[..., None]
        strength = np.float32(rng.uniform(0.15, 0.45))
        image = (1 - strength) * image + strength * _paint(rng, xs, ys)
        near, far = np.sort(rng.uniform(20.0, 40.0, size=2)).astype(np.float32)
        depth = near + (far - near) * _ramp(rng, xs / max(w - 1, 1), ys / max(h - 1, 1))
        segmentation = np.zeros((h, w), dtype=np.int64)
        instance = np.full((h, w), -1, dtype=np.int16)

        # Shapes, painted far → near with a depth test (z-buffer): nearer occludes farther.
        n = int(rng.integers(1, self.max_shapes + 1))
        side = min(h, w)
        shapes = []
        for _ in range(n):
            shapes.append(
                (
                    float(rng.uniform(3.0, 14.0)),  # depth at the centre
                    int(rng.integers(1, len(LABEL_NAMES))),  # class, by geometry only
                    rng.uniform(0.0, w),
                    rng.uniform(0.0, h),
                    max(4.0, rng.uniform(0.1, 0.3) * side),  # radius in pixels
                    rng.uniform(0.0, 2 * np.pi),  # rotation
                    rng.uniform(0.45, 0.7),  # ring hole
                    rng.uniform(-0.8, 0.8, size=2) * (rng.random() < 0.5),  # depth slant
                )
            )
        shapes.sort(key=lambda s: -s[0])
        classes = []
        layer_list: list[dict[str, Any]] = []
        for k, (z, cls, cx, cy, r, rot, hole, slant) in enumerate(shapes):
            ext = _EXTENT * r  # the rotated square's corners reach past r
            x0, x1 = max(int(cx - ext), 0), min(int(cx + ext) + 2, w)
            y0, y1 = max(int(cy - ext), 0), min(int(cy + ext) + 2, h)
            dx, dy = (xs[:, x0:x1] - cx) / r, (ys[y0:y1] - cy) / r
            c, s = np.float32(np.cos(rot)), np.float32(np.sin(rot))
            u, v = dx * c + dy * s, -dx * s + dy * c
            mask = _shape_mask(cls, u, v, hole)
            zmap = np.float32(z) + np.float32(slant[0]) * dx + np.float32(slant[1]) * dy
            win = (slice(y0, y1), slice(x0, x1))
            if layers:
                full_mask = np.zeros((h, w), dtype=bool)
                full_mask[win] = mask
                full_depth = np.full((h, w), np.inf, dtype=np.float32)
                full_depth[win][mask] = zmap[mask]
                layer_list.append(
                    {
                        "label": cls,
                        "mask": torch.from_numpy(full_mask),
                        "depth": torch.from_numpy(full_depth),
                    }
                )
            mask &= zmap < depth[win]
            tex = _paint(rng, xs[:, x0:x1], ys[y0:y1])
            image[win][mask] = tex[mask]
            depth[win][mask] = zmap[mask]
            segmentation[win][mask] = cls
            instance[win][mask] = k
            classes.append((cls, x0, x1, y0, y1))

        # Camera noise, then boxes of the visible parts.
        image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(0.02)
        np.clip(image, 0.0, 1.0, out=image)
        boxes, labels = [], []
        for k, (cls, x0, x1, y0, y1) in enumerate(classes):
            visible = instance[y0:y1, x0:x1] == k
            if int(visible.sum()) < MIN_VISIBLE_PIXELS:
                continue
            cols = np.flatnonzero(visible.any(axis=0))
            rows = np.flatnonzero(visible.any(axis=1))
            boxes.append((x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1))
            labels.append(cls)

        sample: dict[str, Any] = {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "segmentation": torch.from_numpy(segmentation),
            "depth": torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32)),
            "depth_mask": torch.ones((h, w), dtype=torch.bool),
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "meta": {"index": index, "split": self.split, "seed": self.seed},
        }
        if layers:
            sample["layers"] = layer_list
        return sample
