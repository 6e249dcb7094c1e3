"""Calibrate the per-aspect detection thresholds on a labelled sample, honestly.

The labelled sentences (``tests/data/aspect_sentences.csv``: ``sentence``, ``aspects``
with ``;``-separated names, empty for none) are split in two halves, stratified by
their first aspect. Each aspect's threshold maximises F1 on the *calibration* half;
precision and recall are then reported on the *other* half, which played no part in
choosing them. ``python -m beautytune.insights.calibrate`` regenerates the shipped
``thresholds.json`` and prints the table (``--check`` prints without writing).
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from beautytune.errors import DataError
from beautytune.insights.aspects import THRESHOLDS_JSON
from beautytune.insights.detect import AspectDetector
from beautytune.io import write_json_atomic

#: the labelled sample, found relative to a source checkout (``--data`` overrides)
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "tests" / "data" / "aspect_sentences.csv"
SEED = 0


@dataclass
class CalibrationResult:
    """Chosen thresholds plus metrics on both halves (``held_out`` is the honest one)."""

    thresholds: dict[str, float]
    calibration: dict[str, Any]
    held_out: dict[str, Any]
    calib_idx: list[int] = field(default_factory=list)
    held_idx: list[int] = field(default_factory=list)


def load_labelled(path: str | Path = DEFAULT_DATA) -> tuple[list[str], list[list[str]]]:
    """Sentences and their gold aspect lists from the labelled CSV."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"labelled sentences not found: {path} (pass --data)")
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"sentence", "aspects"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: missing column(s) {sorted(missing)}; columns: {reader.fieldnames}")
        rows = list(reader)
    sentences = [r["sentence"].strip() for r in rows]
    gold = [[a.strip() for a in (r["aspects"] or "").split(";") if a.strip()] for r in rows]
    return sentences, gold


def split_halves(
    gold: Sequence[Sequence[str]], calib_fraction: float = 0.5, seed: int = SEED
) -> tuple[list[int], list[int]]:
    """Stratified (by first gold aspect, "" for none) calibration / held-out indices."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, labels in enumerate(gold):
        groups.setdefault(labels[0] if labels else "", []).append(i)
    calib: list[int] = []
    held: list[int] = []
    for key in sorted(groups):
        idx = list(rng.permutation(groups[key]))
        n_calib = round(len(idx) * calib_fraction)
        calib.extend(int(i) for i in idx[:n_calib])
        held.extend(int(i) for i in idx[n_calib:])
    return sorted(calib), sorted(held)


def best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """The threshold maximising F1 of ``scores >= t``; ties go to the higher threshold.

    The threshold is placed halfway to the next lower score, not on a sample, so a
    sentence scoring like the weakest accepted one is still accepted.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)
    if not truth.any():
        return float(scores.max() + 1e-6) if len(scores) else 1.0
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], truth[order]
    tp = np.cumsum(t)
    fp = np.cumsum(~t)
    f1 = 2 * tp / (tp + fp + t.sum())
    # only cut where the next score differs, so "predict the top k" is a real threshold
    valid = np.append(s[:-1] > s[1:], True)
    best = int(np.flatnonzero(valid)[np.argmax(f1[valid])])
    lower = s[best + 1] if best + 1 < len(s) else s[best] - 0.05
    return float((s[best] + lower) / 2)


def prf(pred: np.ndarray, truth: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """Micro and per-aspect precision / recall / F1 of boolean (n, n_aspects) matrices."""

    def score(p: np.ndarray, t: np.ndarray) -> dict[str, Any]:
        tp, fp, fn = int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
        return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn, "predicted": tp + fp}

    return {
        "micro": score(pred, truth),
        "per_aspect": {n: score(pred[:, j], truth[:, j]) for j, n in enumerate(names)},
        "n_sentences": len(pred),
    }


def gold_matrix(gold: Sequence[Sequence[str]], names: Sequence[str]) -> np.ndarray:
    unknown = sorted({a for labels in gold for a in labels} - set(names))
    if unknown:
        raise DataError(f"labelled aspects {unknown} are not detector aspects {list(names)}")
    return np.array([[n in labels for n in names] for labels in gold], dtype=bool).reshape(
        len(gold), len(names)
    )


