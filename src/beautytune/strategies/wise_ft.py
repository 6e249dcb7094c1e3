"""WiSE-FT (Wortsman et al., 2022): interpolate the starting and the fine-tuned weights.

theta(alpha) = (1 - alpha) * theta_start + alpha * theta_finetuned, where theta_start is the
pretrained backbone with the linear probe (LP-FT's start) and theta_finetuned LP-FT's result.
Fine-tuning gains on the training distribution; the start keeps what pretraining knew about
others: intermediate alphas often beat both away from the training source. alpha is chosen
on the validation split; the whole curve goes into the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score

from beautytune.data.records import by_split
from beautytune.errors import BeautytuneError
from beautytune.runtime import inference_device
from beautytune.strategies.base import option
from beautytune.strategies.fitters import FitContext, FitOutcome
from beautytune.strategies.lp_ft import LpFtOptions, LpFtStrategy

State = dict[str, torch.Tensor]


@dataclass
class WiseFtOptions(LpFtOptions):
    alphas: int = option(11, "interpolation weights tried on validation: 0 .. 1 in this many steps")

    def validate(self) -> None:
        super().validate()
        if self.alphas < 2:
            raise BeautytuneError("--alphas must be at least 2 (0 and 1)")


def interpolate(start: State, end: State, alpha: float) -> State:
    """(1 - alpha) * start + alpha * end for floating tensors; counters (BatchNorm's
    ``num_batches_tracked``) come from ``end``."""
    return {k: torch.lerp(start[k], v, alpha) if v.is_floating_point() else v.clone() for k, v in end.items()}


def _snapshot(model: torch.nn.Module) -> State:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def _val_macro_f1(ctx: FitContext) -> float:
    val = by_split(ctx.data.records, "val")
    device = inference_device(ctx.cfg.accelerator)
    model = ctx.model.eval().to(device)
    preds = []
    for inputs, _ in ctx.data.eval_loader(val):
        preds.append(model(**{k: v.to(device) for k, v in inputs.items()}).argmax(1).cpu())
    model.cpu()
    return float(f1_score(ctx.data.targets(val), torch.cat(preds).numpy(), average="macro"))


class WiseFtStrategy(LpFtStrategy):
    name = "wise-ft"
    summary = "LP-FT, then the weights interpolated towards the start; alpha chosen on validation"
    Options = WiseFtOptions
    options: WiseFtOptions

    def fit(self, ctx: FitContext) -> FitOutcome:
        self.probe(ctx)
        start = _snapshot(ctx.model)
        outcome = self.finetune(ctx)
        end = _snapshot(ctx.model)
        curve: list[dict[str, Any]] = []
        for alpha in np.linspace(0.0, 1.0, self.options.alphas):
            ctx.model.load_state_dict(interpolate(start, end, float(alpha)))
            curve.append({"alpha": round(float(alpha), 4), "val_macro_f1": _val_macro_f1(ctx)})
        # ties go to the larger alpha: the fine-tuned end is what validation picked epochs for
        best = max(curve, key=lambda c: (round(c["val_macro_f1"], 6), c["alpha"]))
        ctx.model.load_state_dict(interpolate(start, end, best["alpha"]))
        outcome.info["wise-ft alpha"] = best["alpha"]
        outcome.info["wise-ft val macro-F1 at 0 / chosen / 1"] = " / ".join(
            f"{c['val_macro_f1']:.4f}" for c in (curve[0], best, curve[-1])
        )
        outcome.curves["WiSE-FT: validation macro-F1 by alpha"] = {
            "x": [c["alpha"] for c in curve],
            "y": [c["val_macro_f1"] for c in curve],
            "xlabel": "alpha (0 = linear probe on pretrained weights, 1 = fine-tuned)",
            "ylabel": "validation macro-F1",
            "chosen": best["alpha"],
        }
        return outcome
