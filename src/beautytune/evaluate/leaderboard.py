"""Leaderboards: many finished runs on one split -> one table (JSON, Markdown, plot, terminal).

A row per run comes from its bundle (``bundle.json`` keeps the test summary, wall time and
trainable parameters), so a leaderboard can be rebuilt from run folders alone, and runs
finished in an earlier sitting count without being redone.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from beautytune.io import write_json_atomic, write_text_atomic

LEADERBOARD_JSON = "leaderboard.json"
LEADERBOARD_MD = "leaderboard.md"
LEADERBOARD_PNG = "leaderboard.png"
SHOTS_PNG = "shots.png"


def run_row(run_dir: Path, name: str, seed: int) -> dict[str, Any] | None:
    """The leaderboard row of a finished run (None while it has no bundle)."""
    meta_path = run_dir / "bundle" / "bundle.json"
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    m = meta.get("metrics", {})
    test = m.get("test", {})
    return {
        "name": name,
        "strategy": meta.get("strategy"),
        "backbone": meta.get("backbone"),
        "seed": seed,
        "macro_f1": test.get("macro_f1"),
        "accuracy": test.get("accuracy"),
        "ece": test.get("ece"),
        "ece_uncalibrated": test.get("ece_uncalibrated"),
        "wall_s": m.get("wall_time_s"),
        "trainable_params": m.get("trainable_params"),
        "run": str(run_dir),
    }


def _mean(values: list[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return statistics.mean(vals) if vals else None


def aggregate(rows: list[dict[str, Any]], sort_by: str = "macro_f1") -> list[dict[str, Any]]:
    """One entry per name: macro-F1 mean and sample std over seeds, other columns' means;
    best ``sort_by`` (test ``macro_f1``, or ``val_macro_f1`` where that chose) first."""
    board = []
    for name in dict.fromkeys(r["name"] for r in rows):
        cell = [r for r in rows if r["name"] == name]
        f1 = [float(r["macro_f1"]) for r in cell]
        board.append(
            {
                "name": name,
                "strategy": cell[0]["strategy"],
                "backbone": cell[0]["backbone"],
                "runs": len(cell),
                "macro_f1_mean": statistics.mean(f1),
                "macro_f1_std": statistics.stdev(f1) if len(f1) > 1 else 0.0,
                "accuracy_mean": _mean([r["accuracy"] for r in cell]),
                "ece_mean": _mean([r["ece"] for r in cell]),
                "ece_uncalibrated_mean": _mean([r["ece_uncalibrated"] for r in cell]),
                "wall_s_mean": _mean([r["wall_s"] for r in cell]),
                "trainable_params": cell[0]["trainable_params"],
                "val_macro_f1_mean": _mean([r.get("val_macro_f1") for r in cell]),
                "chosen": any(r.get("chosen") for r in cell),
            }
        )
    # among equal scores the entry that was chosen comes first (auto breaks ties its own way)
    return sorted(board, key=lambda b: (-(b[f"{sort_by}_mean"] or 0.0), not b["chosen"]))


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table_rows(board: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells, shared by the Markdown and the terminal table."""
    head = ["#", "run", "macro-F1 (mean ± std)", "accuracy", "ECE before → after", "wall s", "trainable"]
    with_val = any(b["val_macro_f1_mean"] is not None for b in board)
    if with_val:
        head.insert(2, "val macro-F1")
    out = []
    for i, b in enumerate(board, 1):
        ece = _fmt(b["ece_mean"], ".3f")
        if b["ece_uncalibrated_mean"] is not None:
            ece = f"{b['ece_uncalibrated_mean']:.3f} → {ece}"
        out.append(
            [
                str(i),
                b["name"],
                f"{b['macro_f1_mean']:.3f} ± {b['macro_f1_std']:.3f} (n={b['runs']})",
                _fmt(b["accuracy_mean"], ".3f"),
                ece,
                _fmt(b["wall_s_mean"], ".0f"),
                _fmt(b["trainable_params"], ","),
            ]
        )
        if with_val:
            out[-1].insert(2, _fmt(b["val_macro_f1_mean"], ".3f"))
        if b["chosen"]:
            out[-1][1] += " (chosen)"
    return head, out


def markdown(board: list[dict[str, Any]], title: str) -> str:
    head, rows = table_rows(board)
    lines = [f"# {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += [
        "",
        "Test split macro-F1; ECE before → after temperature scaling (none for runs whose "
        "validation split trained the model); wall s: the whole run, audit and report included.",
    ]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], board: list[dict[str, Any]], title: str) -> Any:
    """Every run's macro-F1 as a dot, the mean as a bar, best on top."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 0.45 * len(board) + 1.4))
    ax = fig.subplots()
    names = [b["name"] for b in board][::-1]
    ax.barh(names, [b["macro_f1_mean"] for b in board][::-1], color="#c9d6e8")
    for y, name in enumerate(names):
        f1 = [r["macro_f1"] for r in rows if r["name"] == name]
        ax.plot(f1, [y] * len(f1), "o", color="#3b6ea5", markersize=5)
    ax.set_xlabel("test macro-F1 (bar: mean; dots: seeds)")
    ax.set_xlim(0, 1)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_shots(rows: list[dict[str, Any]], title: str) -> Any:
    """Macro-F1 against examples per class: one line per strategy, mean with the draws' std."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    ks_all = sorted({r["shots"] for r in rows})
    for strategy in dict.fromkeys(r["strategy"] for r in rows):
        ks = [k for k in ks_all if any(r["strategy"] == strategy and r["shots"] == k for r in rows)]
        cells = [[r["macro_f1"] for r in rows if r["strategy"] == strategy and r["shots"] == k] for k in ks]
        means = [statistics.mean(c) for c in cells]
        stds = [statistics.stdev(c) if len(c) > 1 else 0.0 for c in cells]
        ax.errorbar(ks, means, yerr=stds, marker="o", capsize=3, label=strategy)
    ax.set_xscale("log")
    ax.set_xticks(ks_all, [str(k) for k in ks_all])
    ax.set_xlabel("training examples per class (K)")
    ax.set_ylabel("test macro-F1 (mean ± std over draws)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def write_leaderboard(
    out: Path, rows: list[dict[str, Any]], title: str, sort_by: str = "macro_f1", **extra: Any
) -> list[dict[str, Any]]:
    """``out/leaderboard.json`` (runs and board), ``.md`` and ``.png``; returns the board."""
    from beautytune.evaluate.report import write_png

    board = aggregate(rows, sort_by)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / LEADERBOARD_JSON, {"title": title, **extra, "leaderboard": board, "runs": rows})
    write_text_atomic(out / LEADERBOARD_MD, markdown(board, title))
    write_png(out / LEADERBOARD_PNG, plot(rows, board, title))
    if any(r.get("shots") for r in rows):
        write_png(out / SHOTS_PNG, plot_shots([r for r in rows if r.get("shots")], title))
    return board
