"""torchvision architectures as feature extractors with timm's group_matcher interface.

Keeping torchvision's module names (``features.N``) means a torchvision ImageNet state
dict loads as-is (its ``classifier`` is dropped as the head).
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn


class MobileNetV2Features(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = torchvision.models.mobilenet_v2(weights=None).features
        self.num_features = 1280

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)

    def group_matcher(self, coarse: bool = False) -> dict[str, object]:
        # features.0 is the stem conv; features.1..17 are inverted residual blocks;
        # features.18 is the 1x1 head conv.
        return {"stem": r"^features\.0\.", "blocks": [(r"^features\.(\d+)\.", None)]}


def mobilenet_v2() -> nn.Module:
    return MobileNetV2Features()
