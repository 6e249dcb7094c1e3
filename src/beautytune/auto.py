"""``beautytune auto``: the best model beautytune can make of DATA within a wall-clock budget.

Optuna chooses backbone, strategy, learning rate and input size (TPE sampler); a Hyperband
pruner stops trials whose validation macro-F1 trails others' at the same epoch (successive
halving), so the budget goes to promising ones. Every trial is an ordinary ``fit`` on the
one grouped split made at the start, so trials compare on the same validation photos, and
the one chosen is the best on *validation*; the test split only reports.

On two CPU cores a 15-minute budget buys three or four fine-tuning trials: too few for TPE
to learn anything from its own history. So the search starts from a small portfolio, as
AutoGluon's presets do: frozen features + logistic regression on the first backbone
(seconds to a minute, and on small data often the one to beat), then the fine-tuning
default that did best across the strategy tables (README, Results), at the photos' own
resolution (no input size above the median photo's short side, which upsampling would only
blur); TPE takes over from there. The portfolio's fine-tuning trial may train for half the
budget, a searched one for a third. Timed trials use the ``budget`` learning-rate schedule
(cosine to zero over the trial's own budget): a trial stopped at two of its ten planned
epochs would otherwise stop near the top of its cosine, still warming up or barely decayed. A chosen `features` trial is refitted on train +
validation before it ships, as `fit --strategy features` does (validation chose it; seconds
on the cached features).

The budget is wall clock for everything: audit and split, every trial with its
calibration, test evaluation and report, and the final copy. Each trial's training budget
is what is left minus what a trial's non-training work has cost so far (measured, with a
margin); no new trial starts when that leaves too little to train.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L

from beautytune.config import RunConfig
from beautytune.errors import BeautytuneError
from beautytune.io import write_json_atomic
from beautytune.train.rundir import RunDir
from beautytune.train.soup import SoupResult, greedy_soup

if TYPE_CHECKING:
    from beautytune.data.records import Record

#: what the search may choose from, per modality (every backbone here loads offline)
FINE_TUNED = ["partial", "full", "gradual", "llrd", "lp-ft", "wise-ft", "bitfit", "lora"]
IMAGE_SPACE: dict[str, list[Any]] = {
    "backbone": ["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"],
    "strategy": ["features", "head", *FINE_TUNED],
    "image_size": [128, 160, 192, 224],
}
TEXT_SPACE: dict[str, list[Any]] = {
    "backbone": ["minilm"],
    # wise-ft is left out for text: scoring its alpha curve on validation costs a text set
    # as much as another epoch (1,110 s against 670 s for `full` in the reviews table)
    "strategy": ["features", "head", *[s for s in FINE_TUNED if s != "wise-ft"]],
    "max_length": [64, 128],
}
#: the portfolio's fine-tuning trial, per modality: the fine-tuned strategy of best mean test
#: macro-F1 in the README's strategy tables (three seeds each): wise-ft over the two photo sets
#: (0.684: skincare 0.442, skin_type 0.926; lora next, 0.677), full on the reviews (0.669)
DEFAULT_FINE_TUNE = {"image": "wise-ft", "text": "full"}
LR_RANGE = (1e-4, 3e-3)
#: no searched trial trains longer than this share of the budget, so the search sees several
TRIAL_SHARE = 1 / 3
PORTFOLIO_SHARE = 1 / 2  # the portfolio's fine-tuning trial: the one most likely to be kept
MIN_TRIAL_S = 20.0  # a trial given less training time than this is not started (or 5% of the budget)
SAFETY = 1.15  # margin on the measured cost of a trial's non-training work


@dataclass
class Trial:
    number: int
    params: dict[str, Any]
    state: str  # complete | pruned | failed
    val_macro_f1: float | None = None
    wall_s: float = 0.0
    run: str | None = None
    error: str | None = None


@dataclass
class AutoResult:
    run_dir: Path
    bundle: Path
    report: Path
    best: Trial
    trials: list[Trial]
    wall_time_s: float
    budget_s: float
    metrics: dict[str, Any] = field(default_factory=dict)
    #: the trial folders whose weights the shipped greedy soup averages (None: best trial ships)
    soup: list[str] | None = None
    #: the chosen `features` trial was refitted on train + validation before it shipped
    refit: bool = False


class PruneOnValidation(L.Callback):
    """Reports validation macro-F1 each epoch; stops the run when Optuna says prune."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        import optuna

        value = trainer.callback_metrics.get("val_macro_f1")
        if trainer.sanity_checking or value is None:
            return
        self.trial.report(float(value), trainer.current_epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"epoch {trainer.current_epoch + 1}: val macro-F1 {float(value):.3f}")


