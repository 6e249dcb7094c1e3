"""What the audit learnt from each file's bytes, kept by file fingerprint.

Auditing decodes, hashes and perceptually hashes every photo: most of a warm `fit
--strategy features` run whose features are already cached. What a file's bytes say
(its size, decode notes and errors, SHA-256, phashes) does not change while the file does
not, so it is kept in one SQLite file under the cache root, keyed by the file's path, size
and mtime and by the audit settings that shape the verdict. Only new or changed files are
decoded again. A cache that cannot be opened (read-only home, a damaged file) is skipped:
the audit then decodes everything, as it would without one.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from beautytune.data.cache import cache_root, file_fingerprint

#: raise when the scan's meaning changes, so older entries are not read as new ones
VERSION = 1


class ScanCache:
    """``get`` / ``put`` by file path under fixed settings; writes land on ``close``."""

    def __init__(self, settings: dict[str, Any], root: Path | None = None) -> None:
        self.path = (root or cache_root()) / "audit.sqlite"
        self.settings = json.dumps({"version": VERSION, **settings}, sort_keys=True)
        self.pending: list[tuple[str, str]] = []
        self.hits = 0
        self.db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("CREATE TABLE IF NOT EXISTS scans (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        except (OSError, sqlite3.Error):
            self.db = None

    def _key(self, path: str) -> str:
        return hashlib.sha256(f"{self.settings}|{file_fingerprint(path)}".encode()).hexdigest()

    def get(self, path: str) -> dict[str, Any] | None:
        if self.db is None:
            return None
        try:
            row = self.db.execute("SELECT value FROM scans WHERE key = ?", (self._key(path),)).fetchone()
        except sqlite3.Error:
            return None
        if row is None:
            return None
        self.hits += 1
        value: dict[str, Any] = json.loads(row[0])
        return value

    def put(self, path: str, value: dict[str, Any]) -> None:
        if self.db is not None:
            self.pending.append((self._key(path), json.dumps(value)))

    def close(self) -> None:
        if self.db is None:
            return
        try:
            with self.db:  # one transaction for the whole audit
                self.db.executemany("INSERT OR REPLACE INTO scans VALUES (?, ?)", self.pending)
        except sqlite3.Error:
            pass  # a cache that cannot be written only costs the next run its speed
        finally:
            self.db.close()
            self.db = None
            self.pending = []

    def __enter__(self) -> ScanCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
