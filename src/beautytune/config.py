"""One RunConfig: everything a run decides, saved as RUN/config.json."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beautytune.errors import BeautytuneError

if TYPE_CHECKING:
    from beautytune.tasks.base import Task
    from beautytune.train.self_training import SelfTraining


@dataclass
class RunConfig:
    data: str
    out: str
    backbone: str | None = None  # None: the task's default (tf_efficientnet_lite0, minilm)
    strategy: str = "full"
    #: the chosen strategy's own options (see ``beautytune fit --help``, "strategy: NAME")
    strategy_options: dict[str, Any] = field(default_factory=dict)
    task: str = "auto"  # "auto": text-classification when --text-col is given, else images
    init: str = "pretrained"  # or "random"
    weights: str | None = None  # user-supplied backbone weights
    image_size: int | None = None  # override the backbone's input size (speed on CPU)
    #: face preparation before the backbone (faces/prepare.py): off | crop | align | regions; a photo
    #: without a usable face is used whole or skipped (``faces_fallback``)
    faces: str = "off"
    face_margin: float = 0.25
    faces_fallback: str = "whole"
    #: the patches of ``regions``: skin (forehead, cheeks, nose, chin) | makeup (also lips, eyes)
    face_regions: str = "skin"
    head_hidden: tuple[int, ...] = ()
    head_dropout: float = 0.2
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3  # head learning rate
    #: ``--lr auto``: a learning-rate range test on the training split picks ``lr`` first
    #: (train/lr_find.py); config.json then holds the value found
    lr_find: bool = False
    backbone_lr_mult: float = 0.1
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0
    #: "cosine" | "step" over the planned epochs, or "budget": cosine over --time-budget
    #: (train/module.py lr_lambda)
    schedule: str = "cosine"
    label_smoothing: float = 0.1
    imbalance: str = "weighted"  # weighted loss, "sample" (balanced sampler) or "none"
    augment: str = "geometric"
    patience: int = 4
    # "frozen": BatchNorm layers keep their pretrained running statistics while fine-tuning
    # (their scale/shift still train); "train": batch statistics, running averages update;
    # "auto": frozen when starting from pretrained weights, train from random init.
    bn: str = "auto"
    #: fit a temperature on the validation split and ship it in the bundle
    calibrate: bool = True
    #: a folder of unlabelled photos from where the model will be used: AdaBN after training,
    #: then self-training on its confident pseudo-labels (train/self_training.py)
    adapt_to: str | None = None
    self_train_epochs: int = 2  # 0: AdaBN only
    pseudo_threshold: float = 0.9
    #: regularisers (train/regularisers.py): L2-SP strength, mixup / cutmix alphas (images),
    #: stochastic depth rate (timm backbones that have it)
    l2_sp: float = 0.0
    ema: float = 0.0  # decay of an exponential moving average of the weights (0 = off)
    mixup: float = 0.0
    cutmix: float = 0.0
    drop_path: float = 0.0
    time_budget: float | None = None  # seconds of training
    seed: int = 0
    #: the grouped split's seed when it should differ from ``seed`` (``compare``: one split,
    #: several training seeds); None: ``seed``
    split_seed: int | None = None
    #: few-shot: keep this many training examples per class (drawn with ``seed``); val and
    #: test stay whole
    shots: int | None = None
    #: train without the examples ``audit --labels`` flags (train and val only: test stays)
    drop_label_issues: bool = False
    val_frac: float = 0.15
    test_frac: float = 0.2
    workers: int = 0
    accelerator: str = "auto"
    devices: str = "auto"
    #: before training, grow the batch from ``batch_size`` to the largest that fits the GPU
    batch_size_find: bool = False
    #: how several devices share the work (Lightning's strategy): auto, ddp or fsdp
    distributed: str = "auto"
    num_nodes: int = 1  # machines taking part (torchrun / srun start the processes)
    precision: str = "32-true"
    #: torch.compile the network before training (GPU: faster steps after a warm-up)
    compile: bool = False
    path_col: str = "path"
    label_col: str = "label"
    group_col: str = "group"
    split_col: str = "split"
    # text tasks
    text_col: str | None = None
    label_from_rating: str | None = None  # a 1-5 rating column -> negative / neutral / positive
    rating_thresholds: tuple[float, float] = (2.0, 3.0)  # <= first: negative, <= second: neutral
    max_length: int | None = None  # tokens per text; None: the encoder's limit

    def validate(self) -> None:
        """Check every choice option up front, before any data is read or folder made."""
        from beautytune.data.transforms import AUGMENT_PRESETS
        from beautytune.strategies import get_strategy
        from beautytune.tasks import TASKS

        get_strategy(self.strategy, self.strategy_options).check(self)
        for name, allowed in (
            ("task", ("auto", *TASKS)),
            ("init", ("pretrained", "random")),
            ("schedule", ("cosine", "step", "budget")),
            ("imbalance", ("weighted", "sample", "none")),
            ("augment", tuple(AUGMENT_PRESETS)),
            ("bn", ("auto", "frozen", "train")),
            ("faces", ("off", "crop", "align", "regions")),
            ("faces_fallback", ("whole", "skip")),
            ("face_regions", ("skin", "makeup")),
            ("distributed", ("auto", "ddp", "fsdp")),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise BeautytuneError(f"unknown {name} '{value}': use one of {', '.join(allowed)}")
        if self.batch_size_find and (
            self.accelerator == "cpu" or (self.accelerator == "auto" and not _cuda_available())
        ):
            raise BeautytuneError(
                "--batch-size-find sizes batches to a GPU's memory: on a CPU running out of memory "
                "kills the process instead of raising an error it could recover from; set --batch-size"
            )
        if self.distributed == "fsdp" and self.accelerator == "cpu":
            raise BeautytuneError("--distributed fsdp shards over GPUs: use ddp on CPU (gloo)")
        if self.faces != "off" and self.text_col is not None:
            raise BeautytuneError("--faces prepares photos: drop it for a text task")
        if self.faces == "regions" and (self.mixup or self.cutmix):
            raise BeautytuneError(
                "--faces regions feeds skin patches, which mixup/cutmix cannot mix: drop them"
            )
        if self.face_regions != "skin" and self.faces != "regions":
            raise BeautytuneError(f"--face-regions {self.face_regions} chooses patches: add --faces regions")
        if not 0.0 <= self.face_margin <= 2.0:
            raise BeautytuneError("--face-margin is a share of the face size: use 0 to 2")
        if self.shots is not None and self.shots < 1:
            raise BeautytuneError("--shots must be at least 1 (examples per class)")
        if self.schedule == "budget" and not self.time_budget:
            raise BeautytuneError("--schedule budget decays over the time budget: add --time-budget")
        if self.lr <= 0:
            raise BeautytuneError("--lr must be positive, or 'auto' for a range test")
        for name in ("epochs", "batch_size", "num_nodes"):
            if getattr(self, name) < 1:
                raise BeautytuneError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("l2_sp", "mixup", "cutmix"):
            if getattr(self, name) < 0:
                raise BeautytuneError(f"--{name.replace('_', '-')} must be 0 (off) or more")
        if not 0 <= self.ema < 1:
            raise BeautytuneError("--ema must be in [0, 1): a decay such as 0.999, or 0 for off")
        if not 0 <= self.drop_path < 1:
            raise BeautytuneError("--drop-path must be in [0, 1)")
        self.self_training().validate()
        if not (0 < self.val_frac < 1 and 0 < self.test_frac < 1 and self.val_frac + self.test_frac < 1):
            raise BeautytuneError("--val-frac and --test-frac must be in (0, 1) and sum to less than 1")

    def backbone_name(self, task: Task) -> str:
        return self.backbone or task.default_backbone

    def self_training(self) -> SelfTraining:
        """How ``--adapt-to`` self-trains: a tenth of the run's learning rate."""
        from beautytune.train.self_training import SelfTraining

        return SelfTraining(
            epochs=self.self_train_epochs,
            threshold=self.pseudo_threshold,
            lr=self.lr * 0.1,
            batch_size=self.batch_size,
            seed=self.seed,
            accelerator=self.accelerator,
        )

    @property
    def freeze_bn(self) -> bool:
        if self.bn == "auto":
            return self.init == "pretrained" or self.weights is not None
        return self.bn == "frozen"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["head_hidden"] = list(self.head_hidden)
        d["rating_thresholds"] = list(self.rating_thresholds)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        kwargs["head_hidden"] = tuple(kwargs.get("head_hidden", ()))
        kwargs["rating_thresholds"] = tuple(kwargs.get("rating_thresholds", (2.0, 3.0)))
        if "strategy_options" not in d:  # config.json of beautytune 0.1: options were flat
            kwargs["strategy_options"] = _flat_strategy_options(d)
        return cls(**kwargs)

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        return cls.from_dict(json.loads(path.read_text()))


def _flat_strategy_options(d: dict[str, Any]) -> dict[str, Any]:
    from dataclasses import fields as dc_fields

    from beautytune.strategies import strategy_class

    names = {f.name for f in dc_fields(strategy_class(d.get("strategy", "full")).Options)}
    return {k: v for k, v in d.items() if k in names}


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


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
