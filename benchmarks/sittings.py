"""Benchmark tables that fill in over several sittings, on machines that keep nothing.

A table of 30 fine-tuning runs takes longer than one sitting, and the machine a later
sitting gets starts without the earlier one's `runs/` folder. So every finished run's row is
also appended to a JSON-lines file committed with the repository (`benchmarks/results/`),
keyed by the table, the run's name, its seed and a fingerprint of everything passed to
`api.fit`: change a setting and the old row no longer counts. A run is then, in order,
read from that file, read back from its bundle (a run finished in this sitting), resumed
from its last checkpoint (stopped mid-run) or started afresh.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from beautytune.evaluate.leaderboard import run_row

RESULTS = Path(__file__).resolve().parent / "results"


def fingerprint(fit_kwargs: dict[str, Any]) -> str:
    """Short hash of the fit's settings; paths count by name only (checkouts differ)."""
    plain = {k: (Path(v).name if isinstance(v, Path) else v) for k, v in sorted(fit_kwargs.items())}
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()[:12]


class Sittings:
    """The rows of one table (``RESULTS/<table>.jsonl``), read and appended."""

    def __init__(self, table: str, results: Path = RESULTS) -> None:
        self.path = results / f"{table}.jsonl"
        self.rows: dict[tuple[str, str, int, str], dict[str, Any]] = {}
        if self.path.is_file():
            for line in self.path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    self.rows[(row["set"], row["name"], int(row["seed"]), row["settings"])] = row

    def run(
        self,
        out: Path,
        *,
        set_name: str,
        name: str,
        seed: int,
        fit_kwargs: dict[str, Any],
        fit: Callable[..., Any],
        start: bool = True,
        extra: Callable[[Path], dict[str, Any]] | None = None,
    ) -> dict[str, Any] | None:
        """The row of one run, fitting it only when no sitting has finished it.

        ``extra(out)`` adds fields read from the finished run folder (kept in the file too,
        since the folder will not outlive the sitting)."""
        key = (set_name, name, seed, fingerprint(fit_kwargs))
        if key in self.rows:
            return self.rows[key]
        marker = out.parent / f".{out.name}.settings"  # beside the run: fit owns the folder
        if out.exists() and (not marker.is_file() or marker.read_text() != key[3]):
            raise SystemExit(f"{out} holds a run with other settings: give another --out, or remove it")
        row = run_row(out, name, seed)
        if row is None and not start:
            return None
        if row is None:
            checkpoint = out / "checkpoints" / "last.ckpt"
            if out.exists() and not checkpoint.exists():
                shutil.rmtree(out)  # stopped before its first checkpoint: nothing to resume
            out.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(key[3])
            fit(out=out, seed=seed, resume=checkpoint.exists(), **fit_kwargs)
            row = run_row(out, name, seed)
            assert row is not None, f"{out}: fit finished without a bundle"
        row = {"set": set_name, **row, **(extra(out) if extra else {}), "settings": key[3]}
        self.rows[key] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        return row
