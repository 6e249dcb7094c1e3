"""Turning a CSV of texts (reviews, tickets, ...) into Records.

Like the image manifest reader, only the table is built here: a row with a blank label, a
rating that is not a number or bytes that are not UTF-8 is kept with ``Record.problem`` set,
and the text audit reports it as that row's error, so one bad row never stops the load.
Wrong column names, a missing file or an invalid split value still fail the whole file.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Generator
from contextlib import closing
from pathlib import Path

from beautytune.data.records import Record
from beautytune.data.sources import _cell, _require_columns, _split
from beautytune.errors import DataError

# Undecodable bytes read with errors="surrogateescape" become lone surrogates U+DC80-U+DCFF.
_ESCAPED = re.compile("[\udc80-\udcff]")
_FIELD_LIMIT = 2**31 - 1  # fits a C long everywhere; the csv default (128 KiB) cuts long texts


def load_text_records(
    csv_path: str | Path,
    *,
    text_col: str = "text",
    label_col: str = "label",
    label_from_rating: str | None = None,
    rating_thresholds: tuple[float, float] = (2, 3),
    group_col: str = "group",
    split_col: str = "split",
) -> list[Record]:
    """One Record per data row of CSV_PATH.

    ``path`` is ``"<absolute csv path>#<row>"`` (1-based data row), ``text`` the cell as
    read (not stripped: the audit judges blank texts), ``group`` the group cell or, when
    that is blank or the column is absent, the row's ``path``.

    With ``label_from_rating="rating"`` the label comes from that numeric column: a rating
    up to ``rating_thresholds[0]`` is "negative", up to ``rating_thresholds[1]`` "neutral",
    above it "positive" (the default maps 1-2 / 3 / 4-5 stars). Otherwise the label is the
    ``label_col`` cell.
    """
    path = _check_csv_path(Path(csv_path))
    low, high = rating_thresholds
    if label_from_rating is not None and not low <= high:
        raise DataError(f"rating thresholds {low:g}, {high:g}: the first must not be above the second")
    required = {"--text-col": text_col}
    if label_from_rating is not None:
        required["--label-from-rating"] = label_from_rating
    else:
        required["--label-col"] = label_col
    where_csv = os.path.abspath(path)
    records = []
    for n, line, row, columns in _rows(path):
        if n == 0:
            _require_columns(path, columns, required)
            continue
        problems: list[str] = []
        text = _clean(row.get(text_col) or "", "text", problems)
        label = _label(row, label_col, label_from_rating, low, high, problems)
        row_path = f"{where_csv}#{n}"
        split = _split(_clean(_cell(row, split_col)), f"{path} row {n} (line {line})", split_col)
        records.append(
            Record(
                path=row_path,
                label=label,
                group=_clean(_cell(row, group_col)) or row_path,
                split=split,
                row=n,
                text=text,
                problem="; ".join(problems) if problems else None,
            )
        )
    if not records:
        raise DataError(f"{path}: no data rows; expected a header then one row per text")
    return records


def read_text_column(csv_path: str | Path, text_col: str = "text") -> tuple[list[int], list[str]]:
    """(1-based rows, texts) of one column, for prediction: no labels needed."""
    path = _check_csv_path(Path(csv_path))
    rows, texts = [], []
    for n, _line, row, columns in _rows(path):
        if n == 0:
            _require_columns(path, columns, {"--text-col": text_col})
            continue
        rows.append(n)
        texts.append(_clean(row.get(text_col) or ""))
    return rows, texts


def csv_columns(csv_path: str | Path) -> list[str]:
    """The header of a CSV, names stripped as the readers match them; [] for an empty file."""
    rows = _rows(_check_csv_path(Path(csv_path)))
    with closing(rows):
        return next(rows)[3]


def _check_csv_path(path: Path) -> Path:
    if not path.exists():
        raise DataError(f"{path}: not found (expected a .csv file with one text per row)")
    if not path.is_file() or path.suffix.lower() != ".csv":
        raise DataError(f"{path}: expected a .csv file with one text per row, got another kind of file")
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"{path}: saved as UTF-16; re-save the CSV as UTF-8")
    return path


def _rows(path: Path) -> Generator[tuple[int, int, dict[str, str | None], list[str]], None, None]:
    """(0, line, {}, columns) for the header, then (n, line, row, columns) per data row.

    Bytes that are not UTF-8 are kept as lone surrogates (``surrogateescape``), so that one
    badly encoded row is reported by itself instead of failing the whole file.
    """
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)
    # utf-8-sig: spreadsheets save a byte-order mark that would otherwise glue onto the first name.
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        try:
            columns = [_clean(c.strip()) for c in (reader.fieldnames or [])]
            reader.fieldnames = columns
            yield 0, reader.line_num, {}, columns
            for n, row in enumerate(reader, start=1):
                yield n, reader.line_num, row, columns
        except csv.Error as e:
            raise DataError(f"{path} line {reader.line_num}: not a readable CSV ({e})") from None


def _clean(value: str, what: str = "", problems: list[str] | None = None) -> str:
    """VALUE with undecodable bytes replaced by U+FFFD; notes the first one in PROBLEMS."""
    bad = _ESCAPED.search(value)
    if bad is None:
        return value
    raw = value.encode("utf-8", "surrogateescape")
    if problems is not None:
        offset = len(value[: bad.start()].encode("utf-8", "surrogateescape"))
        problems.append(
            f"{what} has bytes that are not UTF-8 (0x{raw[offset]:02x} at byte {offset}); "
            "re-save the CSV as UTF-8"
        )
    return raw.decode("utf-8", "replace")


def _label(
    row: dict[str, str | None],
    label_col: str,
    rating_col: str | None,
    low: float,
    high: float,
    problems: list[str],
) -> str:
    """The row's label, or "" with the reason appended to PROBLEMS."""
    column = rating_col if rating_col is not None else label_col
    found: list[str] = []
    value = _clean(_cell(row, column), f"'{column}'", found)
    if found:
        problems += found
        return ""
    if not value:
        problems.append(f"blank '{column}'")
        return ""
    if rating_col is None:
        return value
    try:
        rating = float(value)
    except ValueError:
        rating = math.nan
    if not math.isfinite(rating):
        problems.append(f"rating '{value}' is not a number (column '{column}')")
        return ""
    if rating <= low:
        return "negative"
    return "neutral" if rating <= high else "positive"
