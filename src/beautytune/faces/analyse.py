"""``beautytune face``: everything beautytune can say about face photos, one result each.

Per photo: the capture-quality verdict, the face box, the skin-tone estimate, and with a
bundle its prediction (and, for a ``--faces regions`` bundle, each region's own); an
overlay PNG to look at. A photo that cannot be analysed gets its reason, and the rest go on.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from beautytune.data.images import ImageError, load_rgb
from beautytune.errors import BeautytuneError, InputError
from beautytune.faces.overlay import draw_overlay
from beautytune.faces.patches import REGION_SETS
from beautytune.faces.prepare import faces_of
from beautytune.faces.quality import assess
from beautytune.faces.regions import makeup_regions, skin_regions
from beautytune.faces.tone import cheek_tone
from beautytune.inference.predictor import Predictor
from beautytune.io import write_bytes_atomic


def analyse_faces(
    paths: Sequence[str | Path],
    bundle: str | Path | None = None,
    overlay: str | Path | None = None,
) -> list[dict[str, Any]]:
    """One result per photo, in input order (see the module docstring)."""
    predictor = Predictor.from_bundle(bundle) if bundle is not None else None
    if predictor is not None and predictor.task.modality != "image":
        raise BeautytuneError(f"{bundle} is a {predictor.task.modality} bundle: face needs a photo bundle")
    from beautytune.tasks.image_classification import ImageClassification

    files = [str(p) for p in ImageClassification().expand_inputs(list(paths))]  # folders: their photos
    if not files:
        raise BeautytuneError("no photos found in the given inputs")
    predictions = predictor.predict(files) if predictor is not None else [{} for _ in files]
    out_dir = Path(overlay) if overlay is not None else None
    results = []
    for i, (path, predicted) in enumerate(zip(files, predictions, strict=True)):
        try:
            result = _analyse(path, predictor, predicted)
        except ImageError as e:
            results.append({"path": path, "error": str(e)})
            continue
        if out_dir is not None:
            target = out_dir / f"{i:03d}-{Path(path).stem}.png"
            buf = io.BytesIO()
            draw_overlay(**result.pop("_overlay")).save(buf, format="PNG")
            write_bytes_atomic(target, buf.getvalue())
            result["overlay"] = str(target)
        else:
            result.pop("_overlay")
        results.append(result)
    return results


def _analyse(path: str, predictor: Predictor | None, predicted: dict[str, Any]) -> dict[str, Any]:
    image = load_rgb(path)
    rgb = np.asarray(image)
    found = faces_of(rgb, path)
    quality = assess(rgb, found)
    face = found[0] if found else None
    regions = skin_regions(face.points, image.size, rgb) if face is not None else None
    tone = cheek_tone(rgb, regions) if regions is not None else None  # the regions drawn once
    result: dict[str, Any] = {
        "path": path,
        "faces": len(found),
        "box": list(face.box) if face is not None else None,
        "quality": quality.to_dict(),
        "tone": asdict(tone) if tone is not None else None,
    }
    region_labels: dict[str, tuple[str, float]] = {}
    caption = "no face found" if face is None else (tone.category if tone else "tone unknown")
    labels: list[str] = []
    if predictor is not None:
        labels = predictor.labels
        if "error" in predicted:
            result["prediction"] = {"error": predicted["error"]}
            caption = f"{predicted['error']}"
        else:
            result["prediction"] = {k: predicted[k] for k in ("label", "confidence", "probabilities")}
            caption = f"{predicted['label']} {predicted['confidence']:.2f} | {caption}"
            if predictor.processor.faces == "regions" and face is not None:
                result["regions"] = _per_region(predictor, path)
                if predictor.processor.face_regions == "makeup" and regions is not None:
                    regions = {**regions, **makeup_regions(face.points, image.size)}  # overlay them too
                region_labels = {n: (r["label"], r["confidence"]) for n, r in result["regions"].items()}
    if not quality.ok:
        caption += " | " + "; ".join(quality.issues)
    points = face.points if face is not None else None
    result["_overlay"] = {
        "image": image,
        "points": points,
        "box": result["box"],
        "regions": regions,
        "region_labels": region_labels,
        "labels": labels,
        "caption": caption,
    }
    return result


@torch.no_grad()
def _per_region(predictor: Predictor, path: str) -> dict[str, dict[str, Any]]:
    """Each present region's own prediction from a regions model (its patch alone)."""
    try:
        pixels, weight = predictor.task.prepare_input(path, predictor.processor)
    except InputError:
        return {}
    model = predictor.model
    logits = model.region_logits(pixels[None].to(predictor.device))[0].float()  # type: ignore[operator]
    probs = torch.softmax(logits / predictor.temperature, dim=-1).cpu().numpy()
    out = {}
    names = REGION_SETS[predictor.processor.face_regions]
    for name, present, row in zip(names, weight.tolist(), probs, strict=True):
        if present:
            k = int(row.argmax())
            out[name] = {
                "label": predictor.labels[k],
                "confidence": float(row[k]),
                "probabilities": {lab: float(p) for lab, p in zip(predictor.labels, row, strict=True)},
            }
    return out
