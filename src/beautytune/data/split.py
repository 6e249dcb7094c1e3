"""Grouped, stratified, seeded train/val/test split.

No group (brand, product line, person) ever sits on two sides: that is what makes the
test score an honest estimate for unseen brands or people.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from beautytune.data.records import SPLITS, Record, class_counts
from beautytune.errors import DataError

MIN_PER_CLASS = 3


def split_records(
    records: list[Record], *, seed: int = 0, val_frac: float = 0.15, test_frac: float = 0.2
) -> list[Record]:
    """Assign train/val/test. A split given by the user (every record has one) is kept."""
    if records and all(r.split in SPLITS for r in records):
        _check_train_covers_classes(records)
        return list(records)
    if any(r.split for r in records):
        missing = sum(1 for r in records if not r.split)
        raise DataError(
            f"the split column is filled for some rows but empty for {missing}: fill it for "
            "every row or leave it empty everywhere"
        )
    counts = class_counts(records)
    if len(counts) < 2:
        found = ", ".join(f"{k}={v}" for k, v in counts.items()) or "no usable images"
        raise DataError(
            f"need at least 2 classes with usable images, found {found}: check the audit report "
            "for skipped files, or the label column / sub-folder names"
        )
    small = {k: v for k, v in counts.items() if v < MIN_PER_CLASS}
    if small:
        shown = ", ".join(f"{k}={v}" for k, v in small.items())
        raise DataError(
            f"too few images to split: {shown} (need at least {MIN_PER_CLASS} per class for "
            "train/val/test); add images, merge or drop these classes, or give a split column"
        )
    rest, test = hold_out(records, test_frac, seed)
    train, val = hold_out(rest, val_frac / max(1e-9, 1 - test_frac), seed + 1)
    out = (
        [r.with_split("train") for r in train]
        + [r.with_split("val") for r in val]
        + [r.with_split("test") for r in test]
    )
    _check_train_covers_classes(out)
    return sorted(out, key=lambda r: r.path)


#: training examples a few-shot run leaves out (kept in split.csv so the draw is on record)
UNUSED = "unused"
#: train / val examples ``--drop-label-issues`` leaves out; test examples are never dropped
LABEL_ISSUE = "label_issue"


def drop_examples(records: list[Record], paths: set[str], marker: str) -> list[Record]:
    """Mark train and val records whose path is in ``paths`` with split ``marker``."""
    return [r.with_split(marker) if r.path in paths and r.split in ("train", "val") else r for r in records]


def keep_shots(records: list[Record], shots: int, seed: int) -> list[Record]:
    """Keep ``shots`` training examples per class, drawn with ``seed``; the rest of the
    training split becomes ``unused``. Validation and test stay whole: they measure."""
    rng = np.random.default_rng(seed)
    train = sorted((r for r in records if r.split == "train"), key=lambda r: r.path)
    keep: set[str] = set()
    for label in sorted({r.label for r in train}):
        paths = [r.path for r in train if r.label == label]
        keep.update(paths[i] for i in rng.permutation(len(paths))[:shots])
    return [r.with_split(UNUSED) if r.split == "train" and r.path not in keep else r for r in records]


def hold_out(records: list[Record], frac: float, seed: int) -> tuple[list[Record], list[Record]]:
    """Hold out about ``frac`` of the records as whole groups, stratified by label."""
    n_splits = max(2, round(1 / frac))
    groups = np.array([r.group for r in records])
    n_groups = len(set(groups.tolist()))
    if n_groups < 2:
        raise DataError(
            f"only {n_groups} group in the data: a grouped split needs several groups "
            "(brands, people); give a group column or a split column"
        )
    labels = np.array([r.label for r in records])
    largest_class = int(np.unique(labels, return_counts=True)[1].max())
    # scikit-learn refuses more folds than the largest class has members
    n_splits = max(2, min(n_splits, n_groups, largest_class))
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    keep_idx, held_idx = next(cv.split(np.zeros(len(records)), labels, groups))
    return [records[i] for i in keep_idx], [records[i] for i in held_idx]


def _check_train_covers_classes(records: list[Record]) -> None:
    train = {r.label for r in records if r.split == "train"}
    missing = sorted({r.label for r in records} - train)
    if missing:
        raise DataError(
            f"no training images for class(es) {', '.join(missing)} after the grouped split "
            "(all their groups fell in val/test): add images from more groups for them"
        )


def merge_duplicate_groups(records: list[Record], duplicate_sets: list[dict[str, object]]) -> list[Record]:
    """Put near- and exact-duplicate photos into one group, so no copy straddles the split.

    Groups are merged transitively (union-find); a merged group takes the smallest name.
    """
    parent: dict[str, str] = {r.group: r.group for r in records}

    def find(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    group_of = {r.path: r.group for r in records}
    for dup in duplicate_sets:
        groups = [group_of[p] for p in dup.get("paths", []) if p in group_of]  # type: ignore[attr-defined]
        for g in groups[1:]:
            a, b = find(groups[0]), find(g)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return [replace(r, group=find(r.group)) for r in records]


def split_summary(records: list[Record]) -> dict[str, dict[str, int]]:
    return {s: class_counts([r for r in records if r.split == s]) for s in SPLITS}
