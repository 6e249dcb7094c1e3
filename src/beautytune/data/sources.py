"""Turning what the user points at (an image folder or a CSV manifest) into Records.

Only the table is built here; whether each file is a usable image is the audit's job, so
rows naming missing files are kept and reported there rather than failing the whole load.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from beautytune.data.images import IMAGE_EXTENSIONS, is_image_path
from beautytune.data.records import SPLITS, Record
from beautytune.errors import DataError


def load_records(
    data: str | Path,
    *,
    path_col: str = "path",
    label_col: str = "label",
    group_col: str = "group",
    split_col: str = "split",
) -> list[Record]:
    """Read DATA, an image folder (one sub-folder per label) or a ``.csv`` manifest.

    A folder always means folder: a ``manifest.csv`` inside it is ignored, so that what is
    trained on never depends on a file the user may not know is there.
    """
    p = Path(data)
    if p.is_dir():
        return _folder_records(p)
    if p.is_file() and p.suffix.lower() == ".csv":
        return _csv_records(p, path_col, label_col, group_col, split_col)
    if not p.exists():
        raise DataError(f"{p}: not found (expected an image folder or a .csv manifest)")
    raise DataError(f"{p}: expected an image folder or a .csv manifest, got another kind of file")


# --- image folders -------------------------------------------------------------------


def _folder_records(root: Path) -> list[Record]:
    """One Record per image under ``root/<label>/...``; the group is the relative path."""
    root = Path(os.path.abspath(root))
    records = []
    for file in _walk_images(root):
        rel = file.relative_to(root)
        if len(rel.parts) < 2:
            raise DataError(f"{file}: image directly inside {root}; put images in one sub-folder per label")
        records.append(Record(path=str(file), label=rel.parts[0], group=rel.as_posix()))
    if not records:
        exts = ", ".join(IMAGE_EXTENSIONS)
        raise DataError(f"{root}: no images found; expected one sub-folder per label holding {exts} files")
    labels = {r.label for r in records}
    for sub in sorted(root.iterdir()):
        if sub.is_dir() and not sub.name.startswith(".") and sub.name not in labels:
            raise DataError(f"{sub}: empty class folder (no images); add images or remove the folder")
    return records


def _walk_images(root: Path) -> list[Path]:
    """Image files under ``root`` in a stable order, skipping hidden files and folders.

    Hidden entries are skipped because they are tool droppings (``.DS_Store``, macOS
    ``._x.jpg`` resource forks, ``.ipynb_checkpoints``), not data. Symlinked folders are
    followed (datasets are often assembled from links), with a guard against loops.
    """
    found: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not name.startswith(".") and is_image_path(path):
                found.append(path)
    return found


# --- CSV manifests -------------------------------------------------------------------


def _csv_records(
    csv_path: Path, path_col: str, label_col: str, group_col: str, split_col: str
) -> list[Record]:
    """One Record per data row; paths are relative to the CSV's folder."""
    base = Path(os.path.abspath(csv_path)).parent
    # utf-8-sig: spreadsheets save a byte-order mark that would otherwise glue onto "path".
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        _require_columns(csv_path, columns, {"path_col": path_col, "label_col": label_col})
        reader.fieldnames = columns
        records = [
            _row_record(csv_path, base, row, n, reader.line_num, path_col, label_col, group_col, split_col)
            for n, row in enumerate(reader, start=1)
        ]
    if not records:
        raise DataError(f"{csv_path}: no data rows; expected a header then one row per image")
    return records


def _require_columns(csv_path: Path, columns: list[str], required: dict[str, str]) -> None:
    """Fail with one line naming the CSV, the missing column and the columns that exist.

    ``required`` maps what to pass to pick another column to the column's name: a keyword
    (``"label_col"``, shown as ``label_col=``) or a command-line flag (``"--text-col"``).
    """
    for option, name in required.items():
        if name not in columns:
            have = ", ".join(columns) if columns else "none (empty file?)"
            flag = option if option.startswith("-") else f"{option}="
            raise DataError(
                f"{csv_path}: missing column '{name}' (columns: {have}); "
                f"rename it or pass {flag} to use another"
            )


def _row_record(
    csv_path: Path,
    base: Path,
    row: dict[str, str | None],
    n: int,
    line: int,
    path_col: str,
    label_col: str,
    group_col: str,
    split_col: str,
) -> Record:
    """One manifest row as a Record.

    A blank path or label does not stop the load: the row is kept with ``problem`` set
    (a blank path becomes ``"<csv>#<row>"``) and the audit reports it as that row's error.
    """
    where = f"{csv_path} row {n} (line {line})"
    rel = _cell(row, path_col)
    label = _cell(row, label_col)
    problem = None
    if not rel:
        problem = f"blank '{path_col}'"
    elif not label:
        problem = f"blank '{label_col}'"
    return Record(
        path=os.path.abspath(base / rel) if rel else f"{os.path.abspath(csv_path)}#{n}",
        label=label,
        group=_cell(row, group_col) or rel or f"{os.path.abspath(csv_path)}#{n}",
        split=_split(_cell(row, split_col), where, split_col),
        row=n,
        problem=problem,
    )


def _cell(row: dict[str, str | None], column: str) -> str:
    """A stripped cell value; "" when the column is absent or the row is short."""
    value = row.get(column)
    return value.strip() if isinstance(value, str) else ""


def _split(value: str, where: str, split_col: str) -> str | None:
    """Blank means "let beautytune decide"; anything else must be a known split."""
    if not value:
        return None
    split = value.lower()
    if split not in SPLITS:
        raise DataError(f"{where}: {split_col} '{value}' is not one of {', '.join(SPLITS)}")
    return split
