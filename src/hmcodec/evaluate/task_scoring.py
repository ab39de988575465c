"""A task model's metrics on the decoded images of another codec (``hmcodec baselines
--task-model``): :class:`TaskScorer` keeps each dataset sample's targets, scores the
uncompressed images, then each decoded set, exactly as ``hmcodec eval`` scores
``uncompressed_*`` (:func:`~hmcodec.evaluate.learned.score_task`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hmcodec.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from hmcodec.checkpoint import LoadedModel


def dataset_images(
    spec: dict[str, Any], max_images: int | None, task: TaskScorer | None
) -> tuple[list[np.ndarray], list[str]]:
    """The first ``max_images`` images of the dataset ``spec`` as uint8 and their names; with
    ``task``, each sample's targets are kept and the uncompressed image is scored."""
    from hmcodec.data import build_dataset
    from hmcodec.evaluate.learned import sample_name
    from hmcodec.io import to_uint8

    data = build_dataset(spec)
    count = len(data)  # type: ignore[arg-type]
    count = count if max_images is None else min(count, max_images)
    if count <= 0:
        raise ConfigError(f"dataset {spec['name']!r} holds no images.")
    images, names = [], []
    for index in range(count):
        sample = data[index]
        images.append(to_uint8(sample["image"]))
        names.append(sample_name(sample, index))
        if task is not None:
            task.add_sample(sample)
    if task is not None:
        task.finish_uncompressed(spec)
    return images, names


class TaskScorer:
    """A model's task head on decoded images, scored against the targets of the dataset's
    samples exactly as ``hmcodec eval`` scores ``uncompressed_*`` (``learned.score_task``)."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        #: per image: its targets as a batch of one (``collate``, no image), or ``None``.
        self.batches: list[dict[str, Any] | None] = []
        self.uncompressed: dict[str, float] = {}
        self._metric = model.codec.task.metric()

    @classmethod
    def load(cls, path: Path) -> TaskScorer:
        from hmcodec.checkpoint import load_model

        return cls(load_model(path))

    def add_sample(self, sample: dict[str, Any]) -> None:
        """Keep ``sample``'s targets and score its uncompressed image."""
        from hmcodec.data import collate
        from hmcodec.evaluate.learned import has_task_targets, score_task

        if not has_task_targets(self.model, sample):
            self.batches.append(None)
            return
        batch = collate([{k: v for k, v in sample.items() if k != "image"}])
        score_task(self.model, self._metric, sample["image"], batch)
        self.batches.append(batch)

    def finish_uncompressed(self, spec: dict[str, Any]) -> None:
        """Compute the uncompressed metrics; ``ConfigError`` if no sample had the targets."""
        if not any(b is not None for b in self.batches):
            keys = ", ".join(self.model.codec.task.target_keys) or "none"
            raise ConfigError(
                f"no sample of dataset {spec['name']!r} has the targets ({keys}) that the task "
                f"of {self.model.name} needs."
            )
        self.uncompressed = {k: float(v) for k, v in self._metric.compute().items()}

    def __call__(self, decoded: list[np.ndarray]) -> dict[str, float]:
        """The task metrics on ``decoded`` (uint8 H×W×3, in the samples' order)."""
        from hmcodec.evaluate.learned import score_task
        from hmcodec.io import from_uint8

        metric = self.model.codec.task.metric()
        for image, batch in zip(decoded, self.batches, strict=True):
            if batch is not None:
                score_task(self.model, metric, from_uint8(image), batch)
        return {k: float(v) for k, v in metric.compute().items()}

    def provenance(self) -> dict[str, object]:
        """The task model and its metrics on the uncompressed images, for every point."""
        model = self.model
        return {
            "task_model": str(model.path),
            "task_model_fingerprint": model.fingerprint.hex(),
            "task_images": sum(b is not None for b in self.batches),
        } | {f"uncompressed_{k}": v for k, v in self.uncompressed.items()}

    def description(self) -> str:
        """The task model and its uncompressed metrics, for results descriptions."""
        values = ", ".join(f"uncompressed_{k} = {v:.4f}" for k, v in self.uncompressed.items())
        return f"task metrics from the task head of {self.model.path} ({values})"
