"""Fine-tuning strategies: one module each, one registry line each."""

from __future__ import annotations

from typing import Any

from beautytune.errors import BeautytuneError
from beautytune.strategies.base import Strategy, StrategyOptions
from beautytune.strategies.bitfit import BitFitStrategy
from beautytune.strategies.features import FeaturesStrategy
from beautytune.strategies.full import FullStrategy
from beautytune.strategies.gradual import GradualStrategy
from beautytune.strategies.head import HeadStrategy
from beautytune.strategies.llrd import LlrdStrategy
from beautytune.strategies.lora import LoraStrategy
from beautytune.strategies.lp_ft import LpFtStrategy
from beautytune.strategies.partial import PartialStrategy
from beautytune.strategies.prototype import PrototypeStrategy
from beautytune.strategies.wise_ft import WiseFtStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (
        FeaturesStrategy,
        HeadStrategy,
        PartialStrategy,
        FullStrategy,
        LoraStrategy,
        GradualStrategy,
        LlrdStrategy,
        LpFtStrategy,
        WiseFtStrategy,
        BitFitStrategy,
        PrototypeStrategy,
    )
}


def strategy_class(name: str) -> type[Strategy]:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise BeautytuneError(f"unknown strategy '{name}': use one of {', '.join(STRATEGIES)}") from None


def get_strategy(name: str, options: dict[str, Any] | None = None) -> Strategy:
    """The strategy ``name`` with its options validated (unknown names list the choices)."""
    cls = strategy_class(name)
    return cls(cls.Options.from_dict(options or {}, name))


__all__ = ["STRATEGIES", "Strategy", "StrategyOptions", "get_strategy", "strategy_class"]
