"""The photos a bench run measures on: the demo's product generator, saved as JPEGs at a
camera-like size, so decoding costs what it costs on real catalogues."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from beautytune.demo.synthetic import generate_products


def bench_photos(root: Path, n_per_class: int, side: int) -> Path:
    """``root/images/<class>/*.jpg`` (an ImageFolder) plus ``root/manifest.csv``; returns the
    manifest. Brands are the groups, as in the demo."""
    manifest = generate_products(root / "png", n_per_class=n_per_class, seed=0, size=side)
    lines = manifest.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        rel, rest = line.split(",", 1)
        target = (root / rel).with_suffix(".jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(manifest.parent / rel) as im:
            im.convert("RGB").save(target, quality=90)
        out.append(f"{Path(rel).with_suffix('.jpg').as_posix()},{rest}")
    (root / "manifest.csv").write_text("\n".join(out) + "\n")
    return root / "manifest.csv"
