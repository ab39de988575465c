"""Coding for machines beyond scalable coding (Harell et al., rate–distortion theory in CfM).

* full-input coding: the ``full-input`` task head on a ``scalable`` codec with method ``direct``
  (the decoded image goes to the task model), unsupervised (RMSE) or supervised (task loss);
* model splitting: the ``split`` architecture (front of the task model → feature codec → back);
* direct coding: the ``direct-features`` architecture (image → features at Y1, distillation at
  Y2 through the frozen mid-model, Fig. 4);
* task appropriateness ρ of a layer (Figs. 2–3): :mod:`hmcodec.machines.appropriateness`.

Importing this package registers the architectures and task heads.
"""

from hmcodec.machines import split, tasks  # noqa: F401  (importing registers them)
from hmcodec.machines.cut import node_names
from hmcodec.machines.split import DirectFeaturesCodec, SplitCodec, SplitOptions, SplitTask
from hmcodec.machines.tasks import FullInputTask, load_task_weights

__all__ = [
    "DirectFeaturesCodec",
    "FullInputTask",
    "SplitCodec",
    "SplitOptions",
    "SplitTask",
    "load_task_weights",
    "node_names",
]