def search_space(
    modality: str, backbones: list[str] | None, strategies: list[str] | None
) -> dict[str, list[Any]]:
    space = {k: list(v) for k, v in (TEXT_SPACE if modality == "text" else IMAGE_SPACE).items()}
    if backbones:
        space["backbone"] = backbones
    if strategies:
        space["strategy"] = strategies
    return space


def auto(
    cfg: RunConfig,
    budget_s: float,
    *,
    backbones: list[str] | None = None,
    strategies: list[str] | None = None,
    image_sizes: list[int] | None = None,
    max_trials: int | None = None,
    soup: bool = False,
) -> AutoResult:
    """Search within ``budget_s`` seconds of wall clock; RUN/bundle and RUN/report are the
    chosen trial's, RUN/leaderboard.{md,json,png} rank every finished trial. ``soup``: then
    average the weights of the best compatible trials while validation does not drop
    (greedy soup, :mod:`beautytune.train.soup`); the soup ships when it beats the best trial."""
    import optuna

    from beautytune.data.records import by_split
    from beautytune.evaluate.baselines import split_baselines
    from beautytune.evaluate.leaderboard import run_row, write_leaderboard
    from beautytune.strategies import strategy_class
    from beautytune.tasks import task_for
    from beautytune.train.pipeline import _read_and_split, _write_run_files, fit

    start = time.perf_counter()
    deadline = start + budget_s
    run = RunDir(cfg.out)
    if run.is_started():
        raise BeautytuneError(f"run folder {run.path} already exists: choose another --out")
    cfg.validate()
    task = task_for(cfg)
    space = search_space(task.modality, backbones, strategies)
    if image_sizes and task.modality == "image":
        space["image_size"] = image_sizes
    for name in space["strategy"]:
        strategy_class(name)
    for name in space["backbone"]:
        task.check_backbone(replace(cfg, backbone=name))
    interactive = sys.stderr.isatty()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    records, audit = _read_and_split(task, cfg, interactive)
    created = not run.path.exists()
    try:
        _write_run_files(run, cfg, records, audit)
        trials_dir = run.path / "trials"
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=cfg.seed),
            pruner=optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=cfg.epochs, reduction_factor=3
            ),
        )
        portfolio = first_trials(space, task.modality, audit, cfg.lr)
        for params in portfolio:
            study.enqueue_trial(params)
        done: list[Trial] = []
        guess = max(2.0, 0.05 * budget_s)  # a trial's non-training cost until one is measured
        overhead: list[float] = []
        min_trial = min(MIN_TRIAL_S, 0.05 * budget_s)
        feature_cost: dict[tuple[Any, ...], float] = {}
        while max_trials is None or len(done) < max_trials:
            left = deadline - time.perf_counter()
            # a soup needs its candidates scored and one more bundle + report at the end
            reserve = (2 if soup else 1) * SAFETY * max(overhead or [guess])
            train_budget = left - reserve - 1.0
            if train_budget < min_trial:
                break
            trial = study.ask()
            params = {
                "backbone": trial.suggest_categorical("backbone", space["backbone"]),
                "strategy": trial.suggest_categorical("strategy", space["strategy"]),
            }
            if params["strategy"] not in ("features", "prototype"):
                params["lr"] = trial.suggest_float("lr", *LR_RANGE, log=True)
            for key in ("image_size", "max_length"):
                if key in space:
                    params[key] = trial.suggest_categorical(key, space[key])
            closed_form = params["strategy"] == "features"
            size_key = (params["backbone"], params.get("image_size"), params.get("max_length"))
            if closed_form and feature_cost.get(size_key, 0.1 * budget_s) > train_budget:
                # features are not stopped by a timer: start one only when it fits
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                continue
            options = {"fit_val": False} if closed_form else {}
            name = f"{trial.number:03d}-{params['backbone']}-{params['strategy']}"
            share = PORTFOLIO_SHARE if trial.number < len(portfolio) else TRIAL_SHARE
            trial_cfg = replace(
                cfg,
                out=str(trials_dir / name),
                strategy_options=options,
                time_budget=None if closed_form else min(train_budget, share * budget_s),
                # a trial is cut by its budget, not by its epochs: decay over the budget
                schedule="budget" if cfg.schedule == "cosine" and not closed_form else cfg.schedule,
                **params,
            )
            t0 = time.perf_counter()
            record = Trial(trial.number, params, "complete", run=str(trials_dir / name))
            try:
                result = fit(
                    trial_cfg,
                    prepared=(records, audit),
                    callbacks=[PruneOnValidation(trial)],
                    score_val=True,
                    baselines=split_baselines,
                )
            except optuna.TrialPruned as err:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                record.state, record.error, record.run = "pruned", str(err), None
                shutil.rmtree(trials_dir / name, ignore_errors=True)
            except BeautytuneError as err:  # e.g. a strategy that cannot take this backbone
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                record.state, record.error, record.run = "failed", str(err), None
                shutil.rmtree(trials_dir / name, ignore_errors=True)
            else:
                record.val_macro_f1 = float(result.metrics["val_macro_f1"])
                study.tell(trial, record.val_macro_f1)
                overhead.append(result.wall_time_s - result.train_time_s)
                if closed_form:  # cached from now on: the next one costs the head fit alone
                    feature_cost[size_key] = result.train_time_s * 0.2
            record.wall_s = round(time.perf_counter() - t0, 1)
            done.append(record)
            _progress(record, deadline)
        finished = [t for t in done if t.state == "complete"]
        if not finished:
            raise BeautytuneError(
                f"no trial finished within {budget_s:.0f}s: raise --time-budget (the audit and split took "
                f"{time.perf_counter() - start:.0f}s)"
            )
        ranked = sorted(finished, key=lambda t: -(t.val_macro_f1 or 0.0))
        best = ranked[0]
        best_dir = Path(best.run or "")
        made = None
        if soup and len(ranked) > 1:
            finish_cost = SAFETY * max(overhead or [guess])
            made = greedy_soup(
                [Path(t.run or "") for t in ranked],
                by_split(records, "val"),
                best.val_macro_f1 or 0.0,
                deadline=deadline - finish_cost,
            )
        # only a soup that beats the best trial on validation ships (greedy_soup starts at its score)
        shipped = made if made is not None and made.val_macro_f1 > (best.val_macro_f1 or 0.0) else None
        refit = None
        if shipped is None and best.params["strategy"] == "features":
            refit = refit_features(best, cfg, trials_dir, (records, audit), deadline)
            if refit is not None:
                best_dir = refit
        rows = []
        for t in finished:
            row = run_row(Path(t.run or ""), f"{t.number:03d} {_describe(t.params)}", 0)
            if row is not None:
                rows.append({**row, "val_macro_f1": t.val_macro_f1, "chosen": t is best and shipped is None})
        if shipped is not None:
            rows.append(ship_soup(shipped, records, run, cfg.data))
        else:
            shutil.copytree(best_dir / "bundle", run.bundle)
            shutil.copytree(best_dir / "report", run.report)
        wall = time.perf_counter() - start
        chosen = (
            {"soup": [p.name for p in shipped.ingredients], "val_macro_f1": shipped.val_macro_f1}
            if shipped is not None
            else {
                "trial": best.number,
                **best.params,
                "val_macro_f1": best.val_macro_f1,
                **({"refit": "train + val"} if refit is not None else {}),
            }
        )
        summary = {
            "budget_s": budget_s,
            "wall_s": round(wall, 1),
            "chosen": chosen,
            **(
                {
                    "soup": {
                        "tried": made.tried if made else [],
                        "val_macro_f1": made.val_macro_f1 if made else None,
                    }
                }
                if soup
                else {}
            ),
            "trials": [t.__dict__ for t in done],
            "space": space,
        }
        if refit is not None:  # the shipped model's test scores are the refit's
            shipped_row = run_row(
                refit, f"{best.number:03d} {_describe(best.params)}, refit on train + val", 0
            )
            if shipped_row is not None:  # it takes the place of the trial it refits
                rows = [r for r in rows if not r["chosen"]]
                rows.append({**shipped_row, "val_macro_f1": best.val_macro_f1, "chosen": True})
        write_leaderboard(
            run.path, rows, f"beautytune auto: {Path(cfg.data).name}", sort_by="val_macro_f1", auto=summary
        )
        write_json_atomic(run.path / "auto.json", summary)
    except BaseException:
        if created:
            shutil.rmtree(run.path, ignore_errors=True)  # a search cut short leaves nothing half-made
        raise
    metrics = next(r for r in rows if r.get("chosen"))
    return AutoResult(
        run.path,
        run.bundle,
        run.report / "index.html",
        best,
        done,
        wall,
        budget_s,
        metrics,
        soup=[p.name for p in shipped.ingredients] if shipped is not None else None,
        refit=refit is not None,
    )


