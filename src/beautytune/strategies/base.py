"""What a fine-tuning strategy is: its own options and a ``fit(ctx)`` built from shared fitters.

A strategy never forks the training loop. It decides which parameters train at which
learning rate (``requires_grad`` plus optimizer parameter groups) and which fitter runs:
the Lightning loop (:func:`~beautytune.strategies.fitters.lightning_fit`) or a closed-form
head (:func:`~beautytune.strategies.fitters.closed_form_head_fit`). Anything that changes
during training is a Lightning callback it hands the fitter.

Adding a strategy is one module with a ``Strategy`` subclass (and, if it has options, an
``Options`` dataclass whose fields carry ``help`` metadata: they become CLI flags) plus one
line in the registry in ``strategies/__init__.py``.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from torch import nn

from beautytune.errors import BeautytuneError

if TYPE_CHECKING:
    from beautytune.config import RunConfig
    from beautytune.models.network import Classifier
    from beautytune.strategies.fitters import FitContext, FitOutcome


def option(default: Any, help: str) -> Any:
    """A strategy option: its default and the one-line help its CLI flag shows."""
    return field(default=default, metadata={"help": help})


@dataclass
class StrategyOptions:
    """Options of one strategy; subclasses add fields made with :func:`option`."""

    def validate(self) -> None:
        """Raise BeautytuneError naming the option and the accepted values."""

    @classmethod
    def from_dict(cls, values: dict[str, Any], strategy: str) -> StrategyOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            have = ", ".join(sorted(known)) or "none"
            raise BeautytuneError(
                f"strategy '{strategy}' has no option {', '.join(unknown)} (its options: {have})"
            )
        opts = cls(**values)
        opts.validate()
        return opts


def option_fields(options: type[StrategyOptions]) -> list[tuple[str, Any, str, type]]:
    """(name, default, help, type) of each option, for the CLI."""
    out = []
    for f in fields(options):
        default = f.default if f.default is not MISSING else None
        out.append((f.name, default, str(f.metadata.get("help", "")), type(default)))
    return out


class Strategy:
    name: ClassVar[str]
    summary: ClassVar[str]
    Options: ClassVar[type[StrategyOptions]] = StrategyOptions

    def __init__(self, options: StrategyOptions | None = None) -> None:
        self.options = options if options is not None else self.Options()

    def check(self, cfg: RunConfig) -> None:
        """Reject run settings this strategy cannot honour, before any data is read."""

    def fit(self, ctx: FitContext) -> FitOutcome:
        raise NotImplementedError

    def lr_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]] | None:
        """What ``--lr`` scales, set up on ``model`` (the learning-rate range test's copy);
        None when the strategy has no learning rate."""
        return None


class GradientStrategy(Strategy):
    """A strategy trained by the Lightning loop: it only says what trains at which lr."""

    def param_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]]:
        """Freeze what must not train and return optimizer parameter groups."""
        raise NotImplementedError

    def callbacks(self, cfg: RunConfig) -> list[Any]:
        return []

    def lr_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]] | None:
        return self.param_groups(model, cfg)

    def fit(self, ctx: FitContext) -> FitOutcome:
        from beautytune.strategies.fitters import lightning_fit

        return lightning_fit(ctx, self.param_groups(ctx.model, ctx.cfg), self.callbacks(ctx.cfg))


def set_trainable(module: nn.Module, trainable: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(trainable)


def head_group(model: Classifier, cfg: RunConfig) -> dict[str, Any]:
    set_trainable(model.head, True)
    return {"params": list(model.head.parameters()), "lr": cfg.lr, "name": "head"}


def backbone_group(params: list[nn.Parameter], cfg: RunConfig) -> dict[str, Any]:
    return {"params": params, "lr": cfg.lr * cfg.backbone_lr_mult, "name": "backbone"}
