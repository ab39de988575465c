"""Cut a task network at a named node: the front runs at the encoder, the back at the decoder.

Model splitting in Harell et al. (Fig. 1b): the task model is divided at a cut point Y; the
encoder runs the front X → Y and codes Y, the decoder runs the back Ŷ → T̂ on the decoded
tensor. Node names are those of torchvision's feature extraction (``get_graph_node_names``):
``"layer2"`` (the output of that module), ``"backbone.4"``, ``"classifier.4"``…; the network is
traced once with torch.fx and the graph is divided at the node, so any FX-traceable network
works, torchvision's ResNets, DeepLabV3 and LRASPP included.

A cut is valid when the back depends on the input only through the cut tensor: it may read the
input's *shape* (torchvision's segmentation models upsample their logits to the input size), for
which the decoder passes a zero-stride stand-in of the image size, but never an earlier
activation (a skip connection across the cut) or the input's values. The mid-model of direct
coding (Fig. 4: from the cut Y1 to the distillation point Y2) is a segment of the same graph.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, fx, nn

from hmcodec.errors import ConfigError
from hmcodec.tasks.weights import evaluating

#: the name of the network's own output as a segment end (the logits, Y2 = T in Fig. 4).
OUTPUT = "output"
#: the name of the network's input as an analysis point (the pixels).
INPUT = "input"

_SHAPE_METHODS = ("size", "dim")


def _tracer_kwargs() -> dict[str, Any]:
    """torchvision's default tracer settings (its ops, e.g. FrozenBatchNorm2d, stay leaves)."""
    from torchvision.models import feature_extraction  # deferred: torchvision is slow to import

    defaults = getattr(feature_extraction, "_set_default_tracer_kwargs", None)
    return defaults(None) if defaults is not None else {}


def shape_proxy(like: Tensor, channels: int = 3) -> Tensor:
    """A zero-stride N×channels×H×W stand-in with ``like``'s batch and size (no memory)."""
    n, height, width = like.shape[0], like.shape[-2], like.shape[-1]
    return like.new_zeros(()).expand(n, channels, height, width)


