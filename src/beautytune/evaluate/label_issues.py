"""Likely mislabelled examples: out-of-fold probabilities on frozen features, then cleanlab.

Each example's class probabilities come from a logistic regression that never saw it,
trained on cached backbone features of the other folds. The folds are grouped (a brand or
a person on one side only): with near-identical photos of one product on both sides the
model would echo the given label and hide the mistake. cleanlab's ``find_label_issues``
(confident learning, Northcutt et al., 2021) then names the examples whose given label the
out-of-fold model contradicts, ranked by how little it believes the given label.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from beautytune.data.records import Record
from beautytune.errors import DataError
from beautytune.io import write_json_atomic

if TYPE_CHECKING:
    from beautytune.config import RunConfig
    from beautytune.tasks.base import Task

LABEL_ISSUES_JSON = "label_issues.json"
LABEL_ISSUES_PNG = "label_issues.png"


def out_of_fold_probs(
    x: np.ndarray, y: np.ndarray, groups: list[str], num_classes: int, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """(N, C) probabilities, each row from a model fitted on the other groups' folds."""
    n_groups = len(set(groups))
    if n_groups < 2:
        raise DataError("the label check needs at least 2 groups (brands, people) for grouped folds")
    cv = StratifiedGroupKFold(n_splits=min(folds, n_groups), shuffle=True, random_state=seed)
    probs = np.zeros((len(y), num_classes))
    for train, held in cv.split(x, y, np.asarray(groups)):
        clf = make_pipeline(
            StandardScaler(), LogisticRegression(C=0.5, class_weight="balanced", max_iter=3000)
        )
        clf.fit(x[train], y[train])
        probs[np.ix_(held, clf.classes_)] = clf.predict_proba(x[held])
    return probs


def find_issues(
    records: list[Record], probs: np.ndarray, y: np.ndarray, labels: list[str]
) -> list[dict[str, Any]]:
    """cleanlab's label issues, least-believed given label first."""
    from cleanlab.filter import find_label_issues

    ranked = find_label_issues(labels=y, pred_probs=probs, return_indices_ranked_by="self_confidence")
    out = []
    for rank, i in enumerate(ranked, 1):
        suggested = int(probs[i].argmax())
        out.append(
            {
                "rank": rank,
                "path": records[i].path,
                "group": records[i].group,
                "given": labels[int(y[i])],
                "suggested": labels[suggested],
                "confidence": round(float(probs[i, suggested]), 4),
                "given_label_probability": round(float(probs[i, int(y[i])]), 4),
            }
        )
    return out


def label_issues(
    task: Task, cfg: RunConfig, records: list[Record], folds: int = 5, interactive: bool = False
) -> list[dict[str, Any]]:
    """Likely mislabelled ``records`` under ``cfg``'s backbone (features cached as for ``fit``)."""
    from beautytune.runtime import quiet_lightning, tune_cpu_runtime
    from beautytune.strategies.fitters import context_for, extract_features, feature_key
    from beautytune.train.rundir import RunDir

    tune_cpu_runtime()
    quiet_lightning()
    ctx = context_for(task, cfg, records, RunDir(cfg.out), interactive)
    feats = extract_features(ctx, records, feature_key(ctx))
    y = np.array(ctx.data.targets(records))
    probs = out_of_fold_probs(feats, y, [r.group for r in records], len(ctx.labels), folds, cfg.seed)
    return find_issues(records, probs, y, ctx.labels)


def write_label_issues(out: Path, issues: list[dict[str, Any]], images: bool, limit: int = 24) -> None:
    """``out/label_issues.json`` and, for images, a gallery of the first ``limit``."""
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / LABEL_ISSUES_JSON, {"count": len(issues), "issues": issues})
    if images:
        from beautytune.evaluate.report import plot_worst_errors, write_png

        tiles = [{**d, "true": d["given"], "pred": d["suggested"]} for d in issues[:limit]]
        write_png(out / LABEL_ISSUES_PNG, plot_worst_errors(tiles, captions=("given", "suggested")))


def markdown(issues: list[dict[str, Any]], images: bool, limit: int = 50) -> list[str]:
    """The audit report's section."""
    lines = [
        "## Likely label issues",
        "",
        f"{len(issues)} examples whose given label an out-of-fold model (grouped folds, frozen "
        "features) contradicts, found with cleanlab; least-believed first. Check them, fix the "
        "label or drop them (`fit --drop-label-issues` trains without them).",
        "",
    ]
    if images and issues:
        lines += [f"![label issues]({LABEL_ISSUES_PNG})", ""]
    if issues:
        lines += ["| # | file | given | suggested (probability) | p(given) |", "|---:|---|---|---|---:|"]
        lines += [
            f"| {d['rank']} | {Path(d['path']).name} | {d['given']} | {d['suggested']} ({d['confidence']:.2f}) "
            f"| {d['given_label_probability']:.2f} |"
            for d in issues[:limit]
        ]
        if len(issues) > limit:
            lines.append(f"\n... {len(issues) - limit} more in {LABEL_ISSUES_JSON}")
    return [*lines, ""]
