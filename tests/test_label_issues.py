"""The label check: out-of-fold probabilities on grouped folds, cleanlab, audit and fit."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from beautytune import api
from beautytune.data.records import Record
from beautytune.evaluate.label_issues import find_issues, out_of_fold_probs
from conftest import TINY, run_cli


def _blobs(
    n: int = 120, flip: int = 6, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 5)) + 4.0 * np.eye(3, 5)[y]
    noisy = y.copy()
    flipped = rng.choice(n, flip, replace=False)
    noisy[flipped] = (noisy[flipped] + 1) % 3
    groups = [f"g{i % 10}" for i in range(n)]
    return x, noisy, flipped, groups


def test_out_of_fold_probs_never_see_their_own_group() -> None:
    x, y, _, groups = _blobs()
    probs = out_of_fold_probs(x, y, groups, 3, folds=5)
    assert probs.shape == (120, 3) and np.allclose(probs.sum(1), 1)
    # a model that saw its own examples would give a memorised label far more weight
    assert (probs[np.arange(120), y] < 0.999).all()


def test_flipped_labels_are_found() -> None:
    x, y, flipped, groups = _blobs()
    records = [Record(f"/d/{i}.jpg", "abc"[y[i]], groups[i], None) for i in range(len(y))]
    issues = find_issues(records, out_of_fold_probs(x, y, groups, 3), y, ["a", "b", "c"])
    found = {int(Path(d["path"]).stem) for d in issues}
    assert set(flipped.tolist()) <= found  # well-separated blobs: every flip caught
    assert len(found - set(flipped.tolist())) <= 2  # and hardly anything else
    first = issues[0]
    assert first["rank"] == 1 and first["suggested"] != first["given"]
    assert first["given_label_probability"] <= issues[-1]["given_label_probability"]


def _manifest(src: Path, dst: Path, edit: Callable[[int, dict[str, str]], None] | None = None) -> Path:
    """A copy of the tiny manifest with absolute paths; ``edit(i, row)`` may change rows."""
    with src.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows):
        row["path"] = str((src.parent / row["path"]).resolve())
        if edit:
            edit(i, row)
    with dst.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return dst


def test_audit_labels_report_and_fit_drop(tiny_products: Path, tmp_path: Path) -> None:
    def flip(i: int, row: dict[str, str]) -> None:
        if i % 9 == 0:  # a few photos filed under the next class
            row["label"] = "lipstick" if row["label"] != "lipstick" else "mascara"

    data = _manifest(tiny_products, tmp_path / "noisy.csv", flip)
    model = {k: TINY[k] for k in ("backbone", "init", "image_size")}
    report = api.audit(data, tmp_path / "audit", labels=True, folds=3, **model)
    assert report.label_issues is not None and len(report.label_issues) > 0
    saved = json.loads((tmp_path / "audit" / "label_issues.json").read_text())
    assert saved["count"] == len(report.label_issues)
    assert (tmp_path / "audit" / "label_issues.png").stat().st_size > 0
    assert "## Likely label issues" in (tmp_path / "audit" / "audit.md").read_text()

    r = api.fit(data, tmp_path / "run", strategy="features", drop_label_issues=True, **TINY)
    with (r.run_dir / "split.csv").open() as f:
        rows = list(csv.DictReader(f))
    dropped = {row["path"] for row in rows if row["split"] == "label_issue"}
    flagged = {
        d["path"] for d in json.loads((r.run_dir / "audit" / "label_issues.json").read_text())["issues"]
    }
    assert dropped and dropped <= flagged
    assert not any(row["path"] in flagged and row["split"] in ("train", "val") for row in rows)
    # the test split is the one a run without the check gets: flagged test examples stay
    plain = api.fit(data, tmp_path / "plain", strategy="features", **TINY)
    with (plain.run_dir / "split.csv").open() as f:
        plain_test = {row["path"] for row in csv.DictReader(f) if row["split"] == "test"}
    assert {row["path"] for row in rows if row["split"] == "test"} == plain_test
    assert "label issues left out" in (r.run_dir / "report" / "index.html").read_text()


def test_split_column_leaks_are_reported(tiny_products: Path, tmp_path: Path) -> None:
    first = (tiny_products.parent / "images" / "lipstick" / "lipstick_0.png").resolve()
    copy = tmp_path / "copy_of_lipstick_0.png"
    shutil.copy(first, copy)

    def split(i: int, row: dict[str, str]) -> None:
        row["split"] = ("train", "train", "val", "test")[i % 4] if row["path"] != str(first) else "train"

    manifest = _manifest(tiny_products, tmp_path / "m.csv", split)
    with manifest.open("a", newline="") as f:  # the same photo again, in the test split
        csv.writer(f).writerow([str(copy), "lipstick", "another_brand", "test"])
    report = api.audit(manifest, tmp_path / "audit")
    assert report.summary["split_leaks"] >= 1
    assert "## Leaks across the given split" in (tmp_path / "audit" / "audit.md").read_text()
    r = run_cli("audit", str(manifest), "--out", str(tmp_path / "a2"))
    assert r.returncode == 0 and "straddle the given split" in r.stdout
