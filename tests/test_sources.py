"""Image folders and CSV manifests become Records; bad input gives one-line DataErrors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from beautytune.data.sources import load_records
from beautytune.errors import DataError
from corpus import CASES, MISSING_REL, NORMAL_PER_CLASS, make_broken_corpus, picture


def _image(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture(np.random.default_rng(seed), (120, 120, 120)).save(path)
    return path


def _csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- image folders -----------------------------------------------------------------------


def test_folder_labels_come_from_immediate_sub_folders(tmp_path: Path) -> None:
    cases = make_broken_corpus(tmp_path)
    records = load_records(tmp_path / "images")
    by_path = {r.path: r for r in records}
    assert len(records) == 3 * NORMAL_PER_CLASS + len(CASES)  # every written file, nothing else
    twin = by_path[str(cases["twin_b"].path)]  # images/nail_polish/extra/twin.jpg
    assert (twin.label, twin.group, twin.row, twin.split) == (
        "nail_polish",
        "nail_polish/extra/twin.jpg",
        None,
        None,
    )
    assert str(cases["upper_ext"].path) in by_path and str(cases["non_ascii"].path) in by_path
    assert all(os.path.isabs(r.path) for r in records)


def test_folder_skips_hidden_and_non_image_files(tmp_path: Path) -> None:
    _image(tmp_path / "a" / "x.png")
    _image(tmp_path / "a" / ".hidden.png")
    _image(tmp_path / ".cache" / "y.png")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    assert [Path(r.path).name for r in load_records(tmp_path)] == ["x.png"]


def test_folder_ignores_a_manifest_inside_it(tmp_path: Path) -> None:
    _image(tmp_path / "lipstick" / "x.png")
    _csv(tmp_path / "manifest.csv", "path,label\nlipstick/x.png,perfume\n")
    assert [r.label for r in load_records(tmp_path)] == ["lipstick"]
    assert [r.label for r in load_records(tmp_path / "manifest.csv")] == ["perfume"]


def test_relative_folder_path_gives_absolute_record_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _image(tmp_path / "data" / "a" / "x.png")
    monkeypatch.chdir(tmp_path)
    assert load_records("data")[0].path == str(tmp_path / "data" / "a" / "x.png")


def test_empty_folder_says_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "lipstick").mkdir()
    (tmp_path / "lipstick" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="no images found.*one sub-folder per label"):
        load_records(tmp_path)


def test_images_directly_in_the_folder_have_no_label(tmp_path: Path) -> None:
    _image(tmp_path / "a" / "x.png")
    _image(tmp_path / "loose.png")
    with pytest.raises(DataError, match="loose.png.*one sub-folder per label"):
        load_records(tmp_path)


def test_nonexistent_path_and_wrong_file_type(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_records(tmp_path / "nope")
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(DataError, match="image folder or a .csv manifest"):
        load_records(tmp_path / "data.json")


# --- CSV manifests -----------------------------------------------------------------------


def test_corpus_manifest_keeps_rows_whose_file_is_missing(tmp_path: Path) -> None:
    cases = make_broken_corpus(tmp_path)
    records = load_records(tmp_path / "manifest.csv")
    assert len(records) == len(cases)
    missing = [r for r in records if r.path == str(tmp_path / MISSING_REL)]
    assert len(missing) == 1 and not Path(missing[0].path).exists()
    assert [r.row for r in records] == list(range(1, len(records) + 1))


def test_csv_paths_are_relative_to_the_csv_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _image(tmp_path / "sets" / "imgs" / "a.png")
    manifest = _csv(tmp_path / "sets" / "m.csv", "path,label\nimgs/a.png,lipstick\n")
    monkeypatch.chdir(tmp_path)
    (record,) = load_records(Path("sets") / "m.csv")
    assert record.path == str(tmp_path / "sets" / "imgs" / "a.png")
    assert (record.label, record.group, record.split, record.row) == ("lipstick", "imgs/a.png", None, 1)
    assert manifest.exists()


def test_csv_group_and_split_columns(tmp_path: Path) -> None:
    manifest = _csv(
        tmp_path / "m.csv",
        "\ufeffpath , label,group,split\n"  # BOM and stray spaces, as spreadsheets write them
        "a.png,lipstick,BrandA,Train\n"
        "b.png,lipstick,,val\n"
        "c.png,perfume,BrandB,\n",
    )
    records = load_records(manifest)
    assert [(r.group, r.split) for r in records] == [("BrandA", "train"), ("b.png", "val"), ("BrandB", None)]


def test_csv_column_names_are_configurable(tmp_path: Path) -> None:
    manifest = _csv(tmp_path / "m.csv", "file,class,brand,fold\na.png,lipstick,X,test\n")
    (record,) = load_records(
        manifest, path_col="file", label_col="class", group_col="brand", split_col="fold"
    )
    assert (record.label, record.group, record.split) == ("lipstick", "X", "test")


def test_missing_column_names_csv_column_and_existing_columns(tmp_path: Path) -> None:
    manifest = _csv(tmp_path / "m.csv", "path,category\na.png,lipstick\n")
    with pytest.raises(DataError) as err:
        load_records(manifest)
    message = str(err.value)
    assert "m.csv" in message and "missing column 'label'" in message and "path, category" in message
    assert "\n" not in message


def test_bad_split_value_names_the_row(tmp_path: Path) -> None:
    manifest = _csv(tmp_path / "m.csv", "path,label,split\na.png,x,train\nb.png,x,training\n")
    with pytest.raises(
        DataError, match=r"m\.csv row 2 \(line 3\): split 'training' is not one of train, val, test"
    ):
        load_records(manifest)


def test_blank_label_is_kept_as_a_per_row_problem(tmp_path: Path) -> None:
    manifest = _csv(tmp_path / "m.csv", "path,label\na.png,x\nb.png,x\nc.png,  \n")
    records = load_records(manifest)  # one bad row never stops the load
    assert [(r.row, r.label, r.problem) for r in records] == [
        (1, "x", None),
        (2, "x", None),
        (3, "", "blank 'label'"),
    ]
    assert records[2].path == str(tmp_path / "c.png")


def test_blank_path_is_kept_as_a_per_row_problem(tmp_path: Path) -> None:
    manifest = _csv(tmp_path / "m.csv", "path,label\n,x\nb.png,y\n")
    blank, ok = load_records(manifest)
    assert (blank.path, blank.label, blank.row, blank.problem) == (f"{manifest}#1", "x", 1, "blank 'path'")
    assert (ok.path, ok.problem) == (str(tmp_path / "b.png"), None)


def test_header_only_csv_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data rows"):
        load_records(_csv(tmp_path / "m.csv", "path,label\n"))


def test_empty_csv_reports_no_columns(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing column 'path'.*none"):
        load_records(_csv(tmp_path / "m.csv", ""))


def test_empty_class_folder_is_an_error(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "lipstick").mkdir()
    Image.new("RGB", (40, 40)).save(tmp_path / "lipstick" / "a.png")
    (tmp_path / "mascara").mkdir()
    with pytest.raises(DataError, match="mascara: empty class folder"):
        load_records(tmp_path)
