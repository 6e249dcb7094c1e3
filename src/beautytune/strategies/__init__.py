"""Fine-tuning strategies: one module each, one registry line each."""

from __future__ import annotations

from beautytune.errors import BeautytuneError
from beautytune.strategies.base import Strategy
from beautytune.strategies.features import FeaturesStrategy
from beautytune.strategies.full import FullStrategy
from beautytune.strategies.head import HeadStrategy
from beautytune.strategies.partial import PartialStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (FeaturesStrategy, HeadStrategy, PartialStrategy, FullStrategy)
}


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise BeautytuneError(f"unknown strategy '{name}': use one of {', '.join(STRATEGIES)}") from None


__all__ = ["STRATEGIES", "Strategy", "get_strategy"]
