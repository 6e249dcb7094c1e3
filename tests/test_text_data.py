"""Text CSVs become Records; the text audit gives every row a verdict a person understands."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from beautytune.data.audit import AuditEntry, AuditReport
from beautytune.data.records import Record
from beautytune.data.text_audit import NON_ENGLISH, audit_text_records, looks_non_english
from beautytune.data.text_sources import csv_columns, load_text_records
from beautytune.errors import DataError
from conftest import shared_dataset


def _csv(path: Path, rows: list[list[str]], header: tuple[str, ...] = ("text", "label")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _by_row(report: AuditReport) -> dict[int, AuditEntry]:
    return {e.row: e for e in report.entries if e.row is not None}


def _words(texts: list[str]) -> list[int]:
    """A fake tokenizer: one token per word plus the two special tokens."""
    return [len(t.split()) + 2 for t in texts]


# --- one table: every per-row case and its verdict ---------------------------------------

LONG = "word " * 300  # 302 "tokens" with the fake tokenizer
ROWS: list[tuple[str, str, str, str, bool]] = [
    # (text, label, status, reason fragment, usable)
    ("Love it!", "positive", "ok", "ok", True),
    ("", "positive", "error", "empty text", False),
    ("   \t ", "negative", "error", "whitespace-only text", False),
    ("Great serum, my skin drinks it up.", "positive", "ok", "ok", True),  # first copy is kept
    ("  Great serum, my skin drinks it up. ", "positive", "warning", "exact duplicate of row 4", False),
    ("Broke me out badly.", "negative", "error", "same text as row 7 with label 'positive'", False),
    ("Broke me out badly.", "positive", "error", "same text as row 6 with label 'negative'", False),
    (LONG, "neutral", "warning", "truncated at 256 tokens: 46 tokens cut", True),
    ("Ce produit est vraiment génial, je l'adore et ma peau est plus douce.", "positive", "warning",
     NON_ENGLISH, True),
    ("meh", "neutral", "ok", "ok", True),
    ("Smells nice", "lipstick", "error", "unknown label 'lipstick' (known: negative, neutral, positive)",
     False),
    ("Nice texture.", "", "error", "blank 'label'", False),
    ("word " * 20_000, "neutral", "warning", "truncated at 256 tokens: 19,746 tokens cut", True),  # 100 KB
]  # fmt: skip


@pytest.fixture
def table_report(tmp_path: Path) -> AuditReport:
    records = load_text_records(_csv(tmp_path / "reviews.csv", [[t, lab] for t, lab, *_ in ROWS]))
    return audit_text_records(
        records, known_labels=["negative", "neutral", "positive"], max_tokens=256, count_tokens=_words
    )


@pytest.mark.parametrize("row", range(1, len(ROWS) + 1))
def test_each_row_gets_its_status_and_reason(row: int, table_report: AuditReport) -> None:
    _, label, status, fragment, usable = ROWS[row - 1]
    entry = _by_row(table_report)[row]
    assert (entry.status, fragment in entry.reason, entry.usable) == (status, True, usable), entry.reason
    assert entry.label == label and entry.width is None and entry.height is None


def test_duplicates_are_reported_as_sets(table_report: AuditReport) -> None:
    dups = sorted(table_report.duplicates, key=lambda d: d["rows"])
    assert [(d["kind"], d["rows"], d["conflicting"]) for d in dups] == [
        ("exact", [4, 5], False),
        ("exact", [6, 7], True),
    ]
    assert _by_row(table_report)[5].duplicate_of == table_report.entries[3].path
    s = table_report.summary
    assert (s["exact_duplicate_sets"], s["conflicting_duplicate_sets"], s["near_duplicate_sets"]) == (2, 1, 0)


def test_summary_and_usable(table_report: AuditReport) -> None:
    s = table_report.summary
    assert (s["files"], s["rows"], s["ok"], s["warning"], s["error"]) == (13, 13, 3, 4, 6)
    assert (s["usable"], s["skipped"], s["truncated"], s["non_english"]) == (6, 7, 2, 1)
    assert [r.row for r in table_report.usable()] == [1, 4, 8, 9, 10, 13]
    assert table_report.class_counts == {"neutral": 3, "positive": 3}
    assert len(table_report.skipped_rows()) == 7


def test_write_gives_one_json_entry_per_row_and_readable_markdown(
    table_report: AuditReport, tmp_path: Path
) -> None:
    json_path, md_path = table_report.write(tmp_path / "out")
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert [e["row"] for e in doc["entries"]] == list(range(1, len(ROWS) + 1))
    assert doc["summary"]["kind"] == "text" and doc["summary"]["usable"] == 6
    md = md_path.read_text(encoding="utf-8")
    assert "13 rows: 3 ok, 4 warnings, 6 errors" in md and "| label | texts |" in md
    assert "| error | no | reviews.csv#2 | positive | empty text |  |" in md
    assert "| warning | yes | reviews.csv#9 | positive |" in md and "Ce produit est vraiment" in md
    assert "word " * 15 not in md  # long texts are cut in the table


def test_the_100_kb_text_loads_whole(table_report: AuditReport) -> None:
    (record,) = [r for r in table_report.records if r.row == 13]
    assert record.text == "word " * 20_000 and record.problem is None


def test_overlong_check_is_one_batched_call_and_skips_errors(tmp_path: Path) -> None:
    calls: list[int] = []

    def count(texts: list[str]) -> list[int]:
        calls.append(len(texts))
        return _words(texts)

    rows = [[f"review number {i} " + "very " * (i % 300), "positive"] for i in range(2000)] + [["", "x"]]
    report = audit_text_records(
        load_text_records(_csv(tmp_path / "r.csv", rows)), max_tokens=256, count_tokens=count
    )
    assert calls == [1024, 976]  # batches, never one call per row; the empty row is not counted
    assert report.summary["truncated"] == sum(3 + i % 300 + 2 > 256 for i in range(2000))
    without = audit_text_records(load_text_records(_csv(tmp_path / "r.csv", rows)), max_tokens=256)
    assert without.summary["truncated"] == 0


# --- reading -------------------------------------------------------------------------------


def test_records_have_row_paths_text_as_read_and_groups(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "r.csv",
        [
            [" Padded text ", "positive", "P1", "train"],
            ["b", "negative", "", ""],
            ["c", "neutral", "P1", "Test"],
        ],
        header=("text", "label", "group", "split"),
    )
    records = load_text_records(path)
    assert [(r.path, r.row, r.text, r.label, r.group, r.split) for r in records] == [
        (f"{path}#1", 1, " Padded text ", "positive", "P1", "train"),
        (f"{path}#2", 2, "b", "negative", f"{path}#2", None),
        (f"{path}#3", 3, "c", "neutral", "P1", "test"),
    ]
    assert all(r.problem is None for r in records)


def test_column_names_are_configurable_and_group_column_may_be_absent(tmp_path: Path) -> None:
    path = _csv(tmp_path / "r.csv", [["Nice", "good", "B1"]], header=("review", "sentiment", "brand"))
    (record,) = load_text_records(path, text_col="review", label_col="sentiment", group_col="brand")
    assert (record.text, record.label, record.group) == ("Nice", "good", "B1")
    (record,) = load_text_records(path, text_col="review", label_col="sentiment")  # no "group" column
    assert record.group == record.path
    assert csv_columns(path) == ["review", "sentiment", "brand"]


@pytest.mark.parametrize(
    ("kwargs", "missing", "option"),
    [
        ({}, "text", "--text-col"),
        ({"text_col": "review"}, "label", "--label-col"),
        ({"text_col": "review", "label_from_rating": "stars"}, "stars", "--label-from-rating"),
    ],
)
def test_wrong_column_names_give_one_line_naming_them(
    tmp_path: Path, kwargs: dict[str, str], missing: str, option: str
) -> None:
    path = _csv(tmp_path / "r.csv", [["Nice", "5"]], header=("review", "rating"))
    with pytest.raises(DataError) as err:
        load_text_records(path, **kwargs)  # type: ignore[arg-type]
    message = str(err.value)
    assert f"missing column '{missing}'" in message and "(columns: review, rating)" in message
    assert "r.csv" in message and option in message and "\n" not in message


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("nope.csv", None, "not found"),
        ("r.json", b"{}", "expected a .csv file"),
        ("h.csv", b"text,label\n", "no data rows"),
        ("e.csv", b"", "missing column 'text'.*none"),
        ("u.csv", "text,label\na,b\n".encode("utf-16"), "saved as UTF-16; re-save the CSV as UTF-8"),
        (
            "s.csv",
            b"text,label,split\na,b,training\n",
            r"s\.csv row 1 \(line 2\): split 'training' is not one of",
        ),
    ],
)
def test_whole_file_problems_are_one_data_error(
    tmp_path: Path, name: str, content: bytes | None, match: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=match) as err:
        load_text_records(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("ratings", "thresholds", "labels"),
    [
        (["1", "2", "3", "4", "5"], (2, 3), ["negative", "negative", "neutral", "positive", "positive"]),
        (["2.5", "3.0", " 4 ", "0"], (2, 3), ["neutral", "neutral", "positive", "negative"]),
        (["1", "3", "5", "7", "10"], (3, 7), ["negative", "negative", "neutral", "neutral", "positive"]),
        (["1", "2", "3"], (1, 1), ["negative", "positive", "positive"]),
    ],
)
def test_label_from_rating(
    tmp_path: Path, ratings: list[str], thresholds: tuple[float, float], labels: list[str]
) -> None:
    path = _csv(tmp_path / "r.csv", [[f"t{i}", r] for i, r in enumerate(ratings)], header=("text", "rating"))
    records = load_text_records(path, label_from_rating="rating", rating_thresholds=thresholds)
    assert [r.label for r in records] == labels and all(r.problem is None for r in records)


def test_bad_ratings_are_per_row_problems(tmp_path: Path) -> None:
    path = _csv(tmp_path / "r.csv", [["a", "5"], ["b", "five"], ["c", ""], ["d", "nan"]], ("text", "rating"))
    records = load_text_records(path, label_from_rating="rating")
    assert [(r.label, r.problem) for r in records] == [
        ("positive", None),
        ("", "rating 'five' is not a number (column 'rating')"),
        ("", "blank 'rating'"),
        ("", "rating 'nan' is not a number (column 'rating')"),
    ]
    entries = audit_text_records(records).entries
    assert [e.status for e in entries] == ["ok", "error", "error", "error"]
    assert entries[1].reason == "rating 'five' is not a number (column 'rating')"
    with pytest.raises(DataError, match="thresholds"):
        load_text_records(path, label_from_rating="rating", rating_thresholds=(4, 2))


def test_bytes_that_are_not_utf8_spoil_only_their_row(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        b"\xef\xbb\xbftext,label\n"  # a BOM, as spreadsheets write it
        b"Fine review,positive\n"
        b"Cr\xe8me is nice,positive\n"  # Latin-1 e-grave
        b'"Caf\xc3\xa9, \xe2\x80\x9cgood\xe2\x80\x9d",neutral\n'  # real UTF-8
        b"ok,n\xe9gatif\n"
    )
    records = load_text_records(path)
    assert [r.text for r in records] == ["Fine review", "Cr\ufffdme is nice", "Café, “good”", "ok"]
    assert [r.label for r in records] == ["positive", "positive", "neutral", ""]
    assert records[0].problem is None and records[2].problem is None
    assert records[1].problem == (
        "text has bytes that are not UTF-8 (0xe8 at byte 2); re-save the CSV as UTF-8"
    )
    assert records[3].problem is not None and records[3].problem.startswith(
        "'label' has bytes that are not UTF-8"
    )
    report = audit_text_records(records)
    assert [e.status for e in report.entries] == ["ok", "error", "ok", "error"]
    report.write(tmp_path / "out")  # no lone surrogates left anywhere to break the JSON
    json.loads((tmp_path / "out" / "audit.json").read_text(encoding="utf-8"))


# --- language ------------------------------------------------------------------------------

ENGLISH = [
    "Love it!",
    "meh",
    "10/10 would buy",
    "Great product, highly recommend, love",
    "Smells amazing, feels luxurious. Worth every penny",
    "Best Shiseido cleansing ever!!!",
    "My holy grail: Crème de la Mer is worth it, c'est la vie",
    "Non-greasy, non-sticky, non-comedogenic. Y'all need this.",
    "I used La Roche-Posay before; this Sol de Janeiro cream smells better",
    "Tried it for 2 weeks 😍😍 and my skin is glowing ✨",
    "Pros: light, cheap. Cons: the pump breaks.",
    "",
    "!!!",
]
FOREIGN = [
    "Ce produit est vraiment génial, je l'adore et ma peau est plus douce.",  # French
    "J’adore. Ma peau est superbe au réveil. Je le recommande vivement.",  # French, curly apostrophe
    "Ich benutze diese Creme seit zwei Wochen und meine Haut ist viel weicher.",  # German
    "Me encanta esta crema, la uso todos los días y mi piel está muy suave.",  # Spanish
    "Questo prodotto è molto buono, la mia pelle è più morbida.",  # Italian
    "Eu amei este produto, minha pele ficou muito macia.",  # Portuguese
    "Ik ben heel blij met deze crème, mijn huid is zacht.",  # Dutch
    "这个面霜非常好用，皮肤很滋润。",  # Chinese
    "很好",  # short Chinese
    "Отличный крем, кожа стала мягкой.",  # Russian
    "とても良い化粧水です",  # Japanese
    "정말 좋아요",  # Korean
    "كريم رائع جدا",  # Arabic
]


@pytest.mark.parametrize("text", ENGLISH)
def test_english_reviews_are_not_flagged(text: str) -> None:
    assert not looks_non_english(text)


@pytest.mark.parametrize("text", FOREIGN)
def test_non_english_reviews_are_flagged(text: str) -> None:
    assert looks_non_english(text)


def test_audit_is_fast_on_10k_rows() -> None:
    texts = [
        f"Review {i}: this moisturiser is {'great' if i % 3 else 'awful'} for dry skin, " * 4
        for i in range(10_000)
    ]
    records = [
        Record(path=f"/r.csv#{i + 1}", label="positive", group=str(i), row=i + 1, text=t)
        for i, t in enumerate(texts)
    ]
    start = time.perf_counter()
    report = audit_text_records(records, max_tokens=256, count_tokens=_words)
    assert time.perf_counter() - start < 3
    assert report.summary["usable"] == 10_000


@pytest.mark.shared
def test_sephora_reviews_load_and_audit() -> None:
    csv_path = shared_dataset("sephora_reviews") / "reviews.csv"
    start = time.perf_counter()
    records = load_text_records(csv_path, label_from_rating="rating", group_col="product_id")
    report = audit_text_records(records, known_labels=["negative", "neutral", "positive"])
    assert time.perf_counter() - start < 30
    assert len(records) == len(report.entries) == 9_956
    counts = Counter(r.label for r in records)
    assert counts == {"positive": 8_135, "negative": 1_057, "neutral": 764}  # 1-2 / 3 / 4-5 stars
    assert 0.80 < counts["positive"] / len(records) < 0.84
    assert len({r.group for r in records}) == 1_821  # products
    assert report.summary["error"] == 0 and report.summary["usable"] == 9_956
    assert report.summary["non_english"] < 50  # a few French and Spanish reviews
