"""Inference as one object: preprocess -> forward -> postprocess, loaded once.

``predict``, ``evaluate``, fit's test report and ONNX export's parity check all go
through a Predictor, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from beautytune.errors import BeautytuneError, InputError
from beautytune.inference.bundle import Bundle, load_bundle
from beautytune.models.network import Classifier
from beautytune.tasks.base import Task


class Predictor:
    def __init__(
        self,
        task: Task,
        model: Classifier,
        processor: Any,
        labels: list[str],
        device: str | torch.device = "cpu",
        temperature: float = 1.0,
        tta: str = "none",
    ) -> None:
        if tta != "none" and tta not in task.tta_modes:
            offered = ", ".join(task.tta_modes) or "none (this task has no test-time augmentation)"
            raise BeautytuneError(f"unknown --tta '{tta}' for {task.name}: use none or {offered}")
        #: test-time augmentation: probabilities averaged over the task's views of each input
        self.tta = tta
        self.task = task
        #: logits are divided by this before the softmax (temperature scaling; 1 = none)
        self.temperature = float(temperature)
        self.processor = processor
        self.labels = list(labels)
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self._collate = task.collate(processor)
        self._features: dict[Any, np.ndarray] = {}

    def use_features(self, items: Sequence[Any], features: np.ndarray) -> None:
        """The model's own backbone features of ``items``, already computed (``fit`` with a
        frozen backbone, from the feature cache): their predictions then run the head alone.
        Only right while the backbone is the one that made them, and without TTA."""
        for item, row in zip(items, features, strict=True):
            if isinstance(item, str):  # paths and texts: what fit's records are
                self._features[item] = row

    @classmethod
    def from_bundle(
        cls, path: str | Path | Bundle, device: str | torch.device = "cpu", tta: str = "none"
    ) -> Predictor:
        b = path if isinstance(path, Bundle) else load_bundle(path)
        temperature = float(b.meta.calibration.get("temperature", 1.0))
        return cls(b.task, b.model, b.processor, b.labels, device, temperature, tta)

    @torch.no_grad()
    def predict_probs(
        self, items: Sequence[Any], batch_size: int = 32
    ) -> tuple[np.ndarray, list[str | None]]:
        """Class probabilities per input (a NaN row where it is unusable) and per-input errors."""
        probs = np.full((len(items), len(self.labels)), np.nan)
        errors: list[str | None] = [None] * len(items)
        prepared: list[tuple[int, Any]] = []
        known = [
            i
            for i, item in enumerate(items)
            if self.tta == "none" and isinstance(item, str) and item in self._features
        ]
        for start in range(0, len(known), 4 * batch_size):
            rows = known[start : start + 4 * batch_size]
            x = torch.from_numpy(np.stack([self._features[items[i]] for i in rows])).to(self.device)
            probs[rows] = torch.softmax(self.model.head(x).float() / self.temperature, dim=1).cpu().numpy()
        skip = set(known)
        for i, item in enumerate(items):
            if i in skip:
                continue
            try:
                prepared.append((i, self.task.prepare_input(item, self.processor)))
            except InputError as e:
                errors[i] = str(e)
        if self.tta != "none":
            prepared = [(i, v) for i, x in prepared for v in self.task.tta_views(x, self.tta)]
        # Similar sizes batch together (less padding for texts); results go back in input order.
        prepared.sort(key=lambda ip: self.task.cost(ip[1]))
        total = np.zeros_like(probs)
        views = np.zeros(len(items))
        for start in range(0, len(prepared), batch_size):
            chunk = prepared[start : start + batch_size]
            inputs, _ = self._collate([(x, 0) for _, x in chunk])
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            p = torch.softmax(self.model(**inputs).float() / self.temperature, dim=1).cpu().numpy()
            idx = np.array([i for i, _ in chunk])
            np.add.at(total, idx, p)
            np.add.at(views, idx, 1)
        seen = views > 0
        probs[seen] = total[seen] / views[seen, None]
        return probs, errors

    def predict(self, inputs: Sequence[Any], top_k: int = 1, batch_size: int = 32) -> list[dict[str, Any]]:
        """One result per input: label, confidence, top-k and every probability, or an error."""
        items = self.task.expand_inputs(inputs)
        if not items:
            raise BeautytuneError(f"no {self.task.noun}s found in the given inputs")
        probs, errors = self.predict_probs(items, batch_size)
        k = max(1, min(top_k, len(self.labels)))
        key = self.task.input_key
        results: list[dict[str, Any]] = []
        for item, row, err in zip(items, probs, errors, strict=True):
            name = self.task.input_name(item)
            if err is not None:
                results.append({key: name, "error": err})
                continue
            order = np.argsort(-row)[:k]
            results.append(
                {
                    key: name,
                    "label": self.labels[int(order[0])],
                    "confidence": float(row[order[0]]),
                    "top_k": [{"label": self.labels[int(i)], "probability": float(row[i])} for i in order],
                    "probabilities": {lab: float(row[i]) for i, lab in enumerate(self.labels)},
                }
            )
        return results
