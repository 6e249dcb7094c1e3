"""Cross-cutting training behaviour as Lightning callbacks and plugins."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from beautytune.io import write_bytes_atomic, write_json_atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write checkpoints to a temp file and rename, so a kill never leaves a broken one."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        buf = io.BytesIO()
        torch.save(checkpoint, buf)
        write_bytes_atomic(path, buf.getvalue())


class RngState(L.Callback):
    """Save and restore every RNG with each checkpoint, so --resume continues exactly."""

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint["beautytune_rng"] = {
            "torch": torch.get_rng_state(),
            "numpy": _numpy_state(),
            "python": random.getstate(),
        }

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        state = checkpoint.get("beautytune_rng")
        if state:
            torch.set_rng_state(state["torch"])
            kind, keys, pos, has_gauss, gauss = state["numpy"]
            np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
            random.setstate(state["python"])


def _numpy_state() -> tuple[Any, ...]:
    # Plain lists and numbers, so Lightning can reload the checkpoint with weights_only=True.
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # type: ignore[misc]
    return (str(kind), [int(k) for k in keys], int(pos), int(has_gauss), float(gauss))


class History(L.Callback):
    """Per-epoch metrics, kept in the checkpoint and mirrored to RUN/history.json."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, float]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Runs before ModelCheckpoint (Lightning calls checkpoint callbacks last), so the
        # row is inside the checkpoint written for this epoch.
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        row: dict[str, float] = {"epoch": float(trainer.current_epoch)}
        row["train_loss"] = float(getattr(pl_module, "epoch_train_loss", float("nan")))
        for k in ("val_loss", "val_macro_f1", "val_accuracy"):
            if k in trainer.callback_metrics:
                row[k] = float(trainer.callback_metrics[k])
        row["lr"] = float(trainer.optimizers[0].param_groups[-1]["lr"]) if trainer.optimizers else 0.0
        self.rows = [r for r in self.rows if r["epoch"] != row["epoch"]] + [row]
        write_json_atomic(self.path, self.rows)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict.get("rows", []))
