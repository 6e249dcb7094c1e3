"""One RunConfig: everything a run decides, saved as RUN/config.json."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from beautytune.errors import BeautytuneError


@dataclass
class RunConfig:
    data: str
    out: str
    backbone: str = "tf_efficientnet_lite0"
    strategy: str = "full"
    init: str = "pretrained"  # or "random"
    weights: str | None = None  # user-supplied backbone weights
    image_size: int | None = None  # override the backbone's input size (speed on CPU)
    head_hidden: tuple[int, ...] = ()
    head_dropout: float = 0.2
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3  # head learning rate
    backbone_lr_mult: float = 0.1
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0
    schedule: str = "cosine"  # or "step"
    label_smoothing: float = 0.1
    imbalance: str = "weighted"  # weighted loss, "sample" (balanced sampler) or "none"
    augment: str = "geometric"
    patience: int = 4
    unfreeze_blocks: int = 2
    # "frozen": BatchNorm layers keep their pretrained running statistics while fine-tuning
    # (their scale/shift still train); "train": batch statistics, running averages update;
    # "auto": frozen when starting from pretrained weights, train from random init.
    bn: str = "auto"
    time_budget: float | None = None  # seconds of training
    seed: int = 0
    val_frac: float = 0.15
    test_frac: float = 0.2
    classifier: str = "logreg"  # features strategy: "logreg" or "svm"
    C: float = 0.5
    workers: int = 0
    accelerator: str = "auto"
    devices: str = "auto"
    precision: str = "32-true"
    path_col: str = "path"
    label_col: str = "label"
    group_col: str = "group"
    split_col: str = "split"

    def validate(self) -> None:
        """Check every choice option up front, before any data is read or folder made."""
        from beautytune.data.transforms import AUGMENT_PRESETS
        from beautytune.strategies import STRATEGIES
        from beautytune.strategies.features import CLASSIFIERS

        for name, allowed in (
            ("strategy", tuple(STRATEGIES)),
            ("init", ("pretrained", "random")),
            ("schedule", ("cosine", "step")),
            ("imbalance", ("weighted", "sample", "none")),
            ("augment", tuple(AUGMENT_PRESETS)),
            ("bn", ("auto", "frozen", "train")),
            ("classifier", CLASSIFIERS),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise BeautytuneError(f"unknown {name} '{value}': use one of {', '.join(allowed)}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise BeautytuneError(f"--{name.replace('_', '-')} must be at least 1")
        if not (0 < self.val_frac < 1 and 0 < self.test_frac < 1 and self.val_frac + self.test_frac < 1):
            raise BeautytuneError("--val-frac and --test-frac must be in (0, 1) and sum to less than 1")

    @property
    def freeze_bn(self) -> bool:
        if self.bn == "auto":
            return self.init == "pretrained" or self.weights is not None
        return self.bn == "frozen"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["head_hidden"] = list(self.head_hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        kwargs["head_hidden"] = tuple(kwargs.get("head_hidden", ()))
        return cls(**kwargs)

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        return cls.from_dict(json.loads(path.read_text()))


_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str | float | None) -> float | None:
    """'20m', '90s', '1.5h' or plain seconds -> seconds."""
    if text is None or text == "":
        return None
    if isinstance(text, int | float):
        return float(text)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not m:
        raise BeautytuneError(f"cannot read time budget '{text}': use e.g. 90s, 20m or 1.5h")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]
