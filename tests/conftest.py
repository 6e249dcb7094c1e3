"""Shared fixtures: tiny generated data and an isolated feature cache."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# module- and session-scoped fixtures run outside the per-test cache below: keep them out of
# the user's own cache too
os.environ["BEAUTYTUNE_CACHE"] = tempfile.mkdtemp(prefix="beautytune-tests-cache-")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEAUTYTUNE_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def tiny_products(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo generator at thumbnail size: 9 product types x 8 images, 3-4 brands each."""
    from beautytune.demo.synthetic import generate_products

    return generate_products(tmp_path_factory.mktemp("products") / "data", n_per_class=8, seed=1, size=64)


def shared_dataset(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"../shared/datasets/{name} is not available")
    return path


# Fast settings for a randomly initialised tiny timm model: the whole loop in seconds.
TINY = {
    "backbone": "test_efficientnet",
    "init": "random",
    "image_size": 48,
    "epochs": 2,
    "batch_size": 16,
    "lr": 3e-3,
}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``beautytune ARGS`` in a fresh process, as a user's shell would."""
    return subprocess.run(
        [sys.executable, "-m", "beautytune.cli", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="session")
def face_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classes of drawn faces (light / dark skin) in busy scenes, one person a group,
    plus two photos without a face."""
    import csv

    import numpy as np
    from PIL import Image

    from beautytune.demo.synthetic_faces import drawn_face

    root = tmp_path_factory.mktemp("faces")
    rows = []
    rng = np.random.default_rng(0)
    for label, skin in (("light", (236, 200, 180)), ("dark", (120, 80, 60))):
        for i in range(10):
            scene = Image.new("RGB", (320, 320), tuple(int(v) for v in rng.integers(0, 255, 3)))
            scene.paste(drawn_face(192, skin=skin, grain=4.0, seed=i), (int(rng.integers(0, 128)), 64))
            path = root / label / f"{i}.png"
            path.parent.mkdir(exist_ok=True)
            scene.save(path)
            rows.append([f"{label}/{i}.png", label, f"p{label}{i}"])
    for i, label in enumerate(("light", "dark")):
        Image.new("RGB", (320, 320), (30 + 90 * i, 140, 70)).save(root / label / "empty.png")
        rows.append([f"{label}/empty.png", label, f"empty{i}"])
    with (root / "manifest.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["path", "label", "group"], *rows])
    return root / "manifest.csv"


@pytest.fixture(scope="session")
def people_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight drawn people (skin and hairline differ) with four photos each, two "makeup"
    (a warmer background) and two "no_makeup"; the manifest's group is the person."""
    import csv

    import numpy as np
    from PIL import Image

    from beautytune.demo.synthetic_faces import drawn_face

    root = tmp_path_factory.mktemp("people")
    rows = []
    rng = np.random.default_rng(3)
    for p in range(8):
        skin = (int(150 + 12 * p), int(110 + 10 * p), int(90 + 8 * p))
        for k in range(4):
            condition = "makeup" if k < 2 else "no_makeup"
            back = (170, 90, 90) if condition == "makeup" else (90, 110, 140)
            face = drawn_face(
                128, skin=skin, background=back, grain=3.0, seed=10 * p + k, hairline=40 + 5 * p
            )
            scene = Image.new("RGB", (160, 160), back)
            scene.paste(face, (int(rng.integers(0, 32)), int(rng.integers(0, 32))))
            path = root / f"p{p}_{k}.png"
            scene.save(path)
            rows.append([path.name, condition, f"person{p}"])
    with (root / "manifest.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["path", "label", "group"], *rows])
    return root / "manifest.csv"