@dataclass
class TracedNetwork:
    """A network's FX graph with torchvision's node names."""

    network: nn.Module
    graph: fx.Graph
    names: dict[fx.Node, str]

    @classmethod
    def trace(cls, network: nn.Module) -> TracedNetwork:
        from torchvision.models import feature_extraction

        tracer = feature_extraction.NodePathTracer(**_tracer_kwargs())
        try:
            with evaluating(network):
                graph = tracer.trace(network)
        except Exception as error:  # FX raises many types on untraceable control flow
            raise ConfigError(
                f"the task network {type(network).__name__} cannot be traced by torch.fx, so it "
                f"cannot be cut ({type(error).__name__}: {error})."
            ) from None
        return cls(network, graph, dict(tracer.node_to_qualname))

    @property
    def input(self) -> fx.Node:
        return next(n for n in self.graph.nodes if n.op == "placeholder")

    @property
    def output(self) -> fx.Node:
        return next(n for n in self.graph.nodes if n.op == "output")

    def node_names(self) -> list[str]:
        return list(self.names.values())

    def find(self, name: str) -> fx.Node:
        """The node called ``name``; a module's name gives its last node (its output)."""
        if name == OUTPUT:
            return self.output
        depth = name.count(".")
        found = None
        for node, qualname in self.names.items():
            if ".".join(qualname.split(".")[: depth + 1]) == name:
                found = node
        if found is None:
            modules = list(dict.fromkeys(q.split(".")[0] for q in self.names.values()))
            raise ConfigError(
                f"the task network has no node {name!r}; top-level names: "
                f"{', '.join(modules[:20])} (hmcodec.machines.cut.node_names lists all)."
            )
        return found

    def _is_input_shape(self, node: fx.Node) -> bool:
        """``x.shape``, ``x.size()`` or ``x.dim()`` of the network input itself."""
        if not node.args or node.args[0] is not self.input:
            return False
        if node.op == "call_function" and node.target is builtins.getattr:
            return bool(node.args[1] == "shape")
        return node.op == "call_method" and node.target in _SHAPE_METHODS

    @staticmethod
    def _ancestors(node: fx.Node) -> set[fx.Node]:
        seen: set[fx.Node] = set()
        stack = [node]
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(current.all_input_nodes)
        return seen

    def segment(self, start: str | None, end: str) -> fx.GraphModule:
        """The sub-network from node ``start`` (None: the input) to node ``end``.

        Without ``start`` it takes the image; with it, ``(features, image)`` where only the
        image's shape may be read. Raises ``ConfigError`` if the segment needs an activation
        from before ``start`` other than ``start`` itself.
        """
        begin = self.find(start) if start is not None else None
        finish = self.find(end)
        outputs = finish.args[0] if finish.op == "output" else finish
        # nodes whose value depends on the input other than through ``begin``
        upstream: dict[fx.Node, bool] = {}
        for node in self.graph.nodes:
            if node is self.input:
                upstream[node] = True
            elif node is begin or self._is_input_shape(node):
                upstream[node] = False
            else:
                upstream[node] = any(upstream[m] for m in node.all_input_nodes)
        needed: set[fx.Node] = set()
        stack: list[fx.Node] = []
        fx.node.map_arg(outputs, stack.append)
        while stack:
            node = stack.pop()
            if node in needed:
                continue
            needed.add(node)
            if node is not begin and node is not self.input:
                stack.extend(node.all_input_nodes)
        if begin is not None:
            if begin not in needed:
                raise ConfigError(f"{end!r} does not depend on the cut {start!r}.")
            bad = [n for n in needed if n is not self.input and upstream[n]]
            front_nodes = self._ancestors(begin)
            # activations of the front, other than the cut, that the segment reads directly
            crossing = [
                n
                for n in bad
                if n in front_nodes and any(u in needed and u not in front_nodes for u in n.users)
            ] or bad
            labels = [self.names.get(n, n.name) for n in crossing]
            if labels:
                raise ConfigError(
                    f"the task network cannot be cut at {start!r}: the part after it also reads "
                    f"{', '.join(sorted(labels)[:4])} from before the cut (a skip connection); "
                    "choose a cut that every later layer sees only through it."
                )
        graph = fx.Graph()
        env: dict[fx.Node, fx.Node] = {}
        if begin is None:
            env[self.input] = graph.placeholder("image")
        else:
            env[begin] = graph.placeholder("features")
            env[self.input] = graph.placeholder("image")
        for node in self.graph.nodes:
            if node in needed and node not in env:
                env[node] = graph.node_copy(node, lambda n: env[n])
        graph.output(fx.node.map_arg(outputs, lambda n: env[n]))
        return fx.GraphModule(self.network, graph, f"{type(self.network).__name__}Segment")


def node_names(network: nn.Module) -> list[str]:
    """Every node name of ``network`` usable as a cut or distillation point."""
    return TracedNetwork.trace(network).node_names()


class Front(nn.Module):
    """X → Y: the encoder's part of the task model (with the model's input normalisation)."""

    def __init__(self, segment: fx.GraphModule, normalize: nn.Module | None = None) -> None:
        super().__init__()
        self.segment = segment
        self.normalize = normalize if normalize is not None else nn.Identity()

    def forward(self, image: Tensor) -> Tensor:
        return self.segment(self.normalize(image))


class Back(nn.Module):
    """Ŷ → T̂: the decoder's part; ``image_size`` is all it knows of the image."""

    def __init__(self, segment: fx.GraphModule) -> None:
        super().__init__()
        self.segment = segment

    def forward(self, features: Tensor, like: Tensor) -> Any:
        return self.segment(features, shape_proxy(like))


def probe(front: nn.Module, size: int = 64) -> tuple[int, int]:
    """(channels, stride) of the front's output for a ``size``×``size`` input.

    Raises ``ConfigError`` unless the cut tensor is a 4-D map whose size divides ``size``.
    """
    with torch.no_grad(), evaluating(front):
        features = front(torch.zeros(1, 3, size, size))
    if not isinstance(features, Tensor) or features.dim() != 4:
        raise ConfigError("the cut must be a 4-D feature map (N×C×h×w).")
    height, width = features.shape[-2:]
    if height != width or size % height:
        raise ConfigError(
            f"the cut's feature map is {height}×{width} for a {size}×{size} input; its stride "
            "must be an integer (set options.probe_size to a multiple of it)."
        )
    return int(features.shape[1]), size // int(height)


__all__ = [
    "INPUT",
    "OUTPUT",
    "Back",
    "Front",
    "TracedNetwork",
    "node_names",
    "probe",
    "shape_proxy",
]
