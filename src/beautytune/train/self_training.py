"""Adapting a trained model to unlabelled photos of where it will be used.

Two steps, both without a label: AdaBN (BatchNorm statistics re-estimated on the target
photos, :func:`~beautytune.inference.adapt.adabn`), then self-training: the adapted model
labels the target photos, the ones it is confident about (``threshold``) become a small
training set, and the same Lightning loop every strategy uses fine-tunes on them for a few
epochs at a low learning rate. BatchNorm statistics stay frozen while it does, so the
AdaBN estimate survives; a fifth of the pseudo-labelled photos is held out so the loop
keeps the epoch that agrees best with labels it did not train on.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from beautytune.config import RunConfig
from beautytune.data.records import Record
from beautytune.errors import BeautytuneError
from beautytune.inference.adapt import adabn, batchnorm_layers
from beautytune.inference.predictor import Predictor
from beautytune.models.network import Classifier
from beautytune.runtime import inference_device, quiet_lightning, tune_cpu_runtime
from beautytune.tasks.base import Task

#: fewer confident photos than this and self-training is skipped (and says so)
MIN_PSEUDO_LABELS = 8


@dataclass(frozen=True)
class SelfTraining:
    """How confident pseudo-labels become a fine-tuning set (``epochs=0``: AdaBN only)."""

    epochs: int = 2
    threshold: float = 0.9
    lr: float = 1e-4  # head; the backbone trains at a tenth of it
    batch_size: int = 32
    seed: int = 0
    accelerator: str = "auto"

    def validate(self) -> None:
        if self.epochs < 0:
            raise BeautytuneError("--self-train-epochs must be 0 (AdaBN only) or more")
        if not 0 < self.threshold < 1:
            raise BeautytuneError("--pseudo-threshold must be in (0, 1), e.g. 0.9")


def adapt_model(
    model: Classifier,
    task: Task,
    processor: Any,
    labels: list[str],
    inputs: list[Any],
    settings: SelfTraining,
    source: dict[str, torch.Tensor] | None = None,
    interactive: bool = False,
) -> dict[str, Any]:
    """AdaBN (towards the training photos' ``source`` statistics when known) then (``settings.epochs > 0``) self-training on ``inputs``, in place."""
    settings.validate()
    done: dict[str, Any] = {}
    if batchnorm_layers(model):
        done["adabn"] = adabn(model, task, processor, inputs, source, settings.seed)
    else:  # transformers (ViT, text encoders) normalise per example: nothing to re-estimate
        done["adabn"] = {"method": "AdaBN", "not applied": "this backbone has no BatchNorm layers"}
    if settings.epochs > 0:
        done["self_training"] = self_train(model, task, processor, labels, inputs, settings, interactive)
    return done


def pseudo_labels(
    model: Classifier,
    task: Task,
    processor: Any,
    labels: list[str],
    inputs: list[Any],
    threshold: float,
    accelerator: str = "auto",
) -> tuple[list[Record], dict[str, Any]]:
    """Target photos whose top class has probability >= ``threshold``, labelled with it."""
    # raw softmax: the shipped temperature was fitted to the source, not the target
    predictor = Predictor(task, model, processor, labels, inference_device(accelerator))
    probs, _ = predictor.predict_probs(inputs)
    usable = ~np.isnan(probs).any(axis=1)
    conf = np.where(usable, np.nan_to_num(probs).max(axis=1), 0.0)
    top = np.nan_to_num(probs).argmax(axis=1)
    chosen = [i for i in range(len(inputs)) if usable[i] and conf[i] >= threshold]
    records = [
        Record(
            path=str(Path(inputs[i]).resolve()),
            label=labels[top[i]],
            group=str(inputs[i]),
            # every fifth (in confidence order) is held out to choose the epoch
            split="val" if n % 5 == 4 else "train",
        )
        for n, i in enumerate(sorted(chosen, key=lambda i: -conf[i]))
    ]
    per_class = {lab: int(sum(top[i] == k for i in chosen)) for k, lab in enumerate(labels)}
    stats = {
        "threshold": threshold,
        "target_images": int(usable.sum()),
        "pseudo_labelled": len(chosen),
        "per_class": per_class,
    }
    return records, stats


def self_train(
    model: Classifier,
    task: Task,
    processor: Any,
    labels: list[str],
    inputs: list[Any],
    settings: SelfTraining,
    interactive: bool = False,
) -> dict[str, Any]:
    """Fine-tune ``model`` on its own confident predictions for ``inputs``, in place."""
    from beautytune.strategies.fitters import FitContext, lightning_fit
    from beautytune.strategies.full import FullStrategy
    from beautytune.train.datamodule import BeautyDataModule
    from beautytune.train.rundir import RunDir

    records, stats = pseudo_labels(
        model, task, processor, labels, inputs, settings.threshold, settings.accelerator
    )
    if len(records) < MIN_PSEUDO_LABELS:
        return {
            **stats,
            "skipped": f"only {len(records)} photos reach confidence {settings.threshold} "
            f"(at least {MIN_PSEUDO_LABELS} needed): lower --pseudo-threshold",
        }
    tune_cpu_runtime()
    quiet_lightning()
    L.seed_everything(settings.seed, workers=True, verbose=False)
    with tempfile.TemporaryDirectory(prefix="beautytune-self-train-") as work:
        cfg = RunConfig(
            data=str(Path(records[0].path).parent),
            out=work,
            epochs=settings.epochs,
            lr=settings.lr,
            batch_size=settings.batch_size,
            warmup_epochs=0.0,
            bn="frozen",  # keep the AdaBN statistics
            patience=settings.epochs,
            seed=settings.seed,
            accelerator=settings.accelerator,
            devices="1",
            calibrate=False,
        )
        data = BeautyDataModule(task, records, labels, processor, cfg)
        ctx = FitContext(
            task, model, processor, "", cfg, data, RunDir(Path(work)), labels, interactive=interactive
        )
        outcome = lightning_fit(ctx, FullStrategy().param_groups(model, cfg))
    model.eval()
    return {
        **stats,
        "epochs": settings.epochs,
        "lr": settings.lr,
        "held-out agreement (macro-F1)": outcome.info["best val macro-F1"],
    }


def describe_adaptation(done: dict[str, Any]) -> str:
    """One line for the report and the CLI: what adapt_model did."""
    a = done["adabn"]
    if "not applied" in a:
        text = f"AdaBN not applied: {a['not applied']}"
    else:
        text = f"AdaBN on {a['target_images']} photos ({a['batchnorm_layers']} BatchNorm layers)"
    st = done.get("self_training")
    if st is None:
        return text
    if "skipped" in st:
        return f"{text}; self-training skipped: {st['skipped']}"
    return (
        f"{text}; self-training {st['epochs']} epochs on {st['pseudo_labelled']} photos "
        f"with confidence >= {st['threshold']}"
    )
