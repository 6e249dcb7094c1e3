"""The text audit: say, per row of a text CSV, whether it can be trained on.

It returns the image audit's :class:`AuditReport`, so ``usable()``, ``skipped_rows()`` and
``write()`` work unchanged (``width``/``height`` stay None). The statuses:

* ``error``   - excluded from training: a problem found while reading the row (blank
  label, rating that is not a number, bytes that are not UTF-8), unknown label, empty or
  whitespace-only text, the same text as another row with a different label.
* ``warning`` - used, but a person should look: a text longer than the encoder reads
  (it is truncated), a text that looks non-English. Later copies of a text that another
  row already has with the same label are skipped, like byte-identical images.
* ``ok``      - used as is.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from beautytune.data.audit import (
    ERROR,
    WARNING,
    AuditReport,
    _dup_set,
    _entry,
    _few,
    _Scan,
    _summary,
    _usable_class_counts,
    mark_split_leaks,
)
from beautytune.data.records import Record

NON_ENGLISH = "looks non-English (the default encoders minilm/mpnet are English-only)"
_TOKEN_BATCH = 1024  # texts per count_tokens call: one batched call each, and a progress step


def audit_text_records(
    records: list[Record],
    *,
    known_labels: list[str] | None = None,
    max_tokens: int | None = None,
    count_tokens: Callable[[list[str]], list[int]] | None = None,
    progress: bool = False,
) -> AuditReport:
    """Judge every text row; see the module docstring for the statuses.

    ``count_tokens`` maps a batch of texts to the number of tokens the encoder sees for
    each (special tokens included); with ``max_tokens`` it flags texts the encoder cuts.
    Both are needed for that check; without them it is skipped.
    """
    start = time.perf_counter()
    known = set(known_labels) if known_labels is not None else None
    scans = [_scan_text(r, known) for r in records]
    duplicates = _mark_exact_duplicates(records, scans)
    mark_split_leaks(records, duplicates)
    truncated = 0
    if count_tokens is not None and max_tokens is not None:
        truncated = _mark_overlong(records, scans, max_tokens, count_tokens, progress)
    entries = [_entry(r, s) for r, s in zip(records, scans, strict=True)]
    counts = _usable_class_counts(entries)
    ratio = round(max(counts.values()) / min(counts.values()), 3) if counts else 0.0
    summary = {
        "kind": "text",
        **_summary(entries, counts, duplicates, time.perf_counter() - start),
        "rows": len(entries),
        "truncated": truncated,
        "non_english": sum(NON_ENGLISH in e.issues for e in entries),
    }
    summary["settings"] = {"known_labels": known_labels, "max_tokens": max_tokens}
    return AuditReport(entries, counts, ratio, duplicates, summary, records=list(records))


# --- per-row checks ------------------------------------------------------------------


def _scan_text(record: Record, known: set[str] | None) -> _Scan:
    scan = _Scan()
    if record.problem:
        scan.add(ERROR, record.problem)
    elif known is not None and record.label not in known:
        scan.add(ERROR, f"unknown label '{record.label}' (known: {_few(sorted(known))})")
    text = record.text or ""
    if not text:
        scan.add(ERROR, "empty text")
    elif not text.strip():
        scan.add(ERROR, "whitespace-only text")
    elif scan.level < ERROR and looks_non_english(text):
        scan.add(WARNING, NON_ENGLISH)
    return scan


def _where(record: Record) -> str:
    return f"row {record.row}" if record.row is not None else record.path


# --- exact duplicates ----------------------------------------------------------------


def _mark_exact_duplicates(records: list[Record], scans: list[_Scan]) -> list[dict[str, Any]]:
    """Rows with the same text (after stripping): conflicting labels -> all copies are
    errors; same label -> the first is kept and later copies are skipped (warning)."""
    by_text: dict[str, list[int]] = defaultdict(list)
    for i, (record, scan) in enumerate(zip(records, scans, strict=True)):
        if scan.level < ERROR:
            by_text[(record.text or "").strip()].append(i)
    found = []
    for idx in by_text.values():
        if len(idx) < 2:
            continue
        conflicting = len({records[i].label for i in idx}) > 1
        for k, i in enumerate(idx):
            if conflicting:
                others = [records[j] for j in idx if records[j].label != records[i].label]
                shown = ", ".join(f"{_where(o)} with label '{o.label}'" for o in others[:3])
                more = f" and {len(others) - 3} more" if len(others) > 3 else ""
                scans[i].add(ERROR, f"conflicting duplicate: same text as {shown}{more}")
            elif k > 0:
                first = records[idx[0]]
                scans[i].add(WARNING, f"exact duplicate of {_where(first)} (same label); this copy skipped")
                scans[i].duplicate_of = first.path
        found.append(_dup_set("exact", records, idx, conflicting, rows=[records[i].row for i in idx]))
    return found


# --- overlong texts ------------------------------------------------------------------


def _mark_overlong(
    records: list[Record],
    scans: list[_Scan],
    max_tokens: int,
    count_tokens: Callable[[list[str]], list[int]],
    progress: bool,
) -> int:
    """Warn on texts the encoder truncates; returns how many. Batched: one call per 1,024 texts."""
    idx = [i for i, s in enumerate(scans) if s.level < ERROR and s.duplicate_of is None]
    batches = [idx[k : k + _TOKEN_BATCH] for k in range(0, len(idx), _TOKEN_BATCH)]
    truncated = 0
    for batch in _maybe_progress(batches, progress):
        counts = count_tokens([records[i].text or "" for i in batch])
        if len(counts) != len(batch):
            raise ValueError(f"count_tokens returned {len(counts)} counts for {len(batch)} texts")
        for i, n in zip(batch, counts, strict=True):
            if n > max_tokens:
                scans[i].add(WARNING, f"truncated at {max_tokens} tokens: {n - max_tokens:,} tokens cut")
                truncated += 1
    return truncated


def _maybe_progress(batches: list[list[int]], progress: bool) -> Iterable[list[int]]:
    if not progress or not batches:
        return batches
    from rich.console import Console
    from rich.progress import track

    return track(batches, description="Counting tokens", console=Console(stderr=True))


# --- language --------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]+")
_WORD_CHAR = re.compile(r"[^\W\d_]")
# A letter outside the Latin blocks (Basic Latin to Latin Extended-B, Extended Additional,
# Extended-C/D/E, full-width Latin): Chinese, Cyrillic, Arabic, Greek, ...
_NON_LATIN = re.compile(
    r"[^\W\d_\u0000-\u024f\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff\uab30-\uab6f\uff21-\uff5a]"
)

# Frequent English words (function words and review staples): a Latin-script text that has
# several foreign function words and hardly any of these is not English.
_ENGLISH = frozenset(
    """the and a an to of i it is in for my this that on with but not was be have has had are
    you so very me we they he she its as at or if all just one will would can no really like
    love great good product skin use used using after what do does did my your our from been
    than more also too much only when about get got out up again which there their them this
    these those am were by how any well other after""".split()
)

# Frequent function words of French, German, Spanish, Italian, Portuguese and Dutch that are
# not English words. "la", "le", "de" are left out: brand and product names ("La Mer",
# "Le Labo", "Sol de Janeiro", "Eau de parfum") put them in English reviews.
_FOREIGN = frozenset(
    """les un une des du et est je il elle nous vous ils ce cette ces que qui pas ne pour dans
    sur avec mais très tres mon ma mes sont été fait au aux peau produit j qu
    der die das und ist ich nicht ein eine einen mit sehr auf für fur es sie wir zu den dem
    auch aber haut produkt nach bei noch wie oder kann habe mein meine schon
    el los las una y es en que por para con muy mi lo este esta pero se su del al piel
    producto más mas también tambien uso
    il gli di che è molto sono ho questo questa pelle prodotto
    os uma é não nao muito eu meu minha pele produto da dos das em
    het een ik niet van ook maar zeer dit deze mijn huid voor""".split()
)


def looks_non_english(text: str) -> bool:
    """A cheap guess, meant to be wrong only on the side of silence.

    Non-English when more than 30% of the letters are outside the Latin script (Chinese,
    Cyrillic, Arabic, ...), or when a Latin-script text of 5 words or more has at least 3
    foreign function words (French, German, Spanish, Italian, Portuguese, Dutch) and more than
    twice as many of those as of common English words. Short texts ("Love it!", "meh",
    "10/10 would buy") and brand names ("Crème de la Mer") are never flagged.
    """
    letters = len(_WORD_CHAR.findall(text))
    if letters == 0:
        return False
    if not text.isascii() and len(_NON_LATIN.findall(text)) / letters > 0.3:
        return True
    words = _WORD.findall(text.lower())
    if len(words) < 5:
        return False
    foreign = sum(w in _FOREIGN for w in words)
    english = sum(w in _ENGLISH for w in words)
    return foreign >= 3 and foreign > 2 * english
