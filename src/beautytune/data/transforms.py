"""Image -> tensor through timm's ``create_transform``, plus augmentation presets.

The processor saved with a bundle is a ``Preprocess`` (timm's data config: size, mean, std,
interpolation, crop_pct); the transforms themselves are timm's, so a bundle predicts with
exactly the eval transform timm would build for the backbone.

Colour carries meaning in cosmetics (a shade is a label), so no default preset changes
hue or saturation; only "strong" does, and it says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from PIL import Image
from timm.data import create_transform

from beautytune.errors import BeautytuneError
from beautytune.models.registry import Preprocess

AUGMENT_PRESETS = {
    "none": "no augmentation (eval transform)",
    "geometric": "random resized crop + horizontal flip; colours untouched (default)",
    "photometric": "geometric + brightness/contrast jitter; hue and saturation untouched",
    "strong": "geometric + RandAugment; may shift colours, not for shade labels",
}

# timm's training-transform arguments per preset; colour jitter off unless asked for
# (timm's default of 0.4 jitters saturation, which would change a shade).
_PRESET_ARGS: dict[str, dict[str, Any]] = {
    "geometric": {"color_jitter": None},
    "photometric": {"color_jitter": (0.2, 0.2, 0.0)},
    "strong": {"color_jitter": None, "auto_augment": "rand-m9-n2-mstd0.5"},
}


def _data_config(pp: Preprocess) -> dict[str, Any]:
    return {
        "input_size": (3, pp.input_size, pp.input_size),
        "interpolation": pp.interpolation,
        "mean": pp.mean,
        "std": pp.std,
    }


def eval_transform(pp: Preprocess) -> Callable[[Image.Image], torch.Tensor]:
    return create_transform(**_data_config(pp), crop_pct=pp.crop_pct, crop_mode="center")  # type: ignore[no-any-return]


def train_transform(pp: Preprocess, preset: str = "geometric") -> Callable[[Image.Image], torch.Tensor]:
    if preset not in AUGMENT_PRESETS:
        raise BeautytuneError(
            f"unknown augmentation preset '{preset}': use one of {', '.join(AUGMENT_PRESETS)}"
        )
    if preset == "none":
        return eval_transform(pp)
    return create_transform(  # type: ignore[no-any-return]
        **_data_config(pp), is_training=True, scale=(0.5, 1.0), hflip=0.5, **_PRESET_ARGS[preset]
    )
