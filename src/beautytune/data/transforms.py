"""Image -> tensor, from the backbone's pretrained config, plus augmentation presets.

Colour carries meaning in cosmetics (a shade is a label), so no default preset changes
hue or saturation; only "strong" does, and it says so.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image
from torchvision import transforms as T

from beautytune.errors import BeautytuneError
from beautytune.models.registry import Preprocess

_INTERP = {
    "bicubic": T.InterpolationMode.BICUBIC,
    "bilinear": T.InterpolationMode.BILINEAR,
    "nearest": T.InterpolationMode.NEAREST,
}

AUGMENT_PRESETS = {
    "none": "no augmentation (eval transform)",
    "geometric": "random resized crop + horizontal flip; colours untouched (default)",
    "photometric": "geometric + brightness/contrast jitter; hue and saturation untouched",
    "strong": "geometric + RandAugment; may shift colours, not for shade labels",
}


def eval_transform(pp: Preprocess) -> Callable[[Image.Image], torch.Tensor]:
    return T.Compose(
        [
            T.Resize(pp.resize_size, interpolation=_INTERP[pp.interpolation]),
            T.CenterCrop(pp.input_size),
            T.ToTensor(),
            T.Normalize(pp.mean, pp.std),
        ]
    )


def train_transform(pp: Preprocess, preset: str = "geometric") -> Callable[[Image.Image], torch.Tensor]:
    if preset not in AUGMENT_PRESETS:
        raise BeautytuneError(
            f"unknown augmentation preset '{preset}': use one of {', '.join(AUGMENT_PRESETS)}"
        )
    if preset == "none":
        return eval_transform(pp)
    interp = _INTERP[pp.interpolation]
    steps: list[Callable[..., object]] = [
        T.RandomResizedCrop(pp.input_size, scale=(0.5, 1.0), interpolation=interp),
        T.RandomHorizontalFlip(),
    ]
    if preset == "photometric":
        steps.append(T.ColorJitter(brightness=0.2, contrast=0.2))
    if preset == "strong":
        steps.append(T.RandAugment(num_ops=2, magnitude=9, interpolation=interp))
    steps += [T.ToTensor(), T.Normalize(pp.mean, pp.std)]
    return T.Compose(steps)