def first_trials(space: dict[str, list[Any]], modality: str, audit: Any, lr: float) -> list[dict[str, Any]]:
    """The portfolio the search starts from (see the module docstring), within ``space``."""
    sizes: dict[str, Any] = {}
    if "image_size" in space:
        sizes["image_size"] = native_size(audit, space["image_size"])
    if "max_length" in space:
        sizes["max_length"] = max(space["max_length"])
    backbone = space["backbone"][0]
    trials = []
    if "features" in space["strategy"]:
        # features run at the backbone's own input size: resizing buys them nothing
        own = {k: max(space[k]) for k in sizes}
        trials.append({"backbone": backbone, "strategy": "features", **own})
    tuned = DEFAULT_FINE_TUNE[modality]
    if tuned in space["strategy"]:
        trials.append(
            {"backbone": backbone, "strategy": tuned, "lr": min(max(lr, LR_RANGE[0]), LR_RANGE[1]), **sizes}
        )
    return trials


def native_size(audit: Any, sizes: list[int]) -> int:
    """The smallest of ``sizes`` not below the median usable photo's short side (the largest
    when the photos are bigger than every size)."""
    import statistics

    sides = [
        min(e.width, e.height) for e in getattr(audit, "entries", []) if e.usable and e.width and e.height
    ]
    if not sides:
        return max(sizes)
    median = statistics.median(sides)
    return min((s for s in sizes if s >= median), default=max(sizes))


