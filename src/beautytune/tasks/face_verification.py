"""Face verification: an embedding that says whether two photos show one person, robust to
makeup. The data is a face-photo table whose group column names the person and whose label
column is the photo's condition (makeup / no_makeup).

The split keeps the test people unseen: they are held out as whole people (stratified by
condition, the same people a plain `fit` of the condition would test on); validation is a
share of the *training* people's other photos, where identification over the training
identities chooses the epoch. The test report judges every pair of test photos: TAR at FAR
1% and 0.1%, cross-condition vs same-condition (faces/verification.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from beautytune.config import RunConfig
from beautytune.data.records import Record, by_split
from beautytune.errors import BeautytuneError, DataError, InputError
from beautytune.models.embedding import EmbeddingClassifier, EmbeddingHead
from beautytune.models.network import Classifier, HeadConfig, build_classifier
from beautytune.models.registry import Preprocess, get_spec
from beautytune.tasks.base import Built, ExportSpec
from beautytune.tasks.image_classification import ImageClassification

#: strategies that fit a closed-form classifier into ``fc``: an ArcFace head has none
CLOSED_FORM = ("features", "prototype", "lp-ft", "wise-ft")


class FaceVerification(ImageClassification):
    name = "face-verification"
    noun = "photo"
    calibrates: ClassVar[bool] = False

    def read(self, data: str | Path, cfg: RunConfig) -> list[Record]:
        records = super().read(data, cfg)
        # the model learns who is in the photo; the label column says in which condition
        return [replace(r, label=r.group, condition=r.label) for r in records]

    def check_backbone(self, cfg: RunConfig) -> None:
        if cfg.faces == "regions":
            raise BeautytuneError("--faces regions is for skin models: use crop or align for verification")
        if cfg.strategy in CLOSED_FORM:
            raise BeautytuneError(
                f"--strategy {cfg.strategy} fits a classifier in closed form; face verification "
                "trains an ArcFace embedding: use head, partial, full, gradual, llrd, bitfit or lora"
            )
        super().check_backbone(cfg)

    def split(self, records: list[Record], seed: int, val_frac: float, test_frac: float) -> list[Record]:
        from beautytune.data.split import hold_out

        people = {r.group for r in records}
        if len(people) < 5:
            raise DataError(f"face verification needs photos of at least 5 people, found {len(people)}")
        by_condition = [replace(r, label=r.condition or "") for r in records]
        _, test = hold_out(by_condition, test_frac, seed)
        test_paths = {r.path for r in test}
        photos: dict[str, list[Record]] = defaultdict(list)
        for r in records:
            if r.path not in test_paths:
                photos[r.group].append(r)
        rng = np.random.default_rng(seed)
        out = [r.with_split("test") for r in records if r.path in test_paths]
        for person in sorted(photos):
            own = sorted(photos[person], key=lambda r: r.path)
            # a person with three or more photos lends some to validation; fewer: all train
            n_val = max(1, round(val_frac * len(own))) if len(own) >= 3 else 0
            held = set(rng.permutation(len(own))[:n_val].tolist())
            out += [r.with_split("val" if i in held else "train") for i, r in enumerate(own)]
        return sorted(out, key=lambda r: r.path)

    def class_names(self, records: list[Record]) -> list[str]:
        """The training people (the test people are never classes)."""
        return sorted({r.label for r in records if r.split in ("train", "val")})

    def build(self, cfg: RunConfig, num_classes: int) -> Built:
        built = super().build(cfg, num_classes)
        model = built.model
        head = EmbeddingHead(model.num_features, num_classes)
        built.model = EmbeddingClassifier(model.backbone, head).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return built

    def load(
        self, backbone: str, processor: dict[str, Any], head: dict[str, Any], num_classes: int, folder: Path
    ) -> tuple[Classifier, Any]:
        spec = get_spec(backbone)
        model, _ = build_classifier(spec, num_classes, HeadConfig(), init="random")
        return EmbeddingClassifier(
            model.backbone, EmbeddingHead(model.num_features, num_classes)
        ), Preprocess.from_dict(processor)

    def export_spec(self, processor: Any, examples: Sequence[Any] | None = None) -> ExportSpec:
        spec = super().export_spec(processor, examples)
        return replace(spec, output_name="embedding")

    def export_module(self, model: Classifier, temperature: float) -> torch.nn.Module:
        """Unit embeddings out: an app compares two photos' cosine with the bundle's threshold."""
        return _Embedder(model)

    def evaluate(self, predictor: Any, records: list[Record], out_dir: Path, **kw: Any) -> dict[str, Any]:
        from beautytune.faces.verification_report import evaluate_verification

        return evaluate_verification(
            predictor, by_split(records, "test"), by_split(records, "val"), out_dir, **kw
        )


class _Embedder(torch.nn.Module):
    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        assert isinstance(self.model, EmbeddingClassifier)
        return self.model.embed(pixel_values)


@torch.no_grad()
def embed(predictor: Any, items: Sequence[Any], batch_size: int = 32) -> tuple[np.ndarray, list[str | None]]:
    """Unit embeddings per input (a NaN row where it is unusable) and per-input errors."""
    task, model = predictor.task, predictor.model
    if not isinstance(model, EmbeddingClassifier):
        raise BeautytuneError("this bundle is not a face-verification bundle (it has no embedding)")
    out = np.full((len(items), model.head.neck.out_features), np.nan, dtype=np.float32)
    errors: list[str | None] = [None] * len(items)
    prepared = []
    for i, item in enumerate(items):
        try:
            prepared.append((i, task.prepare_input(item, predictor.processor)))
        except InputError as e:
            errors[i] = str(e)
    collate = task.collate(predictor.processor)
    for start in range(0, len(prepared), batch_size):
        chunk = prepared[start : start + batch_size]
        inputs, _ = collate([(x, 0) for _, x in chunk])
        vectors = model.embed(inputs["pixel_values"].to(predictor.device)).float().cpu().numpy()
        out[[i for i, _ in chunk]] = vectors
    return out, errors
