"""CompressAI's coder and layers without the rest of its package: a command line that starts fast.

hmcodec codes with ``compressai.ans``, ``compressai._CXX``, ``compressai.layers``,
``compressai.ops`` and ``compressai.entropy_models.EntropyBottleneck``. Importing any of them runs
CompressAI's package ``__init__``, which eagerly imports every subpackage: its point-cloud
datasets (``torch_geometric``, ``torch._dynamo``), the model zoo, the latent codecs and losses.
Measured on this project's 2-core machine beside one busy process (``python -X importtime -m
hmcodec decode``): 6.5 s of a 11.3 s start-up, 4.3 s of it for ``compressai.datasets`` alone.
(``compressai.entropy_models`` also imports ``scipy.stats``, about 2 s, for its
``GaussianConditional``; :mod:`hmcodec.entropy.factorized` therefore imports it only when a
factorized model, or a hyperprior's, is built.)

:func:`install` (called first thing by :mod:`hmcodec.entropy`) creates the ``compressai``
package module from its own ``__init__`` minus that one eager import statement, and gives it a
PEP 562 ``__getattr__`` that imports a skipped subpackage on first use, so ``import compressai;
compressai.zoo`` or ``compressai.models`` work as before, for users and for ``hmcodec bench``.
It is a no-op where CompressAI is already imported.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import types


def install() -> None:
    """Defer CompressAI's subpackages until something uses them."""
    if "compressai" in sys.modules:
        return
    spec = importlib.util.find_spec("compressai")
    if spec is None or spec.loader is None or spec.origin is None:
        return  # not installed: the import that needs it says so
    source = spec.loader.get_source("compressai")  # type: ignore[attr-defined]
    if source is None:
        return
    tree = ast.parse(source, spec.origin)
    eager = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "compressai" and node.level == 0
    ]
    skipped = {alias.name for node in eager for alias in node.names}
    tree.body = [node for node in tree.body if node not in eager]
    module = importlib.util.module_from_spec(spec)

    def subpackage(name: str) -> types.ModuleType:
        if name in skipped:
            return importlib.import_module(f"compressai.{name}")
        raise AttributeError(f"module 'compressai' has no attribute {name!r}")

    module.__getattr__ = subpackage  # type: ignore[method-assign]
    sys.modules["compressai"] = module
    try:
        exec(compile(tree, spec.origin, "exec"), module.__dict__)
    except BaseException:
        del sys.modules["compressai"]
        raise
