"""The network beautytune trains and ships: a backbone plus a head."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from torch import nn

from beautytune.errors import WeightsError
from beautytune.models import adapters
from beautytune.models import weights as weights_mod
from beautytune.models.heads import build_head
from beautytune.models.registry import BackboneSpec


class Classifier(nn.Module):
    """``head(backbone(**inputs))``; the backbone returns pooled features of size ``num_features``.

    Every task's network is one of these, so strategies, the training loop, feature
    extraction and export see one shape: ``features(**inputs)``, ``head``, ``fc`` and the
    backbone's ``layer_groups()`` from input to output.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def features(self, *args: torch.Tensor, **inputs: torch.Tensor) -> torch.Tensor:
        return self.backbone(*args, **inputs)  # type: ignore[no-any-return]

    def forward(self, *args: torch.Tensor, **inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(*args, **inputs))  # type: ignore[no-any-return]

    def training_loss(
        self, inputs: dict[str, torch.Tensor], y: torch.Tensor, loss_fn: nn.Module
    ) -> torch.Tensor:
        """The loss one training batch is stepped on (an embedding model brings its own)."""
        return loss_fn(self(**inputs), y)  # type: ignore[no-any-return]

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """The backbone's coarse layer groups, input to output (what ``partial`` unfreezes)."""
        own = getattr(self.backbone, "layer_groups", None)
        if callable(own):
            return own()  # type: ignore[no-any-return]
        return timm_layer_groups(self.backbone)

    def apply_lora(self, r: int = 8, alpha: float = 16, dropout: float = 0.0) -> list[nn.Parameter]:
        """LoRA adapters on the backbone (peft); only they train until :meth:`merge_lora`.

        A text encoder names its targets (``lora_targets``: attention and feed-forward
        layers of its inner model); any other backbone gets every linear and ungrouped
        convolution layer.
        """
        targets = getattr(self.backbone, "lora_targets", None)
        if callable(targets):
            site: tuple[nn.Module, str, list[str]] = (self.backbone, "model", targets())
        else:
            site = (self, "backbone", adapters.linear_targets(self.backbone))
        self._lora_site = site[:2]
        return adapters.apply_lora(site[0], site[1], site[2], r=r, alpha=alpha, dropout=dropout)

    def merge_lora(self) -> None:
        """Fold the adapters into the weights: a plain network with its original keys again."""
        site = self.__dict__.pop("_lora_site", None)
        if site is not None:
            adapters.merge_lora(*site)

    @property
    def fc(self) -> nn.Linear:
        """The head's final linear layer (every head built by ``build_head`` ends in one)."""
        return cast(nn.Linear, self.head.get_submodule("fc"))

    @property
    def num_features(self) -> int:
        return int(self.backbone.num_features)  # type: ignore[arg-type]


class ImageClassifier(Classifier):
    """Images in as ``pixel_values`` (what image tasks' batches call them)."""

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.backbone(pixel_values)  # type: ignore[no-any-return]


class RegionClassifier(ImageClassifier):
    """Skin patches in (``pixel_values`` (B, R, 3, H, W), ``region_weight`` (B, R): 1 where a
    region is present); one backbone embeds every patch and the photo's features are the
    weighted mean over its regions, so the head (and every strategy) sees one vector a photo.
    """

    def region_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, R, D): each patch's pooled backbone features."""
        b, r = pixel_values.shape[:2]
        flat = pixel_values.flatten(0, 1).contiguous(memory_format=torch.channels_last)
        return self.backbone(flat).reshape(b, r, -1)  # type: ignore[no-any-return]

    def features(  # type: ignore[override]
        self, pixel_values: torch.Tensor, region_weight: torch.Tensor
    ) -> torch.Tensor:
        per_region = self.region_features(pixel_values)
        w = region_weight.to(per_region.dtype).unsqueeze(-1)
        return (per_region * w).sum(1) / w.sum(1).clamp_min(1e-6)

    def region_logits(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, R, C): the head's verdict on each patch alone (what ``beautytune face`` shows)."""
        return self.head(self.region_features(pixel_values))  # type: ignore[no-any-return]


def as_region_classifier(model: ImageClassifier) -> RegionClassifier:
    """The same backbone and head, fed skin patches instead of photos."""
    return RegionClassifier(model.backbone, model.head)


def timm_layer_groups(backbone: nn.Module) -> list[list[nn.Parameter]]:
    """Coarse groups (stem, stages..., head conv) from the model's own ``group_matcher``.

    Asking the model instead of guessing from layer names makes any timm architecture work.
    """
    from timm.models import group_parameters

    matcher = getattr(backbone, "group_matcher", None)
    named = dict(backbone.named_parameters())
    if matcher is None:
        return [list(named.values())]
    groups = group_parameters(backbone, matcher(coarse=True))
    return [[named[n] for n in names] for _, names in sorted(groups.items())]


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
    drop_path: float = 0.0,
) -> tuple[ImageClassifier, str]:
    """Build the network and load the backbone's starting weights.

    ``init`` is "pretrained" (packaged or ``weights``) or "random"; ``drop_path`` is the
    stochastic-depth rate of backbones that have it (timm's ``drop_path_rate``). Returns the
    model and a short description of where its weights came from (saved in the bundle).
    """
    if drop_path > 0:
        try:
            backbone = spec.build(drop_path_rate=drop_path)
        except TypeError:
            raise WeightsError(
                f"{spec.name} has no stochastic depth (drop_path_rate): drop --drop-path"
            ) from None
    else:
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
    width = int(backbone.num_features)  # type: ignore[arg-type]
    model = ImageClassifier(backbone, build_head(width, num_classes, head.hidden, head.dropout))
    return model, source
