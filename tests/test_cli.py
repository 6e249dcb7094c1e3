"""The CLI as a new user meets it: audit, fit on broken data, models, bad bundles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TINY, run_cli
from corpus import make_broken_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    root = tmp_path_factory.mktemp("corpus")
    return root, make_broken_corpus(root)  # type: ignore[return-value]


def test_audit_cli_reports_every_case(corpus: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    root, cases = corpus
    proc = run_cli("audit", str(root / "manifest.csv"), "--out", str(tmp_path / "a"))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "a" / "audit.json").read_text())
    by_path = {Path(e["path"]).resolve(): e for e in report["entries"]}
    for name, case in cases.items():
        entry = by_path[Path(case.path).resolve()]  # type: ignore[attr-defined]
        assert entry["status"] == case.status, (name, entry)  # type: ignore[attr-defined]
        assert case.keyword.lower() in entry["reason"].lower(), (name, entry)  # type: ignore[attr-defined]
    assert (tmp_path / "a" / "audit.md").is_file()
    strict = run_cli("audit", str(root / "manifest.csv"), "--out", str(tmp_path / "b"), "--strict")
    assert strict.returncode == 1


def test_fit_on_broken_corpus_trains_on_the_rest(
    corpus: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    root, cases = corpus
    out = tmp_path / "run"
    args = ["--backbone", TINY["backbone"], "--init", "random", "--image-size", "48", "--epochs", "1"]
    proc = run_cli("fit", str(root / "manifest.csv"), "--out", str(out), *args)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    html = (out / "report" / "index.html").read_text()
    skipped = [c for c in cases.values() if not c.usable]  # type: ignore[attr-defined]
    assert skipped
    for case in skipped:
        assert Path(case.path).name in html, case  # the report lists what was skipped and why
    split = (out / "split.csv").read_text()
    assert "empty.jpg" not in split and "truncated.jpg" not in split
    assert "rouge à lèvres 01.png" in split and "IMG_0001.JPG" in split


def test_models_lists_backbones() -> None:
    proc = run_cli("models")
    assert proc.returncode == 0, proc.stderr
    for name in ("tf_efficientnet_lite0", "tf_efficientnet_lite2", "mobilenet_v2"):
        assert name in proc.stdout
    assert "installed" in proc.stdout


def test_bundle_from_elsewhere_gets_one_line(tmp_path: Path, tiny_products: Path) -> None:
    fake = tmp_path / "bundle"
    fake.mkdir()
    proc = run_cli("predict", str(fake), str(tiny_products))
    assert proc.returncode == 2 and "not a beautytune bundle" in proc.stderr
    (fake / "bundle.json").write_text(json.dumps({"format_version": 99, "backbone": "x"}))
    proc = run_cli("evaluate", str(fake), str(tiny_products))
    assert proc.returncode == 2 and "format_version 99" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    proc = run_cli("--debug", "predict", str(tmp_path), str(tmp_path))
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_missing_column_names_the_csv(tmp_path: Path) -> None:
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("file,category\na.jpg,lipstick\n")
    proc = run_cli("fit", str(csv_path), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert "m.csv" in proc.stderr and "path" in proc.stderr
    assert not (tmp_path / "r").exists()
