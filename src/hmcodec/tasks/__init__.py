"""Task heads (segmentation, detection, depth, classification) and their metrics."""

from hmcodec.tasks import (  # noqa: F401  (importing registers the heads)
    classification,
    depth,
    detection,
    segmentation,
)
from hmcodec.tasks.base import TASKS, TaskHead, TaskMetric, build_task

__all__ = ["TASKS", "TaskHead", "TaskMetric", "build_task"]
