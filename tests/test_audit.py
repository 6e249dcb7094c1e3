"""The audit must give every broken or unusual file the right verdict and a readable reason."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from beautytune.data.audit import AuditEntry, AuditReport, _close_pairs, _hamming, audit_records
from beautytune.data.images import MAX_PIXELS, ImageError, decode, load_rgb
from beautytune.data.sources import load_records
from corpus import CASES, EXIF_STORED_SIZE, CorpusCase, make_broken_corpus, picture, write_blank_png


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, CorpusCase]]:
    root = tmp_path_factory.mktemp("corpus")
    return root, make_broken_corpus(root)


@pytest.fixture(scope="module")
def report(corpus: tuple[Path, dict[str, CorpusCase]]) -> AuditReport:
    root, _ = corpus
    return audit_records(load_records(root / "manifest.csv"))


def _entry(report: AuditReport, case: CorpusCase) -> AuditEntry:
    matches = [e for e in report.entries if e.path == str(case.path)]
    assert len(matches) == 1, f"{case.path} should appear exactly once"
    return matches[0]


@pytest.mark.parametrize("name", [*CASES, "missing"])
def test_each_corpus_case_gets_its_status_and_reason(
    name: str, corpus: tuple[Path, dict[str, CorpusCase]], report: AuditReport
) -> None:
    case = corpus[1][name]
    entry = _entry(report, case)
    assert (entry.status, case.keyword in entry.reason) == (case.status, True), entry.reason
    assert entry.label == case.label


def test_normal_images_are_ok_and_not_flagged_as_near_duplicates(
    corpus: tuple[Path, dict[str, CorpusCase]], report: AuditReport
) -> None:
    normal = [c for n, c in corpus[1].items() if n.startswith("normal_")]
    assert len(normal) == 36
    assert {(_entry(report, c).status, _entry(report, c).reason) for c in normal} == {("ok", "ok")}


def test_usable_excludes_errors_and_later_exact_copies(
    corpus: tuple[Path, dict[str, CorpusCase]], report: AuditReport
) -> None:
    usable = {r.path for r in report.usable()}
    expected = {str(c.path) for c in corpus[1].values() if c.usable}
    assert usable == expected
    assert str(corpus[1]["twin_a"].path) in usable and str(corpus[1]["twin_b"].path) not in usable
    assert all(e.status == "error" or e.duplicate_of for e in report.skipped())
    assert {e.status for e in report.problems()} == {"warning", "error"}


def test_exact_duplicates_with_conflicting_labels_are_excluded_entirely(
    corpus: tuple[Path, dict[str, CorpusCase]], report: AuditReport
) -> None:
    a, b = corpus[1]["dup_conflict_a"].path, corpus[1]["dup_conflict_b"].path
    exact = [d for d in report.duplicates if d["kind"] == "exact" and d["conflicting"]]
    assert [sorted(d["paths"]) for d in exact] == [sorted([str(a), str(b)])]
    usable = {r.path for r in report.usable()}
    assert str(a) not in usable and str(b) not in usable


def test_near_duplicates_with_conflicting_labels_are_reported(
    corpus: tuple[Path, dict[str, CorpusCase]], report: AuditReport
) -> None:
    near = [d for d in report.duplicates if d["kind"] == "near"]
    pair = {str(corpus[1]["near_dup_original"].path), str(corpus[1]["near_dup_copy"].path)}
    assert [set(d["paths"]) for d in near] == [pair]
    assert near[0]["conflicting"] is True


def test_class_counts_and_imbalance_are_over_usable_images(report: AuditReport) -> None:
    assert report.class_counts == {"lipstick": 16, "nail_polish": 17, "perfume": 15}
    assert report.imbalance_ratio == pytest.approx(17 / 15, abs=1e-3)
    assert report.summary["usable"] == 48 and report.summary["files"] == 57


def test_unknown_labels_are_errors(corpus: tuple[Path, dict[str, CorpusCase]]) -> None:
    records = [r for r in load_records(corpus[0] / "manifest.csv") if r.path.endswith("_00.jpg")]
    report = audit_records(records, known_labels=["lipstick", "nail_polish"])
    verdicts = {e.label: (e.status, e.reason) for e in report.entries}
    assert verdicts["lipstick"] == ("ok", "ok")
    assert verdicts["perfume"][0] == "error" and "unknown label 'perfume'" in verdicts["perfume"][1]


def test_blank_path_or_label_is_a_per_row_error_and_the_rest_is_audited(tmp_path: Path) -> None:
    picture(np.random.default_rng(3), (30, 160, 90), size=(64, 64)).save(tmp_path / "a.png")
    picture(np.random.default_rng(4), (160, 30, 90), size=(64, 64)).save(tmp_path / "c.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\na.png,lipstick\n,lipstick\nc.png,\n", encoding="utf-8")
    report = audit_records(load_records(manifest), known_labels=["lipstick"])
    verdicts = [(e.row, e.status, e.reason, e.label) for e in report.entries]
    assert verdicts == [
        (1, "ok", "ok", "lipstick"),
        (2, "error", "blank 'path'", "lipstick"),
        (3, "error", "blank 'label'", ""),  # not also "unknown label ''"
    ]
    assert [r.path for r in report.usable()] == [str(tmp_path / "a.png")]
    assert report.skipped_rows()[1] == {"path": str(tmp_path / "c.png"), "reason": "blank 'label'"}
    assert report.summary["files"] == 3 and report.summary["error"] == 2


def test_folder_audit_matches_manifest_audit(
    corpus: tuple[Path, dict[str, CorpusCase]], report: AuditReport
) -> None:
    root, _ = corpus
    folder = audit_records(load_records(root / "images"))
    from_manifest = {e.path: e.status for e in report.entries if "missing file" not in e.reason}
    assert {e.path: e.status for e in folder.entries} == from_manifest


def test_write_produces_valid_json_and_readable_markdown(report: AuditReport, tmp_path: Path) -> None:
    json_path, md_path = report.write(tmp_path / "out")
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert len(doc["entries"]) == len(report.entries)
    assert all({"path", "status", "reason"} <= e.keys() for e in doc["entries"])
    assert {e["status"] for e in doc["entries"]} == {"ok", "warning", "error"}
    assert doc["summary"]["usable"] == 48 and doc["class_counts"]["lipstick"] == 16
    text = md_path.read_text(encoding="utf-8")
    assert "# Data audit" in text and "| error | no | lipstick/truncated.jpg |" in text
    assert sorted(p.name for p in json_path.parent.iterdir()) == ["audit.json", "audit.md"]  # no temp files


def test_progress_bar_does_not_change_the_result(
    corpus: tuple[Path, dict[str, CorpusCase]], report: AuditReport
) -> None:
    records = load_records(corpus[0] / "manifest.csv")
    with_bar = audit_records(records, progress=True)
    assert [e.status for e in with_bar.entries] == [e.status for e in report.entries]


def test_a_second_audit_reads_unchanged_files_from_the_cache(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cases = make_broken_corpus(root)
    records = load_records(root / "manifest.csv")
    cold = audit_records(records)
    assert cold.summary["from_cache"] == 0
    warm = audit_records(records)
    on_disk = sum(Path(r.path).is_file() for r in records if not r.problem)
    assert warm.summary["from_cache"] == on_disk > 40
    assert warm.entries == cold.entries and warm.duplicates == cold.duplicates
    # a file that changes is read again, and its new verdict replaces the old
    normal = next(c for n, c in cases.items() if n.startswith("normal_"))
    Path(normal.path).write_bytes(b"not an image any more")
    third = audit_records(records)
    assert third.summary["from_cache"] == on_disk - 1
    changed = next(e for e in third.entries if e.path == str(normal.path))
    assert changed.status == "error"
    # other settings are other verdicts: nothing is read from the cache for them
    assert audit_records(records, min_size=40).summary["from_cache"] == 0


# --- decoding of the unusual-but-valid files ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "size"),
    [("cmyk", (64, 64)), ("png16", (64, 64)), ("alpha", (64, 64)), ("animated_gif", (64, 64)),
     ("webp", (64, 64)), ("upper_ext", (64, 64)), ("non_ascii", (64, 64)),
     ("exif_rotated", EXIF_STORED_SIZE[::-1])],
)  # fmt: skip
def test_unusual_valid_images_load_as_rgb(
    name: str, size: tuple[int, int], corpus: tuple[Path, dict[str, CorpusCase]]
) -> None:
    im = load_rgb(corpus[1][name].path)
    assert (im.mode, im.size) == ("RGB", size)


def test_exif_rotation_is_applied(corpus: tuple[Path, dict[str, CorpusCase]]) -> None:
    arr = np.asarray(load_rgb(corpus[1]["exif_rotated"].path), dtype=np.int32)
    top, bottom = arr[: arr.shape[0] // 3].mean(axis=(0, 1)), arr[-arr.shape[0] // 3 :].mean(axis=(0, 1))
    assert top[0] > top[2] + 80, "red half should be on top once upright"
    assert bottom[2] > bottom[0] + 80


def test_alpha_is_composited_on_white(corpus: tuple[Path, dict[str, CorpusCase]]) -> None:
    arr = np.asarray(load_rgb(corpus[1]["alpha"].path))
    assert (arr[:32, :32] == 255).all()


def test_animated_gif_uses_the_first_frame(corpus: tuple[Path, dict[str, CorpusCase]]) -> None:
    mean = np.asarray(load_rgb(corpus[1]["animated_gif"].path), dtype=np.float64).mean(axis=(0, 1))
    assert mean[0] > mean[1] + 60 and mean[0] > mean[2] + 60  # the red frame


def test_sixteen_bit_grey_is_scaled_not_clipped(corpus: tuple[Path, dict[str, CorpusCase]]) -> None:
    path = corpus[1]["png16"].path
    raw = np.asarray(Image.open(path), dtype=np.float64) / 257
    out = np.asarray(load_rgb(path), dtype=np.float64)[..., 0]
    assert np.abs(out - raw).max() <= 1


def test_cmyk_colours_survive_conversion(corpus: tuple[Path, dict[str, CorpusCase]]) -> None:
    with Image.open(corpus[1]["cmyk"].path) as im:
        assert im.mode == "CMYK"
        expected = np.asarray(im.convert("RGB"), dtype=np.float64)
    assert np.abs(np.asarray(load_rgb(corpus[1]["cmyk"].path), dtype=np.float64) - expected).mean() < 1


# --- decoder safety ----------------------------------------------------------------------


def test_truncated_images_fail_even_if_someone_enabled_truncated_loading(
    corpus: tuple[Path, dict[str, CorpusCase]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageError, match="truncated"):
        load_rgb(corpus[1]["truncated"].path)


def test_bomb_below_pils_own_limit_is_caught_by_ours(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    write_blank_png(path, 9_000, 8_000)  # 72 M pixels: over MAX_PIXELS, under PIL's warning
    assert 9_000 * 8_000 > MAX_PIXELS
    with pytest.raises(ImageError, match="decompression-bomb size 9000x8000"):
        decode(path)


def test_decode_reports_conversions(corpus: tuple[Path, dict[str, CorpusCase]]) -> None:
    assert decode(corpus[1]["cmyk"].path).notes == ("converted from CMYK",)
    assert decode(corpus[1]["upper_ext"].path).notes == ()


# --- near-duplicate search ---------------------------------------------------------------


def test_vectorised_pair_search_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 2**63, (300, 1), dtype=np.uint64)
    fine = rng.integers(0, 2**63, (300, 4), dtype=np.uint64)
    for i in range(0, 299, 7):  # plant near copies: flip a few bits of a neighbour
        coarse[i + 1] = coarse[i] ^ np.uint64((1 << (i % 64)) | (1 << ((i + 5) % 64)))
        fine[i + 1] = fine[i] ^ np.uint64(0b1011 << (i % 60))
    found = sorted(_close_pairs(coarse, fine, 4))
    brute = sorted(
        (a, b, sum(bin(int(x) ^ int(y)).count("1") for x, y in zip(coarse[a], coarse[b], strict=True)))
        for a, b in itertools.combinations(range(300), 2)
        if bin(int(coarse[a, 0]) ^ int(coarse[b, 0])).count("1") <= 4
        and sum(bin(int(x) ^ int(y)).count("1") for x, y in zip(fine[a], fine[b], strict=True)) <= 24
    )
    assert found == brute and len(found) >= 43
    assert [int(v) for v in _hamming(coarse[:3], coarse[1:4])] == [
        bin(int(coarse[i, 0]) ^ int(coarse[i + 1, 0])).count("1") for i in range(3)
    ]


def test_same_label_near_duplicates_in_one_group_are_only_noted(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    im = picture(rng, (200, 40, 60), size=(80, 80))
    (tmp_path / "a").mkdir()
    im.save(tmp_path / "a" / "one.jpg", quality=92)
    im.resize((72, 72)).save(tmp_path / "a" / "two.jpg", quality=70)
    records = load_records(tmp_path)
    split_apart = audit_records(records)  # folder: each file is its own group
    assert [e.status for e in split_apart.entries] == ["warning", "warning"]
    same_group = audit_records([replace(r, group="g") for r in records])
    assert [(e.status, "same group" in e.reason) for e in same_group.entries] == [("ok", True)] * 2
