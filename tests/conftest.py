"""Shared fixtures: tiny generated data and an isolated feature cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


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
