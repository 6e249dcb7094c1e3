"""Photos a face model should not judge, made from one real face photo, through `beautytune face`.

Writes OUT/photos/ (no face, two faces, greyscale, tiny, rotated 90 degrees, too dark, and the
original) and runs `beautytune face` on them with a bundle, printing each verdict. Usage:

    uv run python benchmarks/bad_face_photos.py --bundle runs/faces/skin_type/features-regions/bundle \\
        --photo ../shared/datasets/makeup/images/makeup/<file>.jpg --out runs/bad_photos
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

from beautytune import api


def bad_photos(photo: Path, out: Path) -> list[Path]:
    im = Image.open(photo).convert("RGB")
    w, h = im.size
    two = Image.new("RGB", (2 * w, h))
    two.paste(im, (0, 0))
    two.paste(ImageOps.mirror(im), (w, 0))
    variants = {
        "original": im,
        "no_face": Image.new("RGB", (w, h), (200, 190, 180)),
        "two_faces": two,
        "greyscale": ImageOps.grayscale(im).convert("RGB"),
        "tiny": im.resize((max(8, w // 5), max(8, h // 5))),
        "rotated_90": im.rotate(90, expand=True),
        "too_dark": ImageEnhance.Brightness(im).enhance(0.12),
    }
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, variant in variants.items():
        path = out / f"{name}.png"
        variant.save(path)
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photo", type=Path, required=True)
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--out", type=Path, default=Path("runs/bad_photos"))
    args = ap.parse_args()
    paths = bad_photos(args.photo, args.out / "photos")
    for r in api.face(paths, args.bundle, args.out / "overlays"):
        pred = r.get("prediction", {})
        print(
            json.dumps(
                {
                    "photo": Path(r["path"]).name,
                    "faces": r.get("faces"),
                    "capture": r["quality"]["issues"] if "quality" in r else r.get("error"),
                    "prediction": pred.get("label", pred.get("error")),
                    "tone": (r.get("tone") or {}).get("category"),
                }
            )
        )


if __name__ == "__main__":
    main()
