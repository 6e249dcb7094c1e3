"""--faces crop/align: the crop, the alignment, the landmark cache, fallbacks, the audit's
face section and a fit + predict on drawn faces."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from beautytune import api
from beautytune.demo.synthetic_faces import drawn_face
from beautytune.errors import InputError
from beautytune.faces.landmarks import FaceMesher
from beautytune.faces.prepare import FaceOptions, face_box, faces_of, prepare_face
from beautytune.faces.quality import head_pose
from conftest import TINY, run_cli


def _framed(size: int = 256, canvas: int = 512, at: tuple[int, int] = (200, 150)) -> Image.Image:
    """A drawn face pasted into a larger scene, off centre."""
    scene = Image.new("RGB", (canvas, canvas), (40, 120, 60))
    scene.paste(drawn_face(size, grain=4.0), at)
    return scene


def test_crop_is_a_square_around_the_face_inside_the_photo() -> None:
    scene = _framed()
    crop, quality = prepare_face(scene, FaceOptions("crop", margin=0.1))
    assert quality.ok, quality.issues
    assert crop.width == crop.height and 150 < crop.width < 300
    box = face_box(faces_of(np.asarray(scene))[0], scene.size, 0.1)
    assert 200 <= box[0] < 280 and 150 <= box[1] < 230  # the face was pasted at (200, 150)
    corner = np.asarray(_framed(at=(0, 0)))
    x0, y0, _, _ = face_box(faces_of(corner)[0], (512, 512), 1.0)
    assert x0 == 0 and y0 == 0  # moved inside the photo, not cut


def test_align_levels_the_eyes() -> None:
    tilted = _framed().rotate(20, center=(328, 278), fillcolor=(40, 120, 60))
    face = faces_of(np.asarray(tilted))[0]
    assert abs(head_pose(face)[1]) > 12
    aligned, _ = prepare_face(tilted, FaceOptions("align"))
    again = FaceMesher().faces(np.asarray(aligned))[0]
    assert abs(head_pose(again)[1]) < 4


def test_fallbacks_and_the_landmark_cache(tmp_path: Path) -> None:
    empty = Image.new("RGB", (200, 200), (40, 120, 60))
    whole, quality = prepare_face(empty, FaceOptions("crop", fallback="whole"))
    assert whole is empty and quality.issues == ["no face found"]
    with pytest.raises(InputError, match="no face found"):
        prepare_face(empty, FaceOptions("crop", fallback="skip"))
    path = tmp_path / "face.png"
    _framed().save(path)
    rgb = np.asarray(Image.open(path).convert("RGB"))
    first = faces_of(rgb, path)
    cached = list((Path(os.environ["BEAUTYTUNE_CACHE"]) / "faces").glob("*.npy"))
    assert len(cached) == 1
    np.testing.assert_allclose(faces_of(rgb, path)[0].points, first[0].points)
    np.save(cached[0], np.zeros((0, 478, 3), np.float32))  # a cached "no face" is believed
    assert faces_of(rgb, path) == []


def test_fit_with_faces_skip_audits_trains_and_predicts(face_data: Path, tmp_path: Path) -> None:
    result = api.fit(
        face_data, tmp_path / "run", **{**TINY, "strategy": "head"}, faces="crop", faces_fallback="skip"
    )
    audit = json.loads((tmp_path / "run" / "audit" / "audit.json").read_text())
    assert audit["summary"]["faces"]["no_face"] == 2
    # drawn skin (236, 200, 180): ITA about 59; (120, 80, 60): L* 38, b* 20, ITA about -31
    assert audit["summary"]["faces"]["tones"] == {"very_light": 10, "dark": 10}
    skipped = {Path(e["path"]).name for e in audit["entries"] if e["status"] == "error"}
    assert skipped == {"empty.png"}
    assert "## Faces (capture quality)" in (tmp_path / "run" / "audit" / "audit.md").read_text()
    meta = json.loads((result.bundle / "bundle.json").read_text())
    assert meta["processor"]["faces"] == "crop" and meta["processor"]["faces_fallback"] == "skip"
    out = run_cli("predict", str(result.bundle), str(face_data.parent / "light"), "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    refused = [d for d in lines if d.get("error")]
    assert len(lines) == 11 and len(refused) == 1 and "no face found" in refused[0]["error"]
    whole = api.predict(result.bundle, [str(face_data.parent / "light" / "empty.png")], faces="off")
    assert "label" in whole[0]  # the same bundle on whole photos: nothing refused


def test_cli_rejects_an_unknown_faces_mode(face_data: Path, tmp_path: Path) -> None:
    r = run_cli("fit", str(face_data), "--out", str(tmp_path / "r"), "--faces", "regionz", "--init", "random")
    assert r.returncode != 0 and "faces" in r.stderr and not (tmp_path / "r").exists()