def calibrate_thresholds(
    detector: AspectDetector,
    sentences: Sequence[str],
    gold: Sequence[Sequence[str]],
    *,
    calib_fraction: float = 0.5,
    seed: int = SEED,
) -> CalibrationResult:
    """Fit thresholds on one half of the labelled sentences, measure them on the other."""
    if len(sentences) != len(gold):
        raise ValueError(f"{len(sentences)} sentences but {len(gold)} gold label lists")
    truth = gold_matrix(gold, detector.names)
    sims = detector.similarities(list(sentences))
    calib, held = split_halves(gold, calib_fraction, seed)
    thresholds = np.array(
        [best_threshold(sims[calib, j], truth[calib, j]) for j in range(len(detector.names))]
    )
    pred = sims >= thresholds
    return CalibrationResult(
        thresholds={n: round(float(t), 4) for n, t in zip(detector.names, thresholds, strict=True)},
        calibration=prf(pred[calib], truth[calib], detector.names),
        held_out=prf(pred[held], truth[held], detector.names),
        calib_idx=calib,
        held_idx=held,
    )


def evaluate_thresholds(
    detector: AspectDetector, sentences: Sequence[str], gold: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """P/R/F1 of the detector's current thresholds on the given sentences."""
    return prf(detector.detect(list(sentences)), gold_matrix(gold, detector.names), detector.names)


def format_table(result: CalibrationResult) -> str:
    """A plain-text table: threshold and held-out P/R/F1 per aspect, micro last."""
    lines = [
        f"held-out half: {result.held_out['n_sentences']} sentences "
        f"(thresholds fitted on the other {result.calibration['n_sentences']})",
        f"{'aspect':<15}{'threshold':>10}{'precision':>11}{'recall':>8}{'F1':>7}{'support':>9}",
    ]

    def row(name: str, thr: str, m: dict[str, Any]) -> str:
        return (
            f"{name:<15}{thr:>10}{_fmt(m['precision']):>11}{_fmt(m['recall']):>8}"
            f"{_fmt(m['f1']):>7}{m['support']:>9}"
        )

    for name, m in result.held_out["per_aspect"].items():
        lines.append(row(name, f"{result.thresholds[name]:.3f}", m))
    lines.append(row("micro", "", result.held_out["micro"]))
    cal = result.calibration["micro"]
    lines.append(f"(calibration half micro: P {_fmt(cal['precision'])} R {_fmt(cal['recall'])})")
    return "\n".join(lines)


def thresholds_document(detector: AspectDetector, result: CalibrationResult, data: Path) -> dict[str, Any]:
    """What ``thresholds.json`` holds: thresholds tied to the exact descriptions, plus the evidence."""
    return {
        "encoder": "minilm",
        "data": data.name,
        "seed": SEED,
        "aspects": {
            a.name: {"threshold": result.thresholds[a.name], "fingerprint": a.fingerprint}
            for a in detector.aspects
        },
        "held_out": result.held_out,
        "calibration_micro": result.calibration["micro"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m beautytune.insights.calibrate", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled sentences CSV")
    parser.add_argument("--out", type=Path, default=THRESHOLDS_JSON, help="thresholds file to write")
    parser.add_argument("--check", action="store_true", help="print the table, write nothing")
    args = parser.parse_args(argv)

    from beautytune.insights.aspects import DEFAULT_DESCRIPTIONS, Aspect

    sentences, gold = load_labelled(args.data)
    # Uncalibrated aspects: the thresholds are chosen here, the current ones do not matter.
    detector = AspectDetector(aspects=[Aspect(n, d) for n, d in DEFAULT_DESCRIPTIONS.items()])
    result = calibrate_thresholds(detector, sentences, gold)
    print(format_table(result))
    if not args.check:
        write_json_atomic(args.out, thresholds_document(detector, result, args.data))
        print(f"wrote {args.out}")
    return 0


def _fmt(value: float) -> str:
    return "—" if value != value else f"{value:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
