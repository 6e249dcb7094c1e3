"""Grouped, stratified, seeded splits."""

from __future__ import annotations

import pytest

from beautytune.data.records import Record
from beautytune.data.split import merge_duplicate_groups, split_records
from beautytune.errors import DataError


def _records(n_groups: int = 12, per_group: int = 3, labels: tuple[str, ...] = ("a", "b")) -> list[Record]:
    return [
        Record(f"/x/{g}_{i}.jpg", labels[g % len(labels)], f"brand{g}")
        for g in range(n_groups)
        for i in range(per_group)
    ]


def test_split_is_grouped_stratified_and_seeded() -> None:
    recs = _records()
    a = split_records(recs, seed=1)
    assert a == split_records(recs, seed=1)
    sides: dict[str, set[str | None]] = {}
    for r in a:
        sides.setdefault(r.group, set()).add(r.split)
    assert all(len(s) == 1 for s in sides.values())
    for split in ("train", "val", "test"):
        assert {r.label for r in a if r.split == split} == {"a", "b"}
    assert any(x.split != y.split for x, y in zip(a, split_records(recs, seed=2), strict=True))


def test_user_split_is_honoured() -> None:
    recs = [r.with_split("train" if i % 3 else "test") for i, r in enumerate(_records())]
    recs[1] = recs[1].with_split("val")
    assert split_records(recs) == recs


def test_partial_split_column_is_an_error() -> None:
    recs = _records()
    recs[0] = recs[0].with_split("train")
    with pytest.raises(DataError, match="empty for 35"):
        split_records(recs)


def test_too_few_images_names_the_counts() -> None:
    recs = [*_records(), Record("/x/m1.jpg", "mask", "m"), Record("/x/m2.jpg", "mask", "m2")]
    with pytest.raises(DataError, match="mask=2"):
        split_records(recs)


def test_single_class_is_an_error() -> None:
    with pytest.raises(DataError, match="at least 2 classes"):
        split_records(_records(labels=("a",)))


def test_duplicate_sets_share_a_group() -> None:
    recs = _records()
    dup = {"paths": [recs[0].path, recs[5].path, recs[10].path]}
    merged = merge_duplicate_groups(recs, [dup])
    groups = {r.path: r.group for r in merged}
    assert groups[recs[0].path] == groups[recs[5].path] == groups[recs[10].path]
    # the whole groups move together, not just the duplicate files
    assert groups[recs[1].path] == groups[recs[0].path]


def test_small_classes_get_a_split_not_a_library_error() -> None:
    """Four photos a class, each its own group: scikit-learn alone refuses five folds."""
    recs = [Record(f"/x/{c}_{i}.jpg", f"c{c}", f"brand{c}_{i}") for c in range(9) for i in range(4)]
    split = split_records(recs, seed=0)
    assert {r.split for r in split} == {"train", "val", "test"}
