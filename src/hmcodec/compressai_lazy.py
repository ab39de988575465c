"""CompressAI without its eager package ``__init__``: its subpackages load on first use.

CompressAI's ``compressai/__init__.py`` starts with ``from compressai import (datasets,
entropy_models, latent_codecs, layers, losses, models, ops, optimizers, registry, transforms,
typing, zoo)``: any ``import compressai.<anything>`` runs it, and with it the point-cloud
datasets (torch_geometric, which imports torch._dynamo and torch._inductor), torchvision,
pandas, the zoo (requests) and the models. Measured on the 2-core development machine (busy):
``import compressai`` took 10.7 s on top of ``import torch`` (4.7 s), 7.2 s of it in
``compressai.datasets``. hmcodec codes with ``compressai._CXX``, ``compressai.ans``,
``compressai.layers``, ``compressai.ops`` and ``compressai.entropy_models`` only; together they
cost a fraction of that (``compressai.entropy_models`` imports ``scipy.stats``).

:func:`install` creates the ``compressai`` package module from its import spec and runs its
real ``__init__`` source without that one statement (everything else, e.g.
``get_entropy_coder`` and ``__version__``, is defined as usual), and gives the module a PEP 562
``__getattr__`` that imports a dropped subpackage on first access: ``import compressai;
compressai.models.ScaleHyperprior`` and ``from compressai import zoo`` work as before, only
later. A submodule import (``import compressai.layers``) needs nothing from this module.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from importlib.abc import InspectLoader
from types import ModuleType

__all__ = ["install"]


def _eager_subpackages(node: ast.stmt) -> list[str] | None:
    """The names of ``from compressai import a, b, ...`` (absolute, no aliases), else None."""
    if not isinstance(node, ast.ImportFrom) or node.module != "compressai" or node.level:
        return None
    if any(alias.asname is not None or alias.name == "*" for alias in node.names):
        return None
    return [alias.name for alias in node.names]


def install() -> ModuleType | None:
    """Import ``compressai`` with its subpackages deferred; the module, or None if CompressAI
    is missing (the caller's own ``import compressai.x`` then says so).

    A no-op (returning the module) when ``compressai`` is already imported, and a plain
    ``import compressai`` when its ``__init__`` has no eager import of its subpackages."""
    if "compressai" in sys.modules:
        return sys.modules["compressai"]
    spec = importlib.util.find_spec("compressai")
    if spec is None:
        return None
    loader = spec.loader
    source = loader.get_source("compressai") if isinstance(loader, InspectLoader) else None
    if source is None or spec.origin is None or spec.submodule_search_locations is None:
        return importlib.import_module("compressai")
    tree = ast.parse(source, spec.origin)
    deferred: list[str] = []
    body = []
    for node in tree.body:
        names = _eager_subpackages(node)
        if names is None:
            body.append(node)
        else:
            deferred += names
    if not deferred:
        return importlib.import_module("compressai")
    tree.body = body
    module = importlib.util.module_from_spec(spec)
    lazy = frozenset(deferred)

    def __getattr__(name: str) -> ModuleType:
        if name in lazy:
            # importing the submodule also binds it as the package's attribute
            return importlib.import_module(f"compressai.{name}")
        raise AttributeError(f"module 'compressai' has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(module.__dict__) | lazy)

    module.__dict__["__getattr__"] = __getattr__
    module.__dict__["__dir__"] = __dir__
    sys.modules["compressai"] = module
    try:
        exec(compile(tree, spec.origin, "exec"), module.__dict__)  # noqa: S102 - CompressAI's own code
    except BaseException:
        del sys.modules["compressai"]
        raise
    return module
