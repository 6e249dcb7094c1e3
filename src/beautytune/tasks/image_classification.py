"""Image classification: product photos (type, brand, shade), skin and face photos."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from beautytune.config import RunConfig
from beautytune.data.audit import AuditReport, audit_records
from beautytune.data.dataset import ImageDataset, PatchesDataset, patch_tensors
from beautytune.data.images import ImageError, decode, is_image_path, load_rgb
from beautytune.data.prepared import prepare_images
from beautytune.data.records import Record
from beautytune.data.sources import load_records
from beautytune.data.transforms import eval_transform, train_transform
from beautytune.errors import WeightsError
from beautytune.faces.patches import REGION_SETS, Patches
from beautytune.models import weights as weights_mod
from beautytune.models.network import Classifier, HeadConfig, as_region_classifier, build_classifier
from beautytune.models.registry import Preprocess, get_spec
from beautytune.tasks.base import Batch, Built, ExportSpec, Task


class ImageClassification(Task):
    name = "image-classification"
    modality = "image"
    default_backbone = "tf_efficientnet_lite0"
    noun = "image"

    def read(self, data: str | Path, cfg: RunConfig) -> list[Record]:
        return load_records(
            data,
            path_col=cfg.path_col,
            label_col=cfg.label_col,
            group_col=cfg.group_col,
            split_col=cfg.split_col,
        )

    def audit(
        self, records: list[Record], cfg: RunConfig, *, known_labels: list[str] | None = None, progress: bool
    ) -> AuditReport:
        report = audit_records(records, known_labels=known_labels, progress=progress)
        if cfg.faces != "off":
            from beautytune.faces.audit import check_faces
            from beautytune.faces.prepare import FaceOptions

            check_faces(report, FaceOptions(cfg.faces, cfg.face_margin, cfg.faces_fallback), progress)
        return report

    def check_backbone(self, cfg: RunConfig) -> None:
        spec = get_spec(cfg.backbone_name(self))
        if cfg.weights is not None:
            weights_mod.load_into(
                spec.build(),
                weights_mod.load_weights_file(cfg.weights),
                source=f"weights file {cfg.weights}",
                ignore_prefixes=spec.head_prefixes,
            )
        elif cfg.init == "pretrained" and not (
            spec.packaged_weights and weights_mod.packaged_weights_available(spec.name)
        ):
            raise WeightsError(
                f"no packaged ImageNet weights for '{spec.name}': pass --weights PATH "
                "(safetensors or .pth), or --init random"
            )

    def build(self, cfg: RunConfig, num_classes: int) -> Built:
        spec = get_spec(cfg.backbone_name(self))
        pp = (
            spec.preprocess if cfg.image_size is None else replace(spec.preprocess, input_size=cfg.image_size)
        )
        if cfg.faces == "regions" and cfg.image_size is None:
            # five patches a photo: each at half the side costs about what one photo did
            pp = replace(pp, input_size=max(32, pp.input_size // 2))
        pp = replace(
            pp,
            faces=cfg.faces,
            face_margin=cfg.face_margin,
            faces_fallback=cfg.faces_fallback,
            face_regions=cfg.face_regions,
        )
        head = HeadConfig(cfg.head_hidden, cfg.head_dropout)
        model, source = build_classifier(
            spec, num_classes, head, init=cfg.init, weights=cfg.weights, drop_path=cfg.drop_path
        )
        if cfg.faces == "regions":
            model = as_region_classifier(model)
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return Built(model, pp, spec.name, source)

    def dataset(
        self, records: list[Record], targets: list[int], processor: Any, cfg: RunConfig, *, train: bool
    ) -> Dataset[tuple[Any, int]]:
        tf = train_transform(processor, cfg.augment) if train else _eval_transform(processor)
        if processor.faces == "regions":
            return PatchesDataset(records, targets, tf, _patches_step(processor))
        face_step = _face_step(processor)
        store = prepare_images(
            [r.path for r in records],
            processor.resize_size,
            crop=processor.input_size,
            interpolation=processor.interpolation,
            prepare=face_step,
            settings=_face_settings(processor),
        )
        return ImageDataset(
            records, targets, tf, keep_size=processor.resize_size, prepare=face_step, store=store
        )

    def collate(self, processor: Any) -> Callable[[list[tuple[Any, int]]], Batch]:
        return _collate_patches if processor.faces == "regions" else _collate_images

    def prepare_input(self, item: Any, processor: Any) -> Any:
        source = None
        if isinstance(item, Image.Image):
            image = item.convert("RGB")
        elif isinstance(item, bytes | bytearray):
            image = decode("<bytes>", bytes(item)).image
        else:
            image, source = load_rgb(item), item
        if processor.faces == "regions":
            from beautytune.faces.prepare import prepare_regions

            patches, _ = prepare_regions(image, processor.face_options, processor.resize_size, source)
            return patch_tensors(patches, _eval_transform(processor))
        if processor.faces != "off":
            from beautytune.faces.prepare import prepare_face

            image, _ = prepare_face(image, processor.face_options, source)
        return _eval_transform(processor)(image)

    tta_modes = ("flip", "crops")

    def tta_views(self, prepared: Any, mode: str) -> list[Any]:
        """flip: the image and its mirror; crops: those plus four corner crops (90% of each
        side, resized back), a cheap multi-crop on the already centre-cropped input."""
        if isinstance(prepared, tuple):  # skin patches: the same views of every patch
            pixels, weight = prepared
            return [(v, weight) for v in self.tta_views(pixels, mode)]
        views = [prepared, prepared.flip(-1)]
        if mode == "crops":
            size = prepared.shape[-1]
            c = round(size * 0.9)
            for y, x in ((0, 0), (0, size - c), (size - c, 0), (size - c, size - c)):
                crop = prepared[..., y : y + c, x : x + c].reshape(-1, *prepared.shape[-3:-2], c, c)
                resized = torch.nn.functional.interpolate(crop, size=(size, size), mode="bilinear")
                views.append(resized.reshape(prepared.shape))
        return views

    def expand_inputs(self, inputs: Sequence[Any]) -> list[Any]:
        """Files stay as given (odd extensions get a per-file error); folders recurse."""
        out: list[Any] = []
        for item in inputs:
            if isinstance(item, str | Path) and Path(item).is_dir():
                out.extend(sorted(f for f in Path(item).rglob("*") if f.is_file() and is_image_path(f)))
            else:
                out.append(item)
        return out

    def input_name(self, item: Any) -> str:
        return str(item) if isinstance(item, str | Path) else f"<{type(item).__name__}>"

    def slices(
        self, records: list[Record], processor: Any
    ) -> dict[str, tuple[list[str | None], tuple[str, ...]]]:
        """Face models are scored per skin-tone (ITA) bucket of each photo's cheeks."""
        if processor.faces == "off":
            return {}
        from beautytune.faces.prepare import tone_of_file
        from beautytune.faces.tone import CATEGORY_NAMES

        tones = [tone_of_file(r.path) for r in records]
        return {"skin_tone": ([t.category if t else None for t in tones], CATEGORY_NAMES)}

    def processor_meta(self, processor: Any) -> dict[str, Any]:
        return processor.to_dict()  # type: ignore[no-any-return]

    def load(
        self, backbone: str, processor: dict[str, Any], head: dict[str, Any], num_classes: int, folder: Path
    ) -> tuple[Classifier, Any]:
        spec = get_spec(backbone)
        cfg = HeadConfig(tuple(head.get("hidden", ())), float(head.get("dropout", 0.0)))
        model, _ = build_classifier(spec, num_classes, cfg, init="random")
        pp = Preprocess.from_dict(processor)
        return (as_region_classifier(model) if pp.faces == "regions" else model), pp

    def export_spec(self, processor: Any, examples: Sequence[Any] | None = None) -> ExportSpec:
        size = processor.input_size
        if processor.faces == "regions":
            if examples:
                inputs, _ = _collate_patches([(self.prepare_input(e, processor), 0) for e in examples])
                px, w = inputs["pixel_values"], inputs["region_weight"]
            else:
                g = torch.Generator().manual_seed(0)
                n = len(REGION_SETS[processor.face_regions])
                px = torch.randn(4, n, 3, size, size, generator=g)
                w = torch.ones(4, n)
            axes = {"patches": {0: "batch"}, "region_weight": {0: "batch"}}
            return ExportSpec((px, w), ["patches", "region_weight"], axes)
        if examples:
            x = torch.stack([self.prepare_input(e, processor) for e in examples])
        else:
            x = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(0))
        return ExportSpec((x,), ["image"], {"image": {0: "batch"}})


