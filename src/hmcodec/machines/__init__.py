"""Coding for machines beyond scalable coding (Harell et al., rate–distortion theory in CfM).

* full-input coding: the ``full-input`` task head on a ``scalable`` codec with method ``direct``
  (the decoded image goes to the task model), unsupervised (RMSE) or supervised (task loss);
* model splitting and direct coding: the ``split`` and ``direct-features`` architectures live
  with the other codecs, in :mod:`hmcodec.codec.split`; they cut task models with
  :mod:`hmcodec.machines.cut`;
* task appropriateness ρ of a layer (Figs. 2–3): :mod:`hmcodec.machines.appropriateness`.

Importing this package registers the task heads. It imports nothing of :mod:`hmcodec.codec`
(which imports from it), so there is no import circle.
"""

from hmcodec.machines import tasks  # noqa: F401  (importing registers them)
from hmcodec.machines.cut import node_names
from hmcodec.machines.tasks import FullInputTask, load_task_weights

__all__ = [
    "FullInputTask",
    "load_task_weights",
    "node_names",
]
