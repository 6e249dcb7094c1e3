"""What a job is: how its records are read and audited, prepared, batched, shown and exported.

The training loop, the Predictor and the report never look at the modality; they ask the
task. A batch is always ``(inputs, targets)`` where ``inputs`` is a dict the model takes
as ``model(**inputs)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch.utils.data import Dataset

if TYPE_CHECKING:
    from beautytune.config import RunConfig
    from beautytune.data.audit import AuditReport
    from beautytune.data.records import Record
    from beautytune.models.network import Classifier

Batch = tuple[dict[str, torch.Tensor], torch.Tensor]


@dataclass
class Built:
    """A freshly built network, the processor that feeds it, and where its weights came from."""

    model: Classifier
    processor: Any
    backbone: str
    weights_source: str


@dataclass(frozen=True)
class ExportSpec:
    """Example inputs for ONNX export: positional tensors, their names and dynamic axes."""

    args: tuple[torch.Tensor, ...]
    input_names: list[str]
    dynamic_axes: dict[str, dict[int, str]]
    output_name: str = "probabilities"


class WithSoftmax(torch.nn.Module):
    """Probabilities out, with the bundle's temperature."""

    def __init__(self, model: torch.nn.Module, temperature: float = 1.0) -> None:
        super().__init__()
        self.model = model
        self.temperature = temperature

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(*args) / self.temperature, dim=1)


class ItemsDataset(Dataset[tuple[Any, int]]):
    """Prepared items and their class indices; the task's ``prepare`` runs per access."""

    def __init__(self, items: Sequence[Any], targets: list[int], prepare: Callable[[Any], Any]) -> None:
        self.items = items
        self.targets = targets
        self.prepare = prepare

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        return self.prepare(self.items[i]), self.targets[i]


class Task(ABC):
    name: ClassVar[str]
    modality: ClassVar[str]
    default_backbone: ClassVar[str]
    #: what one example is called in messages ("image", "review")
    noun: ClassVar[str] = "example"
    #: the key naming an input in predictions ("path", "text")
    input_key: ClassVar[str] = "path"

    # --- records ------------------------------------------------------------------
    @abstractmethod
    def read(self, data: str | Path, cfg: RunConfig) -> list[Record]:
        """The dataset table; per-row problems become ``Record.problem``, never a raise."""

    @abstractmethod
    def audit(
        self, records: list[Record], cfg: RunConfig, *, known_labels: list[str] | None = None, progress: bool
    ) -> AuditReport: ...

    def check_backbone(self, cfg: RunConfig) -> None:  # noqa: B027 - optional hook
        """Fail fast (before any data is read) when the backbone or its weights are unusable."""

    # --- split, classes, evaluation -------------------------------------------------
    #: whether a temperature is fitted on validation (classifiers; not embeddings)
    calibrates: ClassVar[bool] = True

    def split(self, records: list[Record], seed: int, val_frac: float, test_frac: float) -> list[Record]:
        """Train / val / test with no group on two sides."""
        from beautytune.data.split import split_records

        return split_records(records, seed=seed, val_frac=val_frac, test_frac=test_frac)

    def class_names(self, records: list[Record]) -> list[str]:
        """The model's outputs, in index order."""
        from beautytune.data.records import class_names

        return class_names(records)

    def evaluate(self, predictor: Any, records: list[Record], out_dir: Path, **kw: Any) -> dict[str, Any]:
        """Score the shipped model on the test split of ``records`` and write its report."""
        from beautytune.data.records import by_split
        from beautytune.evaluate.evaluate import evaluate_records

        return evaluate_records(predictor, by_split(records, "test"), out_dir, **kw)

    # --- model and processor --------------------------------------------------------
    @abstractmethod
    def build(self, cfg: RunConfig, num_classes: int) -> Built: ...

    @abstractmethod
    def dataset(
        self, records: list[Record], targets: list[int], processor: Any, cfg: RunConfig, *, train: bool
    ) -> Dataset[tuple[Any, int]]: ...

    @abstractmethod
    def collate(self, processor: Any) -> Callable[[list[tuple[Any, int]]], Batch]: ...

    @abstractmethod
    def prepare_input(self, item: Any, processor: Any) -> Any:
        """One raw input (a path, PIL image, bytes or text) -> what ``collate`` batches.

        Raises ``beautytune.errors.InputError`` for an unusable input; the Predictor
        reports it for that input and goes on.
        """

    #: test-time augmentation modes this task offers (besides "none")
    tta_modes: ClassVar[tuple[str, ...]] = ()

    def tta_views(self, prepared: Any, mode: str) -> list[Any]:
        """Views of one prepared input whose probabilities are averaged (test-time augmentation)."""
        return [prepared]

    def cost(self, item: Any) -> int:
        """A size hint for a prepared item: batching similar sizes together cuts padding."""
        return 0

    def expand_inputs(self, inputs: Sequence[Any]) -> list[Any]:
        """What a user passed to predict -> one input each (a folder becomes its images)."""
        return list(inputs)

    def input_name(self, item: Any) -> str:
        """How an input is named in predictions (its path, or the start of its text)."""
        return str(item)

    def record_input(self, record: Record) -> Any:
        """The raw input behind a record (its path, or its text)."""
        return record.path

    # --- bundle ---------------------------------------------------------------------
    @abstractmethod
    def processor_meta(self, processor: Any) -> dict[str, Any]: ...

    def save_files(self, built_processor: Any, model: Classifier, folder: Path) -> None:  # noqa: B027
        """Extra files the bundle needs to rebuild the model (a tokenizer, a config)."""

    @abstractmethod
    def load(
        self, backbone: str, processor: dict[str, Any], head: dict[str, Any], num_classes: int, folder: Path
    ) -> tuple[Classifier, Any]:
        """Rebuild the architecture (no original weights) and the processor from a bundle."""

    # --- export and report ----------------------------------------------------------
    @abstractmethod
    def export_spec(self, processor: Any, examples: Sequence[Any] | None = None) -> ExportSpec: ...

    def export_module(self, model: Classifier, temperature: float) -> torch.nn.Module:
        """What the ONNX graph computes: calibrated probabilities, the Predictor's numbers."""
        return WithSoftmax(model, temperature)

    def slices(
        self, records: list[Record], processor: Any
    ) -> dict[str, tuple[list[str | None], tuple[str, ...]]]:
        """Named ways to cut an evaluation set: a bucket per record (None: unknown) and the
        buckets' order. Reports score every slice separately (a face model: by skin tone)."""
        return {}

    def example_text(self, record: Record) -> str | None:
        """Text to show for an example in a report; None means show a thumbnail of its path."""
        return None
