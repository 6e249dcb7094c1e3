"""--faces regions: skin patches from the landmarks, one backbone pooled over them, per-region
predictions, bundles and ONNX export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from beautytune import api
from beautytune.demo.synthetic_faces import drawn_face
from beautytune.errors import BeautytuneError
from beautytune.evaluate.slices import slice_metrics
from beautytune.faces.patches import REGION_NAMES, REGION_SETS, region_patches
from beautytune.faces.prepare import FaceOptions, faces_of, prepare_regions
from beautytune.inference.bundle import load_bundle
from beautytune.models.network import RegionClassifier
from conftest import TINY, run_cli

SKIN = (224, 172, 140)


def test_patches_hold_only_skin() -> None:
    face_img = drawn_face(256, skin=SKIN, grain=2.0)
    face = faces_of(np.asarray(face_img))[0]
    patches = region_patches(face_img, face, 64)
    assert patches.present == [True] * len(REGION_NAMES)
    assert patches.regions is not None and set(patches.regions) == set(REGION_NAMES)
    for name, im in zip(REGION_NAMES, patches.images, strict=True):
        assert im.size == (64, 64)
        px = np.asarray(im, dtype=float).reshape(-1, 3)
        # no dark iris, brow or hair, no red lip: every pixel close to the drawn skin
        far = np.abs(px - SKIN).max(axis=1) > 40
        assert far.mean() < 0.02, (name, far.mean())


def test_makeup_patches_hold_the_lips_and_the_eyes() -> None:
    face_img = drawn_face(256, skin=SKIN, grain=2.0)
    face = faces_of(np.asarray(face_img))[0]
    patches = region_patches(face_img, face, 64, "makeup")
    assert len(patches.images) == len(REGION_SETS["makeup"]) == len(REGION_NAMES) + 3
    named = dict(zip(REGION_SETS["makeup"], patches.images, strict=True))
    lips = np.asarray(named["lips"], dtype=float).reshape(-1, 3)
    assert (np.abs(lips - (180, 60, 70)).max(axis=1) < 40).mean() > 0.3  # the drawn red lips
    for eye in ("left_eye", "right_eye"):
        px = np.asarray(named[eye], dtype=float).reshape(-1, 3)
        far = np.abs(px - SKIN).max(axis=1) > 40  # white, iris and pupil, which skin patches cut out
        assert far.mean() > 0.2 and (px.max(axis=1) < 90).any()
    skin_only = region_patches(face_img, face, 64)
    for a, b in zip(skin_only.images, patches.images, strict=False):
        assert np.array_equal(np.asarray(a), np.asarray(b))  # the skin patches are unchanged


def test_without_a_face_tiles_of_the_close_up_fill_every_slot() -> None:
    empty = Image.new("RGB", (200, 160), (40, 120, 60))
    empty.paste((200, 0, 0), (20, 0, 100, 80))  # the central square's top-left quadrant is red
    patches, quality = prepare_regions(empty, FaceOptions("regions"), 48)
    assert patches.present == [True] * len(REGION_NAMES) and patches.regions is None
    assert all(p.size == (48, 48) for p in patches.images)
    corners = [np.asarray(p)[24, 24] for p in patches.images]
    assert tuple(corners[0]) == (200, 0, 0) and tuple(corners[3]) == (40, 120, 60)
    assert quality.issues == ["no face found"]
    with pytest.raises(Exception, match="no face found"):
        prepare_regions(empty, FaceOptions("regions", fallback="skip"), 48)


def test_region_classifier_pools_present_patches_only() -> None:
    backbone = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 6))
    backbone.num_features = 6  # type: ignore[assignment]
    head = torch.nn.Sequential()
    head.add_module("fc", torch.nn.Linear(6, 2))
    model = RegionClassifier(backbone, head)
    x = torch.randn(2, 5, 3, 4, 4)
    w = torch.tensor([[1.0, 1, 0, 0, 0], [1, 1, 1, 1, 1]])
    changed = x.clone()
    changed[0, 2:] = 100.0  # absent patches: whatever they hold must not count
    torch.testing.assert_close(model(x, w)[0], model(changed, w)[0])
    assert model.region_logits(x).shape == (2, 5, 2)
    per = model.region_features(x)
    torch.testing.assert_close(model.features(x, w)[1], per[1].mean(0))


@pytest.fixture(scope="module")
def regions_run(face_data: Path, tmp_path_factory: pytest.TempPathFactory) -> api.FitResult:
    out = tmp_path_factory.mktemp("regions") / "run"
    return api.fit(face_data, out, **{**TINY, "strategy": "head"}, faces="regions")


def test_fit_regions_predicts_exports_and_keeps_the_mode(face_data: Path, regions_run: api.FitResult) -> None:
    result = regions_run
    meta = json.loads((result.bundle / "bundle.json").read_text())
    assert meta["processor"]["faces"] == "regions" and meta["processor"]["input_size"] == TINY["image_size"]
    bundle = load_bundle(result.bundle)
    assert isinstance(bundle.model, RegionClassifier)
    preds = api.predict(result.bundle, [str(face_data.parent / "light" / "0.png")])
    assert preds[0]["label"] in ("light", "dark")
    tones = json.loads((result.report.parent / "metrics.json").read_text())["slices"]["skin_tone"]
    assert sum(r["n"] for r in tones) >= 1 and all("warning" in r for r in tones)  # a tiny test split
    assert "Per skin tone" in result.report.read_text()
    with pytest.raises(BeautytuneError, match="regions network"):
        api.predict(result.bundle, [str(face_data.parent / "light" / "0.png")], faces="crop")
    exported = api.export(result.bundle)
    assert exported.input_names == ["patches", "region_weight"] and exported.max_abs_diff < 1e-4


def test_evaluate_reports_every_tone_bucket(
    face_data: Path, regions_run: api.FitResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("beautytune.evaluate.slices.MIN_SLICE", 5)  # large enough buckets here
    m = api.evaluate(regions_run.bundle, face_data, tmp_path / "eval")
    tones = {t["bucket"]: t for t in m["slices"]["skin_tone"]}
    assert tones["very_light"]["n"] == 10 and tones["dark"]["n"] == 10 and tones["unknown"]["n"] == 2
    assert "warning" not in tones["dark"] and "warning" in tones["unknown"]
    assert "Per skin tone" in (tmp_path / "eval" / "index.html").read_text()


def test_makeup_regions_fit_export_and_show_per_region(face_data: Path, tmp_path: Path) -> None:
    result = api.fit(
        face_data, tmp_path / "run", **{**TINY, "strategy": "head"}, faces="regions", face_regions="makeup"
    )
    meta = json.loads((result.bundle / "bundle.json").read_text())
    assert meta["processor"]["face_regions"] == "makeup"
    exported = api.export(result.bundle)
    assert exported.max_abs_diff < 1e-4
    r = run_cli("face", str(face_data.parent / "light" / "0.png"), "--bundle", str(result.bundle), "--json")
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)["regions"]) == set(REGION_SETS["makeup"])
    with pytest.raises(BeautytuneError, match="--faces regions"):
        api.fit(face_data, tmp_path / "refused", **TINY, face_regions="makeup")
    assert not (tmp_path / "refused").exists()


def test_regions_refuse_mixup(face_data: Path, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="mixup"):
        api.fit(face_data, tmp_path / "run", **TINY, faces="regions", mixup=0.2)
    assert not (tmp_path / "run").exists()


def test_slice_metrics_score_each_bucket_and_warn_when_small() -> None:
    y = np.array([0, 1, 0, 1, 0, 0])
    probs = np.eye(2)[[0, 1, 1, 1, 0, 0]]
    rows = slice_metrics(
        y, probs, ["a", "b"], ["light", "light", "dark", "dark", None, "light"], ("light", "dark"), 3
    )
    assert [r["bucket"] for r in rows] == ["light", "dark", "unknown"]
    light, dark, unknown = rows
    assert light["n"] == 3 and light["accuracy"] == 1.0 and "warning" not in light
    assert dark["accuracy"] == 0.5 and dark["classes"] == {"a": 1, "b": 1} and "too few" in dark["warning"]
    assert unknown["n"] == 1


def test_face_cli_reports_every_photo_in_order_with_overlays(
    face_data: Path, regions_run: api.FitResult, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    photos = [face_data.parent / "light" / "0.png", face_data.parent / "dark" / "empty.png", broken]
    bundle, overlays = str(regions_run.bundle), tmp_path / "overlays"
    r = run_cli("face", *map(str, photos), "--bundle", bundle, "--json", "--overlay", str(overlays))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert [Path(d["path"]).name for d in lines] == ["0.png", "empty.png", "broken.jpg"]
    face, empty, bad = lines
    assert face["faces"] == 1 and face["quality"]["ok"] and face["tone"]["category"] == "very_light"
    assert face["prediction"]["label"] in ("light", "dark") and set(face["regions"]) == set(REGION_NAMES)
    with Image.open(face["overlay"]) as im:
        assert max(im.size) >= 640  # small photos are enlarged for legibility
    assert empty["faces"] == 0 and empty["quality"]["issues"] == ["no face found"] and empty["tone"] is None
    assert "regions" not in empty and "prediction" in empty  # used whole (--faces-fallback whole)
    assert set(bad) == {"path", "error"} and "not an image" in bad["error"]
    assert len(list(overlays.glob("*.png"))) == 2
    plain = run_cli("face", str(photos[0]))  # without a bundle: quality and tone only
    assert plain.returncode == 0 and "tone very_light" in plain.stdout and "capture ok" in plain.stdout
