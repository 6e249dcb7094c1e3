"""The dataset table: one Record per example, whatever the source."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Record:
    """One example; ``group`` never straddles two splits.

    ``path`` says where the example lives: an absolute image path, or for a row of a text
    CSV ``"<absolute csv path>#<row>"``. ``text`` holds the text of text examples.
    """

    path: str
    label: str
    group: str
    split: str | None = None
    row: int | None = None  # 1-based data row in the manifest (None for image folders)
    text: str | None = None
    #: what made the row unusable while it was read (a blank label, a rating that is not
    #: a number, bytes that are not UTF-8); the audit turns it into a per-row error
    problem: str | None = None
    #: the photo's condition where the label is someone's identity (face verification:
    #: makeup / no_makeup), so pairs can be judged across conditions
    condition: str | None = None

    def with_split(self, split: str) -> Record:
        return replace(self, split=split)


def class_names(records: list[Record]) -> list[str]:
    """Labels in a stable (sorted) order: the index order of the model's outputs."""
    return sorted({r.label for r in records})


def class_counts(records: list[Record]) -> dict[str, int]:
    return dict(sorted(Counter(r.label for r in records).items()))


def by_split(records: list[Record], split: str) -> list[Record]:
    return [r for r in records if r.split == split]
