"""Greedy model soup (Wortsman et al., 2022): one bundle whose weights average several runs'.

Candidates are taken best-validation first; each is added to the soup only if the averaged
weights score at least as well on the validation split as the soup without it, so the soup
is never worse on validation than the best single run. Only runs that share the best run's
architecture (backbone, head, labels, the same weight names and shapes) can join; a LoRA
run whose adapters are not merged, or another backbone, is passed over. The result is an
ordinary bundle: one model, as fast as each ingredient.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from beautytune.data.records import Record
from beautytune.inference.bundle import Bundle, load_bundle
from beautytune.inference.predictor import Predictor


@dataclass
class SoupResult:
    bundle: Bundle  # the best run's bundle, its model now holding the soup's weights
    ingredients: list[Path]
    val_macro_f1: float
    #: every candidate looked at: run, val macro-F1 of the soup with it, kept or why not
    tried: list[dict[str, Any]] = field(default_factory=list)

    @property
    def improved(self) -> bool:
        return len(self.ingredients) > 1


def _compatible(best: Bundle, other: Bundle, state: dict[str, torch.Tensor]) -> str | None:
    if (other.meta.task, other.meta.backbone) != (best.meta.task, best.meta.backbone):
        return f"another model ({other.meta.backbone})"
    if other.meta.labels != best.meta.labels or other.meta.head != best.meta.head:
        return "another head"
    theirs = other.model.state_dict()
    if theirs.keys() != state.keys() or any(theirs[k].shape != v.shape for k, v in state.items()):
        return "other weight names or shapes"
    return None


def _average(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    first = states[0]
    out = {}
    for key, value in first.items():
        if value.is_floating_point():
            out[key] = torch.stack([s[key].float() for s in states]).mean(0).to(value.dtype)
        else:  # counters such as BatchNorm's num_batches_tracked: the best run's
            out[key] = value.clone()
    return out


def greedy_soup(
    runs: list[Path],
    val: list[Record],
    best_val_macro_f1: float,
    *,
    deadline: float | None = None,
) -> SoupResult:
    """``runs``: run folders (each with ``bundle/``), best validation first; ``deadline``: a
    ``time.perf_counter()`` value after which no further candidate is tried."""
    from beautytune.evaluate.evaluate import macro_f1_of

    best = load_bundle(runs[0] / "bundle")
    predictor = Predictor(best.task, best.model, best.processor, best.labels)
    ingredients = [runs[0]]
    states = [{k: v.clone() for k, v in best.model.state_dict().items()}]
    score = best_val_macro_f1
    tried: list[dict[str, Any]] = []
    for run in runs[1:]:
        if deadline is not None and time.perf_counter() >= deadline:
            tried.append({"run": str(run), "kept": False, "why": "out of time"})
            continue
        other = load_bundle(run / "bundle")
        why = _compatible(best, other, states[0])
        if why is not None:
            tried.append({"run": str(run), "kept": False, "why": why})
            continue
        candidate = [*states, other.model.state_dict()]
        best.model.load_state_dict(_average(candidate))
        value = macro_f1_of(predictor, val)
        kept = value >= score
        tried.append({"run": str(run), "kept": kept, "val_macro_f1": round(value, 4)})
        if kept:
            states, score = candidate, value
            ingredients.append(run)
    best.model.load_state_dict(_average(states))
    best.model.eval()
    return SoupResult(best, ingredients, score, tried)
