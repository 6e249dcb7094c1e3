"""One task-agnostic LightningModule: every task, every strategy.

Batches are ``(inputs, targets)`` with ``inputs`` a dict the network takes as
``model(**inputs)``; which parameters train, and at which learning rate, arrives as the
strategy's optimizer parameter groups.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from timm.optim import param_groups_weight_decay
from timm.utils import ModelEmaV3
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from beautytune.config import RunConfig
from beautytune.models.network import Classifier
from beautytune.tasks.base import Batch
from beautytune.train.regularisers import L2SP, build_mixup, soft_cross_entropy


class LitClassifier(L.LightningModule):
    def __init__(
        self,
        model: Classifier,
        param_groups: list[dict[str, Any]],
        cfg: RunConfig,
        num_classes: int,
        class_weights: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.param_groups = param_groups
        self.loss_fn = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=cfg.label_smoothing)
        self.l2_sp = L2SP(model.backbone, cfg.l2_sp) if cfg.l2_sp > 0 else None
        self.mixup = build_mixup(cfg.mixup, cfg.cutmix, cfg.label_smoothing, num_classes)
        # EMA of the weights (timm): validated, checkpointed and shipped instead of the raw ones
        self.ema = ModelEmaV3(model, decay=cfg.ema, use_warmup=True) if cfg.ema > 0 else None
        self.val_f1 = MulticlassF1Score(num_classes=num_classes, average="macro")
        self.val_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        if cfg.compile:
            # in place: the state dict keeps its keys, so checkpoints and bundles are unchanged
            model.compile()

    @property
    def epoch_train_loss(self) -> float:
        """Mean training loss of the current epoch so far (NaN before any step)."""
        n = getattr(self, "_loss_n", 0)
        return self._loss_sum / n if n else float("nan")

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**inputs)

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_n = 0.0, 0
        self.model.train()  # Hugging Face encoders load in eval mode (dropout off)
        # Frozen layers keep their pretrained BatchNorm statistics; with freeze_bn every
        # BatchNorm does (small batches, slow TF-style momentum: see RunConfig.bn).
        for m in self.model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                if self.cfg.freeze_bn or not any(p.requires_grad for p in m.parameters(recurse=False)):
                    m.eval()

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        inputs, y = batch
        x = inputs.get("pixel_values")
        if self.mixup is not None and x is not None and len(y) % 2 == 0:  # timm mixes pairs
            mixed, soft = self.mixup(x, y)
            loss = soft_cross_entropy(self.model(pixel_values=mixed), soft, self.loss_fn.weight)
        else:
            loss = self.model.training_loss(inputs, y, self.loss_fn)
        if self.l2_sp is not None:
            loss = loss + self.l2_sp()
        self._loss_sum += float(loss.detach()) * len(y)
        self._loss_n += len(y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y))
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update(self.model, step=self.global_step)

    @property
    def evaluated(self) -> nn.Module:
        """The weights validation scores and the bundle ships: the EMA copy when there is one."""
        return self.ema.module if self.ema is not None else self.model

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        inputs, y = batch
        logits = self.evaluated(**inputs)
        self.log("val_loss", self.loss_fn(logits, y), on_epoch=True, batch_size=len(y), sync_dist=True)
        self.val_f1.update(logits, y)
        self.val_acc.update(logits, y)

    def on_validation_epoch_end(self) -> None:
        self.log("val_macro_f1", self.val_f1.compute(), prog_bar=True)
        self.log("val_accuracy", self.val_acc.compute())
        self.val_f1.reset()
        self.val_acc.reset()

    def configure_optimizers(self) -> Any:
        groups = split_weight_decay(self.model, self.param_groups, self.cfg.weight_decay)
        # one fused kernel for every parameter on a GPU (the model is on its device by now)
        opt = torch.optim.AdamW(groups, lr=self.cfg.lr, fused=self.device.type == "cuda" or None)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        per_epoch = max(1, total // max(1, self.cfg.epochs))
        warmup = int(self.cfg.warmup_epochs * per_epoch)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lr_lambda=lr_lambda(self.cfg.schedule, warmup, total, per_epoch, self._budget_spent())
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def _budget_spent(self) -> Callable[[], float] | None:
        """The share of ``--time-budget`` spent so far, from Lightning's own Timer (which a
        resumed run restores), for the ``budget`` schedule; None without a budget."""
        if self.cfg.schedule != "budget" or not self.cfg.time_budget:
            return None
        timer = next(
            (c for c in self.trainer.callbacks if isinstance(c, L.pytorch.callbacks.Timer)),  # type: ignore[attr-defined]
            None,
        )
        if timer is None:
            return None
        budget = float(self.cfg.time_budget)
        return lambda: timer.time_elapsed("train") / budget


def split_weight_decay(
    model: nn.Module, groups: list[dict[str, Any]], weight_decay: float
) -> list[dict[str, Any]]:
    """Each strategy group split in two: weight decay for weights, none for norms and biases.

    Which parameters skip decay is timm's rule (``param_groups_weight_decay``: 1-d tensors
    and biases), asked of timm rather than rewritten.
    """
    no_decay = {
        id(p)
        for g in param_groups_weight_decay(model, weight_decay)
        if g["weight_decay"] == 0.0
        for p in g["params"]
    }
    out = []
    for g in groups:
        # frozen parameters stay in: a strategy may unfreeze them later (gradual), and
        # AdamW leaves a parameter without a gradient untouched, weight decay included
        params = list(g["params"])
        for decay, part in (
            (True, [p for p in params if id(p) not in no_decay]),
            (False, [p for p in params if id(p) in no_decay]),
        ):
            if part:
                name = g.get("name", "params") + ("" if decay else "_no_decay")
                out.append(
                    {**g, "params": part, "name": name, "weight_decay": weight_decay if decay else 0.0}
                )
    return out


def lr_lambda(
    schedule: str, warmup: int, total: int, per_epoch: int, spent: Callable[[], float] | None = None
) -> Any:
    """Linear warm-up, then cosine decay to zero or a step decay (x0.1 at 1/2 and 3/4).

    ``budget`` is the cosine with progress measured by whichever is further along, the steps
    or ``spent()`` (the share of the time budget used): a run the budget stops still ends at
    a learning rate near zero instead of being cut off near the top of its cosine (Li et al.,
    "Budgeted training", ICLR 2020). Its learning rates then depend on the machine's speed,
    so two runs match only as closely as their timings do. Warm-up keeps its share of the
    planned epochs.
    """

    def budgeted(step: int) -> float:
        assert spent is not None
        progress = min(1.0, max(step / max(1, total), spent()))
        share = warmup / max(1, total)
        if progress < share:
            return min(1.0, max(progress / share, (step + 1) / max(1, warmup)))
        return 0.5 * (1 + math.cos(math.pi * (progress - share) / max(1e-9, 1 - share)))

    def f(step: int) -> float:
        if schedule == "budget" and spent is not None:
            return budgeted(step)
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "step":
            return 0.1 ** sum(step >= total * m for m in (0.5, 0.75))
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f
