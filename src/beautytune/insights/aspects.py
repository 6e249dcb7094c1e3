"""Product aspects that reviews talk about, each described in a few short phrases.

An aspect is detected in a sentence when the sentence embedding is close enough to
one of its descriptions (see :mod:`beautytune.insights.detect`), so descriptions are
written the way customers talk ("it smells amazing"), not as dictionary entries.

Aspects can be replaced from a JSON file::

    {
      "scent": ["the scent or fragrance", "it smells nice"],
      "texture": {"descriptions": ["thick creamy texture"], "threshold": 0.5}
    }

A threshold given in the file wins. Otherwise an aspect gets the calibrated threshold
shipped in ``thresholds.json`` *only if its descriptions are exactly the ones that
were calibrated* (a changed description changes the similarity scale); any other
aspect gets :data:`FALLBACK_THRESHOLD`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from beautytune.errors import DataError

THRESHOLDS_JSON = Path(__file__).with_name("thresholds.json")
#: used for aspects that were never calibrated (custom names or changed descriptions)
FALLBACK_THRESHOLD = 0.45


@dataclass(frozen=True)
class Aspect:
    """One aspect: a display name, its descriptions and an optional fixed threshold."""

    name: str
    descriptions: tuple[str, ...]
    threshold: float | None = None

    @property
    def fingerprint(self) -> str:
        """Short hash of the descriptions: a calibrated threshold is only valid for these."""
        return descriptions_fingerprint(self.descriptions)


DEFAULT_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "scent": (
        "the scent and fragrance",
        "it smells nice",
        "the smell is strong or unpleasant",
        "it is fragrance free and has no smell",
    ),
    "longevity": (
        "how long the lipstick or foundation lasts",
        "it stays on all day without smudging",
        "it fades and wears off within hours",
        "I have to touch up and reapply",
    ),
    "texture": (
        "the texture and consistency of the product",
        "a thick, creamy or whipped texture",
        "a thin, watery or runny consistency",
        "the formula feels sticky, clumpy or gritty",
        "lightweight and not heavy",
    ),
    "shade": (
        "the shade of the foundation or concealer",
        "the lipstick or eyeshadow colour",
        "the shade is too dark, too light or orange",
        "pigmented colour payoff",
        "a white cast or tint",
    ),
    "packaging": (
        "the packaging and container",
        "the bottle, jar or tube",
        "the pump, dropper, nozzle or lid",
        "the applicator",
        "the packaging leaked or broke",
    ),
    "price": (
        "the price",
        "it is too expensive and not worth the money",
        "it is affordable and cheap",
        "good value for money",
    ),
    "skin reaction": (
        "it broke me out",
        "breakouts, pimples and clogged pores",
        "burning, stinging and itching",
        "an allergic reaction, rash or redness",
        "gentle, no irritation",
    ),
    "absorption": (
        "it absorbs quickly and sinks in",
        "greasy and oily",
        "it leaves a greasy residue or a shiny film",
        "non-greasy matte finish",
    ),
    "hydration": (
        "hydrating and moisturizing",
        "my skin feels soft, plump and moisturized",
        "my skin feels dry, tight and flaky",
        "not moisturizing enough for dry skin",
        "soft lips, no longer chapped",
    ),
    "results": (
        "it works and I can see visible results",
        "it cleared my acne and blackheads",
        "it faded my dark spots, scars and dark circles",
        "it reduced my wrinkles, fine lines and puffiness",
        "it did nothing and made no difference",
        "my skin looks brighter and glowing",
    ),
}


def descriptions_fingerprint(descriptions: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(descriptions).encode("utf-8")).hexdigest()[:12]


def default_aspects() -> list[Aspect]:
    """The built-in aspects with their shipped calibrated thresholds."""
    return [
        Aspect(name, descs, _shipped_threshold(name, descs)) for name, descs in DEFAULT_DESCRIPTIONS.items()
    ]


def load_aspects(path: str | Path | None = None) -> list[Aspect]:
    """Aspects from a JSON file (see the module docstring), or the defaults when ``path`` is None."""
    if path is None:
        return default_aspects()
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"aspects file not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"aspects file {path} is not valid UTF-8 JSON: {err}") from None
    return parse_aspects(raw, source=str(path))


def parse_aspects(raw: Any, source: str = "aspects") -> list[Aspect]:
    """Validate a ``name -> descriptions | {"descriptions": [...], "threshold": x}`` mapping."""
    if not isinstance(raw, Mapping) or not raw:
        raise DataError(f"{source}: expected a non-empty JSON object of aspect name -> descriptions")
    aspects = []
    for name, spec in raw.items():
        threshold: float | None = None
        if isinstance(spec, Mapping):
            descs = spec.get("descriptions")
            if spec.get("threshold") is not None:
                value = spec["threshold"]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1 <= value <= 1:
                    raise DataError(f"{source}: aspect '{name}' threshold must be a number in [-1, 1]")
                threshold = float(value)
        else:
            descs = spec
        if isinstance(descs, str):
            descs = [descs]
        if (
            not isinstance(descs, Sequence)
            or not descs
            or not all(isinstance(d, str) and d.strip() for d in descs)
        ):
            raise DataError(f"{source}: aspect '{name}' needs a non-empty list of description strings")
        clean = tuple(d.strip() for d in descs)
        if threshold is None:
            threshold = _shipped_threshold(str(name), clean)
        aspects.append(Aspect(str(name), clean, threshold))
    return aspects


def shipped_thresholds() -> dict[str, Any]:
    """The contents of ``thresholds.json`` (empty when it has not been generated yet)."""
    return dict(_read_thresholds_file())


@lru_cache(maxsize=1)
def _read_thresholds_file() -> dict[str, Any]:
    try:
        data = json.loads(THRESHOLDS_JSON.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _shipped_threshold(name: str, descriptions: Sequence[str]) -> float | None:
    entry = _read_thresholds_file().get("aspects", {}).get(name)
    if not isinstance(entry, dict) or entry.get("fingerprint") != descriptions_fingerprint(descriptions):
        return None
    value = entry.get("threshold")
    return float(value) if isinstance(value, (int, float)) else None
