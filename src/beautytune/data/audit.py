"""The data audit: decode every file once and say, per file, whether it can be trained on.

Three statuses, chosen so that a glance at the report tells the user what to do:

* ``error``   - unusable, excluded from training (missing, empty, not an image, truncated,
  too small, decompression-bomb size, unknown label, byte-identical copy under another label,
  a manifest row with a blank path or label).
* ``warning`` - used, but a person should look (extreme aspect ratio, near duplicates,
  especially near duplicates with different labels). One exception is used *less*:
  the second and later byte-identical copies with the same label are skipped, because
  keeping them only lets one photo sit in both training and test data.
* ``ok``      - used as is. Automatic conversions (CMYK, 16-bit, alpha, palette, EXIF
  rotation, first frame of an animation) are informational: the status stays ``ok``,
  the note is in ``issues`` and the ``reason`` mentions it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import imagehash
import numpy as np
from PIL import Image

from beautytune.data.images import ImageError, decode
from beautytune.data.records import Record
from beautytune.data.scan_cache import ScanCache
from beautytune.io import write_json_atomic, write_text_atomic

_T = TypeVar("_T")
OK, WARNING, ERROR = 0, 1, 2
STATUS = {OK: "ok", WARNING: "warning", ERROR: "error"}


@dataclass
class AuditEntry:
    """The verdict on one file; ``reason`` is the short line shown to the user."""

    path: str
    status: str  # "ok" | "warning" | "error"
    reason: str  # "ok", or every issue joined by "; ", worst first
    label: str
    row: int | None = None
    width: int | None = None  # upright size after EXIF rotation; None when undecodable
    height: int | None = None
    issues: list[str] = field(default_factory=list)
    duplicate_of: str | None = None  # set on skipped byte-identical copies (same label)

    @property
    def usable(self) -> bool:
        return self.status != "error" and self.duplicate_of is None


@dataclass
class AuditReport:
    """Per-file verdicts plus dataset-level facts (class balance, duplicate sets).

    ``records`` is parallel to ``entries`` so :meth:`usable` can hand back the Records
    that training should use.
    """

    entries: list[AuditEntry]
    class_counts: dict[str, int]  # usable images per label
    imbalance_ratio: float  # largest / smallest usable class; 0.0 when nothing is usable
    duplicates: list[dict[str, Any]]
    summary: dict[str, Any]
    records: list[Record] = field(default_factory=list, repr=False, compare=False)
    #: likely mislabelled examples (``audit --labels``; evaluate/label_issues.py), else None
    label_issues: list[dict[str, Any]] | None = None
    #: capture quality of each photo under ``--faces`` (faces/audit.py), else None
    face_quality: list[dict[str, Any]] | None = None

    def usable(self) -> list[Record]:
        """Records that can be trained on (no error, not a skipped duplicate copy)."""
        return [r for r, e in zip(self.records, self.entries, strict=True) if e.usable]

    def skipped(self) -> list[AuditEntry]:
        return [e for e in self.entries if not e.usable]

    def skipped_rows(self) -> list[dict[str, str]]:
        """The skipped files as (path, reason) rows, the table every report shows."""
        return [{"path": e.path, "reason": e.reason} for e in self.skipped()]

    def problems(self) -> list[AuditEntry]:
        return [e for e in self.entries if e.status != "ok"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "class_counts": self.class_counts,
            "imbalance_ratio": self.imbalance_ratio,
            "duplicates": self.duplicates,
            "entries": [asdict(e) for e in self.entries],
            **({"label_issues": self.label_issues} if self.label_issues is not None else {}),
            **({"face_quality": self.face_quality} if self.face_quality is not None else {}),
        }

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """Write ``audit.json`` (for tools) and ``audit.md`` (for people) into ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        json_path, md_path = out_dir / "audit.json", out_dir / "audit.md"
        write_json_atomic(json_path, self.to_dict())
        if self.label_issues is not None:
            from beautytune.evaluate.label_issues import write_label_issues

            write_label_issues(out_dir, self.label_issues, images=self.summary.get("kind") != "text")
        write_text_atomic(md_path, _markdown(self))
        return json_path, md_path


