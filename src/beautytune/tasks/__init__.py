"""Tasks: one module each, one registry line each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from beautytune.errors import BeautytuneError
from beautytune.tasks.base import Task
from beautytune.tasks.face_verification import FaceVerification
from beautytune.tasks.image_classification import ImageClassification
from beautytune.tasks.text_classification import TextClassification

if TYPE_CHECKING:
    from beautytune.config import RunConfig

TASKS: dict[str, type[Task]] = {
    cls.name: cls for cls in (ImageClassification, TextClassification, FaceVerification)
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]()
    except KeyError:
        raise BeautytuneError(f"unknown task '{name}': use one of {', '.join(TASKS)}") from None


def task_for(cfg: RunConfig) -> Task:
    """The task a run means: as given, or text classification when a text column is named."""
    if cfg.task != "auto":
        return get_task(cfg.task)
    return get_task("text-classification" if cfg.text_col else "image-classification")


__all__ = ["TASKS", "Task", "get_task", "task_for"]
