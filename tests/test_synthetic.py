"""The embedded synthetic dataset: layout, determinism, brand groups and safe (re)generation."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image

from beautytune.demo import synthetic
from beautytune.demo.synthetic import PRODUCT_TYPES, generate_products
from beautytune.errors import DataError

N = 6  # per class: small and fast, but enough for every brand to sell several types
SIZE = 48


def read_manifest(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def file_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_products(tmp_path_factory.mktemp("syn") / "ds", n_per_class=N, seed=0, size=SIZE)


def test_every_product_type_has_a_drawer() -> None:
    assert set(synthetic.DRAWERS) == set(PRODUCT_TYPES)
    assert len(PRODUCT_TYPES) == len(set(PRODUCT_TYPES))


def test_manifest_columns_counts_and_classes(dataset: Path) -> None:
    assert dataset.name == "manifest.csv"
    columns, rows = read_manifest(dataset)
    assert columns == ["path", "label", "group"]
    assert len(rows) == N * len(PRODUCT_TYPES)
    per_class: dict[str, int] = defaultdict(int)
    for r in rows:
        per_class[r["label"]] += 1
        assert r["path"] == f"images/{r['label']}/{Path(r['path']).name}"
        assert Path(r["path"]).name.startswith(r["label"] + "_")
        assert (dataset.parent / r["path"]).is_file()  # paths are relative to the CSV
    assert dict(per_class) == dict.fromkeys(PRODUCT_TYPES, N)


def test_images_are_rgb_of_requested_size(dataset: Path) -> None:
    _, rows = read_manifest(dataset)
    for r in rows:
        with Image.open(dataset.parent / r["path"]) as im:
            assert im.mode == "RGB"
            assert im.size == (SIZE, SIZE)


def test_brands_span_product_types(dataset: Path) -> None:
    """Brand is a nuisance variable: no brand may give away the product type."""
    _, rows = read_manifest(dataset)
    types_by_brand: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        types_by_brand[r["group"]].add(r["label"])
    assert 8 <= len(types_by_brand) <= 12
    assert all(len(types) >= 3 for types in types_by_brand.values())
    # With one image per brand per class, every brand sells every type.
    _, full = read_manifest(
        generate_products(dataset.parent.parent / "full", n_per_class=synthetic.N_BRANDS, size=32)
    )
    full_types: dict[str, set[str]] = defaultdict(set)
    for r in full:
        full_types[r["group"]].add(r["label"])
    assert all(types == set(PRODUCT_TYPES) for types in full_types.values())


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    a = generate_products(tmp_path / "a", n_per_class=2, seed=7, size=32).parent
    b = generate_products(tmp_path / "b", n_per_class=2, seed=7, size=32).parent
    c = generate_products(tmp_path / "c", n_per_class=2, seed=8, size=32).parent
    fa, fb, fc = file_bytes(a), file_bytes(b), file_bytes(c)
    assert fa == fb
    images = [k for k in fa if k.endswith(".png")]
    assert len(images) == 2 * len(PRODUCT_TYPES)
    assert all(fa[k] != fc[k] for k in images)


def test_images_within_a_dataset_differ(dataset: Path) -> None:
    blobs = [p.read_bytes() for p in dataset.parent.rglob("*.png")]
    assert len(set(blobs)) == len(blobs)


def test_same_parameters_reuse_the_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = generate_products(tmp_path / "ds", n_per_class=1, seed=3, size=32)
    params = json.loads((manifest.parent / synthetic.PARAMS_FILE).read_text())
    assert params["seed"] == 3 and params["n_per_class"] == 1 and params["size"] == 32

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("should not regenerate")

    monkeypatch.setattr(synthetic, "_write_dataset", fail)
    assert generate_products(tmp_path / "ds", n_per_class=1, seed=3, size=32) == manifest


def test_new_parameters_replace_the_dataset(tmp_path: Path) -> None:
    generate_products(tmp_path / "ds", n_per_class=1, seed=3, size=32)
    manifest = generate_products(tmp_path / "ds", n_per_class=2, seed=3, size=32)
    _, rows = read_manifest(manifest)
    assert len(rows) == 2 * len(PRODUCT_TYPES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temp or old copies left


def test_interrupted_run_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = synthetic._render_image

    def flaky(*args: object, **kwargs: object) -> Image.Image:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(synthetic, "_render_image", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate_products(tmp_path / "ds", n_per_class=2, size=32)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_foreign_folder(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty"):
        generate_products(out, n_per_class=1, size=32)
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_per_class": 0}, "n_per_class"), ({"seed": -1}, "seed"), ({"size": 8}, "size")],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_products(tmp_path / "ds", **kwargs)