@dataclass
class _Scan:
    """What one pass over one file found, before dataset-level checks."""

    issues: list[tuple[int, str]] = field(default_factory=list)  # (level, text)
    sha256: str | None = None
    hashes: tuple[np.ndarray, np.ndarray] | None = None  # coarse and fine phash
    size: tuple[int, int] | None = None
    duplicate_of: str | None = None

    @property
    def level(self) -> int:
        return max((lvl for lvl, _ in self.issues), default=OK)

    def add(self, level: int, text: str) -> None:
        self.issues.append((level, text))

    def to_json(self) -> dict[str, Any]:
        return {
            "issues": self.issues,
            "sha256": self.sha256,
            "hashes": [h.tolist() for h in self.hashes] if self.hashes is not None else None,
            "size": self.size,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> _Scan:
        hashes = d.get("hashes")
        return cls(
            issues=[(int(level), str(text)) for level, text in d["issues"]],
            sha256=d.get("sha256"),
            hashes=(np.array(hashes[0], np.uint64), np.array(hashes[1], np.uint64)) if hashes else None,
            size=(int(d["size"][0]), int(d["size"][1])) if d.get("size") else None,
        )


def audit_records(
    records: list[Record],
    *,
    known_labels: list[str] | None = None,
    min_size: int = 32,
    max_aspect: float = 5.0,
    near_dup_distance: int = 4,
    progress: bool = False,
) -> AuditReport:
    """Decode every image fully and judge it; see the module docstring for the statuses."""
    start = time.perf_counter()
    names = _short_namer(records)
    known = set(known_labels) if known_labels is not None else None
    with ScanCache({"min_size": min_size, "max_aspect": max_aspect}) as cache:
        scans = [
            _scan_file(r, known, min_size, max_aspect, cache)
            for r in _maybe_progress(records, progress, "Auditing images")
        ]
    duplicates = _mark_exact_duplicates(records, scans, names)
    duplicates += _mark_near_duplicates(records, scans, names, near_dup_distance)
    mark_split_leaks(records, duplicates)
    entries = [_entry(r, s) for r, s in zip(records, scans, strict=True)]
    counts = _usable_class_counts(entries)
    ratio = round(max(counts.values()) / min(counts.values()), 3) if counts else 0.0
    summary = _summary(entries, counts, duplicates, time.perf_counter() - start)
    summary["from_cache"] = cache.hits  # files whose bytes were not read again (data/scan_cache.py)
    summary["settings"] = {
        "min_size": min_size,
        "max_aspect": max_aspect,
        "near_dup_distance": near_dup_distance,
        "known_labels": known_labels,
    }
    return AuditReport(entries, counts, ratio, duplicates, summary, records=list(records))


# --- per-file checks -----------------------------------------------------------------


def _scan_file(
    record: Record, known: set[str] | None, min_size: int, max_aspect: float, cache: ScanCache | None = None
) -> _Scan:
    """Read, hash and fully decode one file, collecting every problem it has; what the
    bytes say comes from ``cache`` when the file has not changed since it was last read."""
    scan = _Scan()
    if record.problem:  # found while reading the manifest (a blank path or label): no file to open
        scan.add(ERROR, record.problem)
        return scan
    if known is not None and record.label not in known:
        scan.add(ERROR, f"unknown label '{record.label}' (known: {_few(sorted(known))})")
    path = Path(record.path)
    if not path.is_file():
        where = "missing file named in manifest" if record.row is not None else "file not found"
        scan.add(ERROR, where)
        return scan
    cached = cache.get(record.path) if cache is not None else None
    if cached is not None:
        found = _Scan.from_json(cached)
    else:
        try:
            data = path.read_bytes()
        except OSError as e:  # permissions, a file vanishing mid-audit: report it, keep going
            scan.add(ERROR, f"cannot read file ({e.strerror or type(e).__name__})")
            return scan
        found = _scan_bytes(path, data, min_size, max_aspect)
        if cache is not None:
            cache.put(record.path, found.to_json())
    scan.issues += found.issues
    scan.size = found.size
    if scan.level < ERROR:  # an unusable file takes no part in the duplicate checks
        scan.sha256, scan.hashes = found.sha256, found.hashes
    return scan


def _scan_bytes(path: Path, data: bytes, min_size: int, max_aspect: float) -> _Scan:
    """What a file's bytes say, whatever its label: the part of a scan worth caching."""
    scan = _Scan()
    try:
        decoded = decode(path, data)
    except ImageError as e:
        scan.add(ERROR, str(e))
        return scan
    for note in decoded.notes:
        scan.add(OK, note)
    w, h = decoded.image.size
    scan.size = (w, h)
    if min(w, h) < min_size:
        scan.add(ERROR, f"too small ({w}x{h}, under {min_size} px on a side)")
    elif max(w, h) / min(w, h) > max_aspect:
        scan.add(WARNING, f"extreme aspect ratio ({w}x{h}, over {max_aspect:g}:1)")
    if scan.level < ERROR:
        scan.sha256 = hashlib.sha256(data).hexdigest()
        scan.hashes = _perceptual_hashes(decoded.image)
    return scan


def _few(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


# --- exact duplicates ----------------------------------------------------------------


def _mark_exact_duplicates(records: list[Record], scans: list[_Scan], names: _Namer) -> list[dict[str, Any]]:
    """Byte-identical files: conflicting labels -> all copies are errors; same label ->
    the first copy is kept and later copies are skipped (warning)."""
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, scan in enumerate(scans):
        if scan.sha256 is not None:
            by_hash[scan.sha256].append(i)
    found = []
    for sha, idx in by_hash.items():
        if len(idx) < 2:
            continue
        labels = [records[i].label for i in idx]
        conflicting = len(set(labels)) > 1
        if conflicting:
            _mark_conflicting_copies(records, scans, idx, names)
        else:
            _mark_same_label_copies(records, scans, idx, names)
        found.append(_dup_set("exact", records, idx, conflicting, sha256=sha))
    return found


def _mark_conflicting_copies(
    records: list[Record], scans: list[_Scan], idx: list[int], names: _Namer
) -> None:
    for i in idx:
        others = [j for j in idx if records[j].label != records[i].label]
        shown = ", ".join(f"{names(records[j].path)} ('{records[j].label}')" for j in others[:3])
        scans[i].add(ERROR, f"exact duplicate with conflicting label: same bytes as {shown}")


def _mark_same_label_copies(records: list[Record], scans: list[_Scan], idx: list[int], names: _Namer) -> None:
    first = records[idx[0]]
    for i in idx[1:]:
        if records[i].path == first.path:
            text = f"same file listed again (first at row {first.row}); this copy skipped"
        else:
            text = f"exact duplicate of {names(first.path)}; this copy skipped"
        scans[i].add(WARNING, text)
        scans[i].duplicate_of = first.path


# --- near duplicates -----------------------------------------------------------------

# Second-stage check: the 256-bit phash of the pair must also be close.
# Why: small packshots on white backgrounds collide in the 64-bit phash. On the 2,006
# skincare photos, 1,002 pairs with different labels were within 4 bits (a lipstick and an
# eyeliner pencil at distance 0); the 256-bit hash keeps 40, and those really look alike.
# The fine hash flips more bits under re-encoding (resize + JPEG q70 or +10% brightness:
# 90th percentile 16-20 bits), hence 6 fine bits allowed per coarse bit (24 at the default).
_FINE_HASH_SIZE = 16
_FINE_PER_COARSE_BIT = 6


def _mark_near_duplicates(
    records: list[Record], scans: list[_Scan], names: _Namer, max_distance: int
) -> list[dict[str, Any]]:
    """Perceptual near duplicates among the images that will be used.

    Conflicting labels, or a neighbour in another group (it could land in another split),
    give a warning; near duplicates that share label and group are only noted.
    """
    hashed = [
        (i, s.hashes)
        for i, s in enumerate(scans)
        if s.hashes is not None and s.level < ERROR and not s.duplicate_of
    ]
    if len(hashed) < 2:
        return []
    idx = [i for i, _ in hashed]
    coarse = np.stack([h[0] for _, h in hashed])
    fine = np.stack([h[1] for _, h in hashed])
    neighbours: dict[int, list[tuple[int, int]]] = defaultdict(list)
    parent = list(range(len(records)))
    for a, b, d in _close_pairs(coarse, fine, max_distance):
        i, j = idx[a], idx[b]
        neighbours[i].append((d, j))
        neighbours[j].append((d, i))
        parent[_find(parent, i)] = _find(parent, j)
    for i, near in neighbours.items():
        scans[i].add(*_near_issue(records, i, near, names))
    return _near_sets(records, neighbours, parent)


def _perceptual_hashes(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """64-bit and 256-bit phash as rows of uint64 words (1 and 4), for fast Hamming distance."""
    coarse = imagehash.phash(image).hash
    fine = imagehash.phash(image, hash_size=_FINE_HASH_SIZE).hash
    return np.packbits(coarse.ravel()).view(np.uint64), np.packbits(fine.ravel()).view(np.uint64)


def _close_pairs(coarse: np.ndarray, fine: np.ndarray, max_distance: int) -> Iterator[tuple[int, int, int]]:
    """Pairs (a < b, coarse distance) within ``max_distance`` on both hashes.

    Vectorised over the upper triangle in row blocks: a Python double loop is O(n^2)
    interpreter steps (minutes at 20k images); this takes ~0.1 s at 2k and ~3 s at 20k.
    """
    n = len(coarse)
    block = max(1, (1 << 20) // n)  # about 1M pairs (8 MB of XORs) per block
    for start in range(0, n, block):
        dist = _hamming(coarse[start : start + block, None, :], coarse[None, start:, :])
        rows, cols = np.nonzero(dist <= max_distance)
        keep = rows < cols  # column offset is also ``start``: upper triangle only
        rows, cols = rows[keep], cols[keep]
        a, b = rows + start, cols + start
        confirmed = _hamming(fine[a], fine[b]) <= max_distance * _FINE_PER_COARSE_BIT
        d = dist[rows, cols]
        yield from zip(a[confirmed].tolist(), b[confirmed].tolist(), d[confirmed].tolist(), strict=True)


_M1, _M2, _M4, _H01 = (
    np.uint64(m) for m in (0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x0101010101010101)
)


def _hamming(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bit differences between rows of uint64 words (last axis), broadcasting like ``x ^ y``.

    SWAR popcount: a dozen whole-array operations, 5x faster than a byte lookup table.
    """
    v = np.bitwise_xor(x, y)
    v = v - ((v >> np.uint64(1)) & _M1)
    v = (v & _M2) + ((v >> np.uint64(2)) & _M2)
    v = (v + (v >> np.uint64(4))) & _M4
    return ((v * _H01) >> np.uint64(56)).sum(axis=-1, dtype=np.int64)


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _near_issue(records: list[Record], i: int, near: list[tuple[int, int]], names: _Namer) -> tuple[int, str]:
    """Level and text for one image, naming its most important neighbour:
    a conflicting label first, then another group, then the closest."""
    me = records[i]

    def rank(dj: tuple[int, int]) -> tuple[bool, bool, int]:
        other = records[dj[1]]
        return other.label == me.label, other.group == me.group, dj[0]

    d, j = min(near, key=rank)
    other = records[j]
    more = f" and {len(near) - 1} more" if len(near) > 1 else ""
    if other.label != me.label:
        text = f"near duplicate with conflicting label: {names(other.path)} is '{other.label}'"
        return WARNING, f"{text} (distance {d}){more}"
    if other.group != me.group:
        return WARNING, f"near duplicate of {names(other.path)} (distance {d}){more}"
    return OK, f"near duplicate of {names(other.path)} in the same group (distance {d}){more}"


def _near_sets(
    records: list[Record], neighbours: dict[int, list[tuple[int, int]]], parent: list[int]
) -> list[dict[str, Any]]:
    """Connected groups of near duplicates, for the report and for group-aware splitting."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i in sorted(neighbours):
        groups[_find(parent, i)].append(i)
    sets = []
    for idx in groups.values():
        labels = {records[i].label for i in idx}
        farthest = max(d for i in idx for d, _ in neighbours[i])
        sets.append(_dup_set("near", records, idx, len(labels) > 1, max_distance=farthest))
    return sets


def _dup_set(
    kind: str, records: list[Record], idx: list[int], conflicting: bool, **extra: Any
) -> dict[str, Any]:
    return {
        "kind": kind,
        "conflicting": conflicting,
        "paths": [records[i].path for i in idx],
        "labels": [records[i].label for i in idx],
        **extra,
    }


def mark_split_leaks(records: list[Record], duplicates: list[dict[str, Any]]) -> None:
    """A duplicate set spread over several splits of a user-given split column is a leak:
    the test score would credit the model for remembering. Marked ``across_splits``."""
    split_of = {r.path: r.split for r in records}
    for d in duplicates:
        splits = sorted({split_of.get(p) or "" for p in d["paths"]} - {""})
        if len(splits) > 1:
            d["across_splits"] = splits


# --- assembling the report -----------------------------------------------------------


def _entry(record: Record, scan: _Scan) -> AuditEntry:
    issues = sorted(scan.issues, key=lambda li: -li[0])  # stable: worst first, then found order
    texts = [text for _, text in issues]
    w, h = scan.size if scan.size else (None, None)
    return AuditEntry(
        path=record.path,
        status=STATUS[scan.level],
        reason="; ".join(texts) if texts else "ok",
        label=record.label,
        row=record.row,
        width=w,
        height=h,
        issues=texts,
        duplicate_of=scan.duplicate_of,
    )


def _usable_class_counts(entries: list[AuditEntry]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for e in entries:
        if e.usable:
            counts[e.label] += 1
    return dict(sorted(counts.items()))


def _summary(
    entries: list[AuditEntry], counts: dict[str, int], duplicates: list[dict[str, Any]], seconds: float
) -> dict[str, Any]:
    by_status = {s: sum(e.status == s for e in entries) for s in ("ok", "warning", "error")}
    usable = sum(e.usable for e in entries)
    return {
        "files": len(entries),
        **by_status,
        "usable": usable,
        "skipped": len(entries) - usable,
        "classes": len(counts),
        "exact_duplicate_sets": sum(d["kind"] == "exact" for d in duplicates),
        "near_duplicate_sets": sum(d["kind"] == "near" for d in duplicates),
        "conflicting_duplicate_sets": sum(bool(d["conflicting"]) for d in duplicates),
        "split_leaks": sum("across_splits" in d for d in duplicates),
        "seconds": round(seconds, 2),
    }


# --- helpers: progress, short names, writing -----------------------------------------


def _maybe_progress(items: list[_T], progress: bool, description: str) -> Iterable[_T]:
    if not progress:
        return items
    from rich.console import Console
    from rich.progress import track

    return track(items, description=description, total=len(items), console=Console(stderr=True))


class _Namer:
    """Shortens absolute paths to paths relative to the dataset's common folder."""

    def __init__(self, root: str | None) -> None:
        self.root = root

    def __call__(self, path: str) -> str:
        if self.root is None:
            return path
        try:
            return Path(os.path.relpath(path, self.root)).as_posix()
        except ValueError:  # another drive on Windows
            return path


def _short_namer(records: list[Record]) -> _Namer:
    folders = {os.path.dirname(r.path) for r in records}
    try:
        return _Namer(os.path.commonpath(folders) if folders else None)
    except ValueError:
        return _Namer(None)


def _markdown(report: AuditReport) -> str:
    """A readable report: totals, class balance, then every file (or text row) that needs a look."""
    names = _short_namer(report.records) if report.records else _Namer(None)
    s = report.summary
    text = s.get("kind") == "text"
    unit, examples = ("rows", "texts") if text else ("files", "images")
    lines = [
        "# Data audit",
        "",
        f"{s['files']} {unit}: {s['ok']} ok, {s['warning']} warnings, {s['error']} errors. "
        f"**{s['usable']} usable** for training, {s['skipped']} skipped.",
        "",
        f"## Classes (usable {examples})",
        "",
        f"| label | {examples} |",
        "|---|---:|",
        *(f"| {_cell(k)} | {v} |" for k, v in report.class_counts.items()),
        "",
        f"Imbalance ratio (largest / smallest class): {report.imbalance_ratio:g}",
        "",
    ]
    lines += _leak_table(report, names)
    lines += _text_problem_table(report, names) if text else _problem_table(report, names)
    lines += _notes_table(report, names)
    if report.label_issues is not None:
        from beautytune.evaluate.label_issues import markdown

        lines += markdown(report.label_issues, images=not text)
    if report.face_quality is not None:
        from beautytune.faces.audit import markdown as faces_markdown

        lines += faces_markdown(report)
    return "\n".join(lines) + "\n"


def _leak_table(report: AuditReport, names: _Namer) -> list[str]:
    leaks = [d for d in report.duplicates if "across_splits" in d]
    if not leaks:
        return []
    rows = [
        f"| {d['kind']} | {', '.join(d['across_splits'])} | {_cell(', '.join(names(p) for p in d['paths'][:4]))} |"
        for d in leaks
    ]
    return [
        "## Leaks across the given split",
        "",
        f"{len(leaks)} sets of duplicates sit in more than one split of the split column: the test "
        "score counts them as unseen. Move each set into one split.",
        "",
        "| kind | splits | files |",
        "|---|---|---|",
        *rows,
        "",
    ]


def _problem_table(report: AuditReport, names: _Namer) -> list[str]:
    problems = sorted(report.problems(), key=lambda e: (e.status != "error", e.path))
    if not problems:
        return ["## Problems", "", "None.", ""]
    rows = [
        f"| {e.status} | {'no' if not e.usable else 'yes'} | {_cell(names(e.path))} | "
        f"{_cell(e.label)} | {_cell(e.reason)} |"
        for e in problems
    ]
    return [
        "## Problems",
        "",
        "| status | used | file | label | reason |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]


def _text_problem_table(report: AuditReport, names: _Namer) -> list[str]:
    """Like :func:`_problem_table`, in row order, with the start of each text."""
    texts = [r.text or "" for r in report.records] or [""] * len(report.entries)
    pairs = [(e, t) for e, t in zip(report.entries, texts, strict=True) if e.status != "ok"]
    if not pairs:
        return ["## Problems", "", "None.", ""]
    pairs.sort(key=lambda et: (et[0].status != "error", et[0].row or 0))
    rows = []
    for e, text in pairs:
        start = " ".join(text.split())
        start = start if len(start) <= 60 else start[:57] + "..."
        rows.append(
            f"| {e.status} | {'no' if not e.usable else 'yes'} | {_cell(names(e.path))} | "
            f"{_cell(e.label)} | {_cell(e.reason)} | {_cell(start)} |"
        )
    return [
        "## Problems",
        "",
        "| status | used | row | label | reason | text |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _notes_table(report: AuditReport, names: _Namer) -> list[str]:
    noted = [e for e in report.entries if e.status == "ok" and e.issues]
    if not noted:
        return []
    rows = [f"| {_cell(names(e.path))} | {_cell(e.reason)} |" for e in noted]
    return ["## Automatic conversions (ok)", "", "| file | note |", "|---|---|", *rows, ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