@lru_cache(maxsize=8)
def _eval_transform(pp: Preprocess) -> Callable[[Image.Image], torch.Tensor]:
    return eval_transform(pp)


def _face_step(pp: Preprocess) -> Callable[[Image.Image, str], Image.Image] | None:
    """The dataset's face step: the audit has already left out what ``skip`` refuses."""
    if pp.faces == "off":
        return None
    from beautytune.faces.prepare import prepare_face

    options = replace(pp.face_options, fallback="whole")
    return lambda image, path: prepare_face(image, options, path)[0]


def _face_settings(pp: Preprocess) -> dict[str, Any]:
    """What :func:`_face_step` depends on: part of the prepared-data store's key."""
    if pp.faces == "off":
        return {"faces": "off"}
    return {"faces": pp.faces, "face_margin": pp.face_margin, "faces_fallback": "whole"}


def _patches_step(pp: Preprocess) -> Callable[[Image.Image, str], Patches]:
    """The dataset's regions step (the audit has already left out what ``skip`` refuses)."""
    from beautytune.faces.prepare import prepare_regions

    options = replace(pp.face_options, fallback="whole")
    return lambda image, path: prepare_regions(image, options, pp.resize_size, path)[0]


def _collate_patches(items: list[tuple[Any, int]]) -> Batch:
    pixels = torch.stack([x for (x, _), _ in items])
    weight = torch.stack([w for (_, w), _ in items])
    return {"pixel_values": pixels, "region_weight": weight}, torch.tensor(
        [y for _, y in items], dtype=torch.long
    )


def _collate_images(items: list[tuple[Any, int]]) -> Batch:
    x = torch.stack([x for x, _ in items]).contiguous(memory_format=torch.channels_last)
    return {"pixel_values": x}, torch.tensor([y for _, y in items], dtype=torch.long)


__all__ = ["ImageClassification", "ImageError"]
