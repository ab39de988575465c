"""Task appropriateness ρ of a task model's layers (Harell et al., Figs. 2–3).

The paper's argument: an MSE-optimal quantiser of a layer at a fixed rate keeps the task only
if the layer's MSE geometry already separates the task's classes (Fig. 2: at the input, the
1-bit MSE quantiser splits circles and squares by position, not by class; deeper it splits them
by class). hmcodec measures it as follows (our definition, in the spirit of Figs. 2–3):

1. run the task model on a dataset and take the layer's features; every spatial position is
   one vector in R^C (``pool=True``: one globally averaged vector per image), labelled with the
   task label at that position (segmentation maps downsampled by nearest; 255 ignored);
2. draw at most ``max_samples`` vectors (fixed seed) and quantise them with k-means
   (k-means++ seeding and Lloyd iterations in float64, fixed seed): the MSE-optimal
   fixed-rate quantiser with ``K`` cells, i.e. log2 K bits per vector;
3. ρ = I(Q; T) / H(T): the fraction of the label entropy that the cell index Q keeps
   (1: the cells determine the label; 0: independent). The arithmetic-mean NMI
   2·I/(H(Q)+H(T)) and the purity (accuracy of the majority label of each cell) are
   reported beside it.

A layer with a higher ρ at the same K is more appropriate for coding with an MSE (feature
distillation) loss: Harell et al. predict better RD from deeper distillation points.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from hmcodec.errors import ConfigError
from hmcodec.machines.cut import INPUT, OUTPUT, TracedNetwork
from hmcodec.tasks import TaskHead
from hmcodec.tasks.segmentation import IGNORE_INDEX
from hmcodec.tasks.weights import evaluating


def kmeans(x: Tensor, clusters: int, iterations: int = 30, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means with k-means++ seeding on the rows of ``x``; (centroids, cell per row).

    Deterministic for a given ``seed``: float64, a private generator, empty cells keep their
    centroid.
    """
    x = x.double()
    count = x.shape[0]
    clusters = max(1, min(clusters, count))
    generator = torch.Generator().manual_seed(seed)
    centroids = x[torch.randint(count, (1,), generator=generator)]
    nearest = ((x - centroids[0]) ** 2).sum(1)
    for _ in range(1, clusters):
        total = float(nearest.sum())
        weights = nearest / total if total > 0 else torch.full_like(nearest, 1.0 / count)
        pick = torch.multinomial(weights, 1, generator=generator)
        centroids = torch.cat([centroids, x[pick]])
        nearest = torch.minimum(nearest, ((x - x[pick]) ** 2).sum(1))
    cells = torch.cdist(x, centroids).argmin(1)
    for _ in range(iterations):
        sums = torch.zeros_like(centroids).index_add_(0, cells, x)
        sizes = torch.bincount(cells, minlength=clusters).unsqueeze(1)
        updated = torch.where(sizes > 0, sums / sizes.clamp_min(1), centroids)
        centroids = updated
        new_cells = torch.cdist(x, centroids).argmin(1)
        if torch.equal(new_cells, cells):
            break
        cells = new_cells
    return centroids, cells


def _entropy(p: Tensor) -> float:
    p = p[p > 0]
    return float(-(p * torch.log2(p)).sum())


def information(cells: Tensor, labels: Tensor) -> dict[str, float]:
    """I(Q;T), H(Q), H(T) in bits, ρ = I/H(T), arithmetic NMI and purity of a labelled
    quantisation."""
    _, q = torch.unique(cells, return_inverse=True)
    _, t = torch.unique(labels, return_inverse=True)
    joint = torch.zeros(int(q.max()) + 1, int(t.max()) + 1, dtype=torch.float64)
    joint.index_put_((q, t), torch.ones(len(q), dtype=torch.float64), accumulate=True)
    purity = float(joint.max(1).values.sum() / joint.sum())
    joint /= joint.sum()
    h_q, h_t, h_qt = _entropy(joint.sum(1)), _entropy(joint.sum(0)), _entropy(joint.flatten())
    mutual = max(h_q + h_t - h_qt, 0.0)
    return {
        "mutual_information": mutual,
        "label_entropy": h_t,
        "cell_entropy": h_q,
        "rho": mutual / h_t if h_t > 0 else 0.0,
        "nmi": 2 * mutual / (h_q + h_t) if h_q + h_t > 0 else 0.0,
        "purity": purity,
    }


@dataclass
class LayerAppropriateness:
    """ρ and its companions of one layer, per number of k-means cells K."""

    layer: str
    channels: int
    stride: float
    samples: int
    #: K → {"rho", "nmi", "purity", "mutual_information", "cell_entropy", "label_entropy",
    #: "mse"} (mse: the quantiser's mean squared error per dimension).
    by_clusters: dict[int, dict[str, float]] = field(default_factory=dict)

    def rho(self, clusters: int) -> float:
        return self.by_clusters[clusters]["rho"]


