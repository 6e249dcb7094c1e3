"""One task-agnostic LightningModule: images and text, every strategy."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from beautytune.config import RunConfig
from beautytune.models.network import Classifier
from beautytune.strategies import Strategy


class LitClassifier(L.LightningModule):
    def __init__(
        self,
        model: Classifier,
        strategy: Strategy,
        cfg: RunConfig,
        num_classes: int,
        class_weights: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.strategy = strategy
        self.cfg = cfg
        self.loss_fn = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=cfg.label_smoothing)
        self.val_f1 = MulticlassF1Score(num_classes=num_classes, average="macro")
        self.val_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        # Decide what trains now, so parameter counts and frozen BatchNorms are known early.
        self._groups = strategy.param_groups(model, cfg)

    @property
    def epoch_train_loss(self) -> float:
        """Mean training loss of the current epoch so far (NaN before any step)."""
        n = getattr(self, "_loss_n", 0)
        return self._loss_sum / n if n else float("nan")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_n = 0.0, 0
        # Frozen layers keep their pretrained BatchNorm statistics; with freeze_bn every
        # BatchNorm does (small batches, slow TF-style momentum: see RunConfig.bn).
        for m in self.model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                if self.cfg.freeze_bn or not any(p.requires_grad for p in m.parameters(recurse=False)):
                    m.eval()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self.model(x), y)
        self._loss_sum += float(loss.detach()) * len(y)
        self._loss_n += len(y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self.model(x)
        self.log("val_loss", self.loss_fn(logits, y), on_epoch=True, batch_size=len(y), sync_dist=True)
        self.val_f1.update(logits, y)
        self.val_acc.update(logits, y)

    def on_validation_epoch_end(self) -> None:
        self.log("val_macro_f1", self.val_f1.compute(), prog_bar=True)
        self.log("val_accuracy", self.val_acc.compute())
        self.val_f1.reset()
        self.val_acc.reset()

    def configure_optimizers(self) -> Any:
        groups = [g for g in self._groups if g["params"]]
        opt = torch.optim.AdamW(groups, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        per_epoch = max(1, total // max(1, self.cfg.epochs))
        warmup = int(self.cfg.warmup_epochs * per_epoch)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lr_lambda=lr_lambda(self.cfg.schedule, warmup, total, per_epoch)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def lr_lambda(schedule: str, warmup: int, total: int, per_epoch: int) -> Any:
    """Linear warm-up, then cosine decay to zero or a step decay (x0.1 at 1/2 and 3/4)."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "step":
            return 0.1 ** sum(step >= total * m for m in (0.5, 0.75))
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f
