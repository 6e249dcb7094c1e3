"""Text classification: review sentiment, complaint types, anything with one label per text.

The processor is the encoder's tokenizer plus a token limit; batches are padded per batch
(``input_ids``, ``attention_mask``); the network is a Hugging Face encoder, mean-pooled,
under the same heads every task uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from beautytune.config import RunConfig
from beautytune.data.audit import AuditReport
from beautytune.data.records import Record
from beautytune.data.text_audit import audit_text_records
from beautytune.data.text_sources import load_text_records
from beautytune.errors import InputError, WeightsError
from beautytune.models.heads import build_head
from beautytune.models.network import Classifier
from beautytune.models.text_encoders import (
    build_text_backbone,
    load_text_backbone_from_folder,
    load_tokenizer,
    resolve_text_encoder,
    save_encoder_files,
)
from beautytune.tasks.base import Batch, Built, ExportSpec, ItemsDataset, Task

ENCODER_DIR = "encoder"  # in a bundle: the encoder's config.json and tokenizer files

#: real-looking reviews for ONNX parity when the caller gives none (different lengths on purpose)
SAMPLE_TEXTS = (
    "Love this moisturizer, my skin feels soft all day.",
    "Broke me out after two days. Returned it.",
    "It's okay. The scent is strong but it absorbs fast and the pump works fine, nothing special for the price.",
    "meh",
)


@dataclass
class TextProcessor:
    tokenizer: Any
    max_length: int
    encoder: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "tokenizer",
            "encoder": self.encoder,
            "max_length": self.max_length,
            "files": ENCODER_DIR,
        }


class TextClassifier(Classifier):
    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.backbone(input_ids, attention_mask)  # type: ignore[no-any-return]


class TextClassification(Task):
    name = "text-classification"
    modality = "text"
    default_backbone = "minilm"
    noun = "text"
    input_key = "text"

    def read(self, data: str | Path, cfg: RunConfig) -> list[Record]:
        return load_text_records(
            data,
            text_col=cfg.text_col or "text",
            label_col=cfg.label_col,
            label_from_rating=cfg.label_from_rating,
            rating_thresholds=cfg.rating_thresholds,
            group_col=cfg.group_col,
            split_col=cfg.split_col,
        )

    def audit(
        self, records: list[Record], cfg: RunConfig, *, known_labels: list[str] | None = None, progress: bool
    ) -> AuditReport:
        source = resolve_text_encoder(cfg.backbone_name(self))
        tokenizer = load_tokenizer(source.path)
        limit = cfg.max_length or source.max_length

        def count(texts: list[str]) -> list[int]:
            # verbose=False: counting overlong texts is the point, not a reason to warn
            return [len(ids) for ids in tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]]

        return audit_text_records(
            records, known_labels=known_labels, max_tokens=limit, count_tokens=count, progress=progress
        )

    def check_backbone(self, cfg: RunConfig) -> None:
        if cfg.weights is not None:
            raise WeightsError(
                "text encoders come as a folder: pass --backbone PATH (a Hugging Face model folder)"
            )
        if cfg.drop_path > 0 or cfg.mixup > 0 or cfg.cutmix > 0 or cfg.adapt_to:
            raise WeightsError(
                "--drop-path, --mixup, --cutmix and --adapt-to are for image backbones: text "
                "encoders have dropout of their own, texts do not mix, and they have no BatchNorm"
            )
        resolve_text_encoder(cfg.backbone_name(self))

    def build(self, cfg: RunConfig, num_classes: int) -> Built:
        source = resolve_text_encoder(cfg.backbone_name(self))
        backbone = build_text_backbone(source, init=cfg.init).train()  # from_pretrained gives eval mode
        head = build_head(backbone.num_features, num_classes, cfg.head_hidden, cfg.head_dropout)
        processor = TextProcessor(
            load_tokenizer(source.path), cfg.max_length or source.max_length, source.name
        )
        weights = source.source if cfg.init == "pretrained" else "random init"
        return Built(TextClassifier(backbone, head), processor, source.name, weights)

    def dataset(
        self, records: list[Record], targets: list[int], processor: Any, cfg: RunConfig, *, train: bool
    ) -> Dataset[tuple[Any, int]]:
        return ItemsDataset([r.text or "" for r in records], targets, _identity)

    def collate(self, processor: Any) -> Callable[[list[tuple[Any, int]]], Batch]:
        def collate(items: list[tuple[Any, int]]) -> Batch:
            enc = processor.tokenizer(
                [t for t, _ in items],
                padding=True,
                truncation=True,
                max_length=processor.max_length,
                return_tensors="pt",
            )
            inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
            return inputs, torch.tensor([y for _, y in items], dtype=torch.long)

        return collate

    def prepare_input(self, item: Any, processor: Any) -> Any:
        if not isinstance(item, str):
            raise InputError(f"expected a text, got {type(item).__name__}")
        if not item.strip():
            raise InputError("empty text")
        return item

    def cost(self, item: Any) -> int:
        return len(item) if isinstance(item, str) else 0

    def input_name(self, item: Any) -> str:
        return item if isinstance(item, str) else f"<{type(item).__name__}>"

    def record_input(self, record: Record) -> Any:
        return record.text or ""

    def example_text(self, record: Record) -> str | None:
        return record.text or ""

    def processor_meta(self, processor: Any) -> dict[str, Any]:
        return processor.to_dict()  # type: ignore[no-any-return]

    def save_files(self, built_processor: Any, model: Classifier, folder: Path) -> None:
        save_encoder_files(
            model.backbone,  # type: ignore[arg-type]
            built_processor.tokenizer,
            folder / ENCODER_DIR,
            max_length=built_processor.max_length,
        )

    def load(
        self, backbone: str, processor: dict[str, Any], head: dict[str, Any], num_classes: int, folder: Path
    ) -> tuple[Classifier, Any]:
        files = folder / str(processor.get("files", ENCODER_DIR))
        if not (files / "config.json").is_file():
            raise WeightsError(f"{folder} lacks {files.name}/config.json: the text bundle is incomplete")
        encoder = load_text_backbone_from_folder(files)
        hidden = tuple(head.get("hidden", ()))
        net = TextClassifier(
            encoder, build_head(encoder.num_features, num_classes, hidden, float(head.get("dropout", 0.0)))
        )
        return net, TextProcessor(
            load_tokenizer(files), int(processor["max_length"]), str(processor.get("encoder", backbone))
        )

    def export_spec(self, processor: Any, examples: Sequence[Any] | None = None) -> ExportSpec:
        texts = [str(t) for t in examples] if examples else list(SAMPLE_TEXTS)
        inputs, _ = self.collate(processor)([(t, 0) for t in texts])
        axes = {name: {0: "batch", 1: "sequence"} for name in inputs}
        return ExportSpec((inputs["input_ids"], inputs["attention_mask"]), list(inputs), axes)


def _identity(x: Any) -> Any:
    return x