class FeatureTaps:
    """The features of named nodes of a task head's network (plus ``input`` and ``output``)."""

    def __init__(self, head: TaskHead, layers: Sequence[str]) -> None:
        network = getattr(head, "network", None)
        if network is None:
            raise ConfigError(f"task {head.name!r} has no network whose layers can be read.")
        self.head = head
        self.layers = list(layers)
        nodes = [name for name in self.layers if name not in (INPUT, OUTPUT)]
        self.segments = {}
        if nodes:
            traced = TracedNetwork.trace(network)
            self.segments = {name: traced.segment(None, name) for name in nodes}
        normalize = getattr(head, "normalize", None)
        self.normalize = normalize if isinstance(normalize, torch.nn.Module) else None

    @torch.no_grad()
    def __call__(self, image: Tensor) -> dict[str, Tensor]:
        with evaluating(self.head):
            x = self.normalize(image) if self.normalize is not None else image
            out: dict[str, Tensor] = {}
            for name in self.layers:
                if name == INPUT:
                    out[name] = image
                elif name == OUTPUT:
                    out[name] = self.head(image)
                else:
                    value = self.segments[name](x)
                    if not isinstance(value, Tensor) or value.dim() != 4:
                        raise ConfigError(f"layer {name!r} is not a 4-D feature map.")
                    out[name] = value
        return out


def _labelled_vectors(features: Tensor, batch: dict[str, Any], pool: bool) -> tuple[Tensor, Tensor]:
    """(vectors N×C, labels N) of one batch of features."""
    if pool:
        if batch.get("label") is None:
            raise ConfigError("pooled appropriateness needs image labels ('label' samples).")
        return features.mean((2, 3)), torch.as_tensor(batch["label"]).long().flatten()
    segmentation = batch.get("segmentation")
    if segmentation is None:
        raise ConfigError(
            "per-position appropriateness needs segmentation labels; use pool=True for "
            "image labels."
        )
    labels = torch.stack(list(segmentation)) if isinstance(segmentation, list) else segmentation
    height, width = features.shape[-2:]
    labels = F.interpolate(labels[:, None].float(), size=(height, width), mode="nearest")
    labels = labels[:, 0].long().flatten()
    vectors = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])
    keep = labels != IGNORE_INDEX
    return vectors[keep], labels[keep]


def appropriateness(
    head: TaskHead,
    layers: Sequence[str],
    batches: Iterable[dict[str, Any]],
    clusters: Sequence[int] = (8,),
    max_samples: int = 20000,
    iterations: int = 30,
    seed: int = 0,
    pool: bool = False,
) -> list[LayerAppropriateness]:
    """ρ of every layer of ``head`` on collated ``batches`` (module docstring: the measure)."""
    if not layers:
        raise ConfigError("name at least one layer.")
    if any(k < 2 for k in clusters):
        raise ConfigError("the number of k-means cells must be at least 2.")
    taps = FeatureTaps(head, layers)
    vectors: dict[str, list[Tensor]] = {name: [] for name in layers}
    labels: dict[str, list[Tensor]] = {name: [] for name in layers}
    shapes: dict[str, tuple[int, float]] = {}
    for batch in batches:
        image = batch["image"]
        for name, features in taps(image).items():
            v, t = _labelled_vectors(features.float(), batch, pool)
            vectors[name].append(v)
            labels[name].append(t)
            shapes[name] = (features.shape[1], image.shape[-1] / features.shape[-1])
    results = []
    for name in layers:
        if not vectors[name]:
            raise ConfigError("the dataset gave no images.")
        x, t = torch.cat(vectors[name]), torch.cat(labels[name])
        if len(x) > max_samples:
            generator = torch.Generator().manual_seed(seed)
            pick = torch.randperm(len(x), generator=generator)[:max_samples]
            x, t = x[pick], t[pick]
        channels, stride = shapes[name]
        record = LayerAppropriateness(name, channels, stride, len(x))
        for k in clusters:
            centroids, cells = kmeans(x, k, iterations, seed)
            mse = float(((x.double() - centroids[cells]) ** 2).mean())
            record.by_clusters[k] = information(cells, t) | {"mse": mse}
        results.append(record)
    return results


def table(results: Sequence[LayerAppropriateness], clusters: Sequence[int]) -> str:
    """A markdown table: one row per layer, ρ (and NMI, purity) per K."""
    header = ["layer", "channels", "stride", "samples"]
    for k in clusters:
        header += [f"ρ K={k}", f"NMI K={k}", f"purity K={k}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        cells = [r.layer, str(r.channels), f"{r.stride:g}", str(r.samples)]
        for k in clusters:
            values = r.by_clusters[k]
            cells += [f"{values['rho']:.3f}", f"{values['nmi']:.3f}", f"{values['purity']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(results: Sequence[LayerAppropriateness], clusters: Sequence[int], path_prefix: str):
    """ρ over the layers (one line per K): ``PREFIX.png`` and ``PREFIX.svg``; returns them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(max(5.0, 0.9 * len(results) + 2), 3.8))
    positions = list(range(len(results)))
    for k in clusters:
        axis.plot(positions, [r.rho(k) for r in results], marker="o", label=f"K = {k}")
    axis.set_xticks(positions, [r.layer for r in results], rotation=30, ha="right")
    axis.set_ylabel("task appropriateness ρ = I(Q;T)/H(T)")
    axis.set_ylim(0, max(1e-3, max(r.rho(k) for r in results for k in clusters)) * 1.15)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize="small")
    fig.tight_layout()
    paths = [f"{path_prefix}.png", f"{path_prefix}.svg"]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1], metadata={"Date": None})
    plt.close(fig)
    return paths


def as_json(results: Sequence[LayerAppropriateness]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        record = asdict(r)
        record["by_clusters"] = {str(k): v for k, v in r.by_clusters.items()}
        out.append(record)
    return out


__all__ = [
    "LayerAppropriateness",
    "appropriateness",
    "as_json",
    "information",
    "kmeans",
    "plot",
    "table",
]
