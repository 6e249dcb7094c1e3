"""The run folder: one object owns its layout, so no stage hard-codes a path."""

from __future__ import annotations

import csv
import io
import shutil
import sys
from pathlib import Path
from typing import Any

from beautytune.data.records import Record
from beautytune.errors import BeautytuneError
from beautytune.io import write_json_atomic, write_text_atomic

SPLIT_COLUMNS = ["path", "label", "group", "split"]


class RunDir:
    """``RUN/``: config.json, split.csv, audit/, history.json, checkpoints/, bundle/, report/
    (and lr_find.json / .png after ``--lr auto``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.split_csv = self.path / "split.csv"
        self.split_summary = self.path / "split_summary.json"
        self.history = self.path / "history.json"
        self.audit = self.path / "audit"
        self.checkpoints = self.path / "checkpoints"
        self.last_checkpoint = self.checkpoints / "last.ckpt"
        self.bundle = self.path / "bundle"
        self.report = self.path / "report"
        self.lr_find_json = self.path / "lr_find.json"  # with lr_find.png: ``--lr auto``

    @property
    def name(self) -> str:
        return self.path.name

    def is_started(self) -> bool:
        return self.path.exists() and any(self.path.iterdir())

    def has_checkpoint(self) -> bool:
        return self.last_checkpoint.is_file()

    def clean_partial_writes(self) -> int:
        """Remove temp files a killed run left mid-write (``.name.xxxx.tmp``: the file they
        were to replace is whole, since every write is atomic); returns how many."""
        stale = list(self.path.rglob(".*.tmp"))
        for p in stale:
            p.unlink(missing_ok=True)
        return len(stale)

    def write_split(self, records: list[Record]) -> None:
        """The split as a CSV anyone can read; text examples carry their text along."""
        has_text = any(r.text is not None for r in records)
        has_condition = any(r.condition is not None for r in records)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(SPLIT_COLUMNS + (["text"] if has_text else []) + (["condition"] if has_condition else []))
        for r in records:
            w.writerow(
                [r.path, r.label, r.group, r.split]
                + ([r.text] if has_text else [])
                + ([r.condition] if has_condition else [])
            )
        write_text_atomic(self.split_csv, buf.getvalue())

    def read_split(self) -> list[Record]:
        if not self.split_csv.is_file():
            raise BeautytuneError(f"cannot resume: {self.split_csv} not found")
        csv.field_size_limit(sys.maxsize)  # review texts can be long
        with self.split_csv.open(newline="") as f:
            return [
                Record(
                    r["path"],
                    r["label"],
                    r["group"],
                    r["split"],
                    text=r.get("text"),
                    condition=r.get("condition"),
                )
                for r in csv.DictReader(f)
            ]

    def write_json(self, path: Path, obj: Any) -> None:
        write_json_atomic(path, obj)

    def discard(self) -> None:
        """Remove a run that has nothing worth resuming (no checkpoint yet)."""
        if not self.has_checkpoint():
            shutil.rmtree(self.path, ignore_errors=True)