def refit_features(
    best: Trial, cfg: RunConfig, trials_dir: Path, prepared: tuple[list[Record], Any], deadline: float
) -> Path | None:
    """The chosen `features` trial fitted again on train + validation (cached features), or
    None when the budget has no room for it (its trial's own cost, with the margin)."""
    from beautytune.train.pipeline import fit

    if time.perf_counter() + SAFETY * best.wall_s > deadline:
        return None
    out = trials_dir / f"{best.number:03d}-refit"
    refit_cfg = replace(
        cfg, out=str(out), strategy_options={"fit_val": True}, time_budget=None, **best.params
    )
    fit(refit_cfg, prepared=prepared)
    print(f"[auto] trial {best.number} refitted on train + val -> {out.name}", file=sys.stderr, flush=True)
    return out


def ship_soup(made: SoupResult, records: list[Record], run: RunDir, data: str) -> dict[str, Any]:
    """The soup as RUN/bundle (temperature fitted on validation) and RUN/report (test split);
    returns its leaderboard row."""
    from beautytune.data.records import by_split
    from beautytune.evaluate.evaluate import evaluate_records
    from beautytune.evaluate.leaderboard import run_row
    from beautytune.inference.bundle import save_bundle, update_bundle_metrics
    from beautytune.inference.calibration import calibrate_predictor, describe
    from beautytune.inference.predictor import Predictor
    from beautytune.train.pipeline import test_summary

    b = made.bundle
    predictor = Predictor(b.task, b.model, b.processor, b.labels)
    calibration = calibrate_predictor(predictor, by_split(records, "val"))
    names = [p.name for p in made.ingredients]
    meta = replace(b.meta, strategy="soup", calibration=calibration, metrics={})
    bundle_dir = save_bundle(run.bundle, b.model, meta, b.task, b.processor)
    context = {
        "data": data,
        "backbone": b.meta.backbone,
        "greedy soup of": ", ".join(names),
        "val macro-F1 (soup)": round(made.val_macro_f1, 4),
        "temperature (validation)": describe(calibration),
    }
    metrics = evaluate_records(
        predictor,
        by_split(records, "test"),
        run.report,
        context=context,
        title=f"beautytune auto: greedy soup of {len(names)} trials (test split)",
        comparison_name=f"{b.meta.backbone} / soup",
    )
    update_bundle_metrics(bundle_dir, {"test": test_summary(metrics, made.val_macro_f1), "soup": names})
    row = run_row(run.path, f"soup of {len(names)}: " + ", ".join(n.split("-")[0] for n in names), 0)
    assert row is not None
    return {**row, "val_macro_f1": made.val_macro_f1, "chosen": True, "soup": names}


def _describe(params: dict[str, Any]) -> str:
    parts = [f"{params['backbone']}/{params['strategy']}"]
    if "lr" in params:
        parts.append(f"lr {params['lr']:.2g}")
    for key in ("image_size", "max_length"):
        if key in params:
            parts.append(f"{key.replace('_', ' ')} {params[key]}")
    return ", ".join(parts)


def _progress(t: Trial, deadline: float) -> None:
    score = f"val macro-F1 {t.val_macro_f1:.3f}" if t.val_macro_f1 is not None else t.state
    left = max(0.0, deadline - time.perf_counter())
    print(
        f"[auto] trial {t.number}: {_describe(t.params)} -> {score} ({t.wall_s:.0f}s; {left:.0f}s left)",
        file=sys.stderr,
        flush=True,
    )
