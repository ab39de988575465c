"""Task heads (segmentation, detection, depth, classification) and their metrics."""

from hmcodec.tasks import segmentation  # noqa: F401  (registers the heads)
from hmcodec.tasks.base import TASKS, TaskHead, TaskMetric, build_task

__all__ = ["TASKS", "TaskHead", "TaskMetric", "build_task"]
