"""Regularisers any strategy can add: L2-SP and mixup / cutmix (stochastic depth is built in
by the backbone, see ``RunConfig.drop_path``).

- L2-SP (Li et al., 2018): ``alpha / 2 * ||theta - theta_pretrained||^2`` over the backbone
  keeps fine-tuned weights near the start instead of near zero.
- mixup / cutmix (timm's ``Mixup``): images only, and off by default: mixing two photos mixes
  their colours, which changes the meaning of a shade label.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class L2SP(nn.Module):
    """The squared distance of the backbone's parameters from where they started."""

    def __init__(self, backbone: nn.Module, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha
        self.params = [p for p in backbone.parameters()]
        # the anchor is rebuilt from the starting weights on resume: not part of checkpoints
        for i, p in enumerate(self.params):
            self.register_buffer(f"anchor_{i}", p.detach().clone(), persistent=False)

    def forward(self) -> torch.Tensor:
        terms = [
            (p - getattr(self, f"anchor_{i}")).pow(2).sum()
            for i, p in enumerate(self.params)
            if p.requires_grad
        ]
        if not terms:
            return torch.zeros(())
        return 0.5 * self.alpha * torch.stack(terms).sum()


def build_mixup(mixup: float, cutmix: float, label_smoothing: float, num_classes: int) -> Any:
    """timm's batch Mixup (None when both alphas are 0)."""
    if mixup <= 0 and cutmix <= 0:
        return None
    from timm.data import Mixup

    return Mixup(
        mixup_alpha=mixup, cutmix_alpha=cutmix, label_smoothing=label_smoothing, num_classes=num_classes
    )


def soft_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None
) -> torch.Tensor:
    """Cross-entropy with soft targets; class weights as CrossEntropyLoss applies them
    (each example weighted by its target's weight, normalised by the total weight)."""
    per_example = -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1)
    if class_weights is None:
        return per_example.mean()
    w = targets @ class_weights.to(targets.dtype)
    return (w * per_example).sum() / w.sum()
