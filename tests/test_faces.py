"""Face preparation: landmarks on a drawn face, the regions drawn from them, capture
quality checks and the skin-tone angle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageFilter

from beautytune.demo.synthetic_faces import drawn_face
from beautytune.faces.landmarks import NUM_LANDMARKS, FaceMesher
from beautytune.faces.quality import assess
from beautytune.faces.regions import EXCLUDED, SKIN_REGIONS, polygon_mask, skin_regions
from beautytune.faces.tone import CATEGORY_NAMES, ita, ita_category, skin_tone

SKIN = (224, 172, 140)


@pytest.fixture(scope="module")
def mesher() -> FaceMesher:
    return FaceMesher()


@pytest.fixture(scope="module")
def face_rgb() -> np.ndarray:
    return np.asarray(drawn_face(256, skin=SKIN))


def test_facemesh_finds_the_drawn_face(mesher: FaceMesher, face_rgb: np.ndarray) -> None:
    faces = mesher.faces(face_rgb)
    assert len(faces) == 1 and faces[0].points.shape == (NUM_LANDMARKS, 2)
    left, top, right, bottom = faces[0].box
    assert 50 < left < right < 210 and 20 < top < bottom < 235  # the drawn oval is 60..196 x 30..220


def test_regions_sit_where_they_belong_and_skip_eyes_brows_and_lips(
    mesher: FaceMesher, face_rgb: np.ndarray
) -> None:
    points = mesher.faces(face_rgb)[0].points
    regions = skin_regions(points, (256, 256), face_rgb)
    assert set(regions) == set(SKIN_REGIONS)
    centre = {n: (np.nonzero(r.mask)[1].mean(), np.nonzero(r.mask)[0].mean()) for n, r in regions.items()}
    assert all(r.pixels > 400 for r in regions.values())
    # the drawing: eyes at y 100-116, nose 112-150, lips 168-188, eyes at x 98 and 158
    assert centre["forehead"][1] < 95 and centre["chin"][1] > 185
    assert 110 < centre["nose"][1] < 150 and abs(centre["nose"][0] - 128) < 8
    assert centre["right_cheek"][0] < 115 < 141 < centre["left_cheek"][0]  # subject's left = image right
    assert 115 < centre["left_cheek"][1] < 170 and 115 < centre["right_cheek"][1] < 170
    masks = [r.mask for r in regions.values()]
    assert sum(m.astype(int) for m in masks).max() == 1  # no pixel in two regions
    for idx in EXCLUDED.values():
        part = polygon_mask(points[list(idx)], (256, 256), hull=True)
        assert not any((m & part).any() for m in masks)
    # the region pixels are the drawn skin (or the nose's shade of it), not eye, lip or hair
    pixels = face_rgb[np.logical_or.reduce(masks)].astype(int)
    assert np.abs(pixels - np.array(SKIN)).max(axis=1).mean() < 25
    by_geometry = skin_regions(points, (256, 256))
    assert all(0.8 * by_geometry[n].pixels <= r.pixels <= by_geometry[n].pixels for n, r in regions.items())


def test_hair_over_the_forehead_is_cut_out_by_colour(mesher: FaceMesher) -> None:
    rgb = np.asarray(drawn_face(256, skin=SKIN, hairline=82))  # a fringe down to the brows
    points = mesher.faces(rgb)[0].points
    by_colour = skin_regions(points, (256, 256), rgb)["forehead"]
    by_geometry = skin_regions(points, (256, 256))["forehead"]
    assert by_colour.pixels < 0.5 * by_geometry.pixels

    def off_skin(mask: np.ndarray) -> float:
        return float(np.abs(rgb[mask].astype(int) - np.array(SKIN)).max(axis=1).mean())

    assert off_skin(by_colour.mask) < 0.5 * off_skin(by_geometry.mask)


def test_skin_tone_is_the_ita_of_known_cielab_colours() -> None:
    from skimage.color import lab2rgb

    assert ita(70.0, 20.0) == pytest.approx(45.0)
    assert ita(50.0, 15.0) == pytest.approx(0.0) and ita(30.0, 0.0) == -90.0
    assert [ita_category(a) for a in (60, 50, 30, 20, 0, -45)] == list(CATEGORY_NAMES)
    for lightness, b in ((75.0, 12.0), (62.0, 18.0), (45.0, 20.0), (30.0, 14.0)):
        rgb = (lab2rgb(np.array([[[lightness, 10.0, b]]])) * 255).round().astype(np.uint8)
        tone = skin_tone(np.repeat(rgb, 16, axis=1))
        assert tone is not None
        expected = math.degrees(math.atan((lightness - 50) / b))
        assert tone.ita == pytest.approx(expected, abs=1.0) and tone.pixels == 16
    assert skin_tone(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), bool)) is None


def test_darker_drawn_skin_gets_a_lower_tone(mesher: FaceMesher) -> None:
    tones = []
    for skin in ((236, 200, 180), (198, 134, 96), (110, 70, 50)):
        rgb = np.asarray(drawn_face(256, skin=skin))
        regions = skin_regions(mesher.faces(rgb)[0].points, (256, 256))
        tone = skin_tone(rgb, regions["left_cheek"].mask | regions["right_cheek"].mask)
        assert tone is not None
        tones.append(tone.ita)
    assert tones[0] > tones[1] > tones[2]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("no face", "no face found"),
        ("two faces", "2 faces"),
        ("tiny", "face too small"),
        ("dark", "too dark"),
        ("grey", "no colour"),
        ("rotated", "head tilted"),
        ("blurred", "blurred"),
    ],
)
def test_capture_quality_names_the_problem(
    mesher: FaceMesher, face_rgb: np.ndarray, name: str, reason: str
) -> None:
    im = Image.fromarray(face_rgb)
    photos = {
        "no face": Image.new("RGB", (256, 256), (90, 110, 140)),
        "two faces": _side_by_side(im),
        "tiny": im.resize((48, 48)),
        "dark": Image.fromarray((face_rgb * 0.12).astype(np.uint8)),
        "grey": im.convert("L").convert("RGB"),
        "rotated": im.rotate(90, expand=True),
        "blurred": im.filter(ImageFilter.GaussianBlur(6)),
    }
    rgb = np.asarray(photos[name])
    q = assess(rgb, mesher.faces(rgb))
    assert not q.ok and any(reason in issue for issue in q.issues), q.issues


def test_a_good_photo_passes(mesher: FaceMesher) -> None:
    rgb = np.asarray(drawn_face(256, skin=SKIN, grain=6.0))
    q = assess(rgb, mesher.faces(rgb))
    assert q.ok, q.issues
    assert abs(q.measures["yaw"]) < 0.2 and abs(q.measures["roll_deg"]) < 5


def _side_by_side(im: Image.Image) -> Image.Image:
    sheet = Image.new("RGB", (im.width * 2, im.height), (90, 110, 140))
    sheet.paste(im, (0, 0))
    sheet.paste(im, (im.width, 0))
    return sheet
