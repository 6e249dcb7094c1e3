"""The network beautytune trains and ships: a backbone plus a head."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from torch import nn

from beautytune.errors import WeightsError
from beautytune.models import weights as weights_mod
from beautytune.models.heads import build_head
from beautytune.models.registry import BackboneSpec


class Classifier(nn.Module):
    """``head(backbone(x))``; the backbone returns pooled features of size ``num_features``."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    @property
    def fc(self) -> nn.Linear:
        """The head's final linear layer (every head built by ``build_head`` ends in one)."""
        return cast(nn.Linear, self.head.get_submodule("fc"))

    @property
    def num_features(self) -> int:
        return int(self.backbone.num_features)  # type: ignore[arg-type]


@dataclass(frozen=True)
class HeadConfig:
    hidden: tuple[int, ...] = ()
    dropout: float = 0.0


def build_classifier(
    spec: BackboneSpec,
    num_classes: int,
    head: HeadConfig = HeadConfig(),
    *,
    init: str = "pretrained",
    weights: str | Path | None = None,
) -> tuple[Classifier, str]:
    """Build the network and load the backbone's starting weights.

    ``init`` is "pretrained" (packaged or ``weights``) or "random". Returns the model and
    a short description of where its weights came from (saved in the bundle).
    """
    backbone = spec.build()
    source = "random init"
    if weights is not None:
        sd = weights_mod.load_weights_file(weights)
        weights_mod.load_into(
            backbone, sd, source=f"weights file {weights}", ignore_prefixes=spec.head_prefixes
        )
        source = f"file:{Path(weights).name}"
    elif init == "pretrained":
        if not spec.packaged_weights:
            raise WeightsError(
                f"no packaged ImageNet weights for '{spec.name}': pass --weights PATH "
                "(safetensors or .pth), or --init random"
            )
        sd = weights_mod.load_packaged_state_dict(spec.name)
        weights_mod.load_into(
            backbone, sd, source=f"packaged weights for {spec.name}", ignore_prefixes=spec.head_prefixes
        )
        source = f"package:{weights_mod.LITE_PACKAGES[spec.name]}"
    elif init != "random":
        raise WeightsError(f"unknown init '{init}': use 'pretrained' or 'random'")
    model = Classifier(backbone, build_head(backbone.num_features, num_classes, head.hidden, head.dropout))  # type: ignore[arg-type]
    return model, source
