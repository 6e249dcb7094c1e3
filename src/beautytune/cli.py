"""The ``beautytune`` command: parse, call the API, print. No logic lives here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from beautytune import api
from beautytune.errors import BeautytuneError

app = typer.Typer(
    help="Fine-tune pretrained models on beauty data, offline, honestly evaluated.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out_console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DATA, MODEL, STRATEGY, TRAINING, HARDWARE, TEXT = (
    "Data",
    "Model",
    "Strategy",
    "Training",
    "Hardware (Lightning)",
    "Text data (reviews)",
)
LABELS = "Label check (--labels)"
SELF_TRAIN_HELP = "epochs of self-training on confident pseudo-labels after AdaBN (0 = AdaBN only)"
PSEUDO_HELP = "a target photo becomes a pseudo-label when its top class has at least this probability"
SelfTrainEpochs = Annotated[int, typer.Option(help=SELF_TRAIN_HELP)]
PseudoThreshold = Annotated[float, typer.Option(help=PSEUDO_HELP)]
PathCol = Annotated[str, typer.Option(help="manifest column holding image paths", rich_help_panel=DATA)]
LabelCol = Annotated[str, typer.Option(help="column holding labels", rich_help_panel=DATA)]
GroupCol = Annotated[
    str, typer.Option(help="column holding groups (brand, person, product)", rich_help_panel=DATA)
]
SplitCol = Annotated[str, typer.Option(help="column holding a train/val/test split", rich_help_panel=DATA)]
TextCol = Annotated[
    str | None, typer.Option(help="CSV column holding texts: makes this a text task", rich_help_panel=TEXT)
]
FromRating = Annotated[
    str | None,
    typer.Option(
        help="label from this 1-5 rating column: negative / neutral / positive", rich_help_panel=TEXT
    ),
]
FacesOverride = Annotated[
    str | None,
    typer.Option(
        help="face preparation instead of the bundle's: off | crop | align (not to or from regions)"
    ),
]
Thresholds = Annotated[
    str, typer.Option(help="ratings up to A are negative, up to B neutral: 'A,B'", rich_help_panel=TEXT)
]


def _columns(
    path_col: str,
    label_col: str,
    group_col: str,
    split_col: str,
    text_col: str | None = None,
    label_from_rating: str | None = None,
    rating_thresholds: str = "2,3",
) -> dict[str, Any]:
    try:
        low, high = (float(v) for v in rating_thresholds.split(","))
    except ValueError:
        raise BeautytuneError(
            f"--rating-thresholds '{rating_thresholds}': give two numbers, e.g. 2,3"
        ) from None
    return {
        "path_col": path_col,
        "label_col": label_col,
        "group_col": group_col,
        "split_col": split_col,
        "text_col": text_col,
        "label_from_rating": label_from_rating,
        "rating_thresholds": (low, high),
    }


@app.command()
def audit(
    data: Annotated[Path, typer.Argument(help="image folder, CSV manifest, or CSV of texts")],
    out: Annotated[Path, typer.Option(help="folder for audit.json and audit.md")] = Path("audit"),
    strict: Annotated[bool, typer.Option(help="exit 1 when anything has a problem")] = False,
    path_col: PathCol = "path",
    label_col: LabelCol = "label",
    group_col: GroupCol = "group",
    split_col: SplitCol = "split",
    text_col: TextCol = None,
    label_from_rating: FromRating = None,
    rating_thresholds: Thresholds = "2,3",
    labels: Annotated[
        bool,
        typer.Option(
            "--labels",
            help="also list likely mislabelled examples (out-of-fold frozen features + cleanlab)",
            rich_help_panel=LABELS,
        ),
    ] = False,
    folds: Annotated[int, typer.Option(help="grouped folds of the label check", rich_help_panel=LABELS)] = 5,
    backbone: Annotated[
        str | None, typer.Option(help="backbone of the label check's features", rich_help_panel=LABELS)
    ] = None,
    weights: Annotated[Path | None, typer.Option(help="its weights file", rich_help_panel=LABELS)] = None,
    image_size: Annotated[int | None, typer.Option(help="its input size", rich_help_panel=LABELS)] = None,
    max_length: Annotated[int | None, typer.Option(help="tokens per text", rich_help_panel=LABELS)] = None,
    seed: Annotated[int, typer.Option(help="seed of the folds", rich_help_panel=LABELS)] = 0,
) -> None:
    """Check every image or text and report, per file or row, what is wrong or unusual."""
    cols = _columns(path_col, label_col, group_col, split_col, text_col, label_from_rating, rating_thresholds)
    model = {"backbone": backbone, "weights": str(weights) if weights else None, "image_size": image_size}
    report = api.audit(
        data, out, labels=labels, folds=folds, max_length=max_length, seed=seed, **model, **cols
    )
    s = report.summary
    out_console.print(
        f"audited {s.get('files', len(report.entries))} {'rows' if text_col else 'files'}: {s.get('ok', 0)} ok, "
        f"{s.get('warning', 0)} warnings, {s.get('error', 0)} errors"
    )
    for e in report.problems()[:20]:
        out_console.print(f"  [{e.status}] {e.path}: {e.reason}", markup=False)
    if len(report.problems()) > 20:
        out_console.print(f"  ... {len(report.problems()) - 20} more in {out / 'audit.md'}")
    leaks = report.summary.get("split_leaks", 0)
    if leaks:
        out_console.print(f"  {leaks} duplicate sets straddle the given split (leaks): see the report")
    if report.label_issues is not None:
        out_console.print(f"likely label issues: {len(report.label_issues)}")
        for d in report.label_issues[:10]:
            out_console.print(
                f"  {d['path']}: given '{d['given']}', suggested '{d['suggested']}' ({d['confidence']:.2f})",
                markup=False,
            )
        out_console.print(f"  list: {out / 'label_issues.json'}")
    out_console.print(f"report: {out / 'audit.md'}  json: {out / 'audit.json'}")
    if strict and report.problems():
        raise typer.Exit(1)


def fit(
    data: Annotated[Path, typer.Argument(help="image folder, CSV manifest, or CSV of texts")],
    out: Annotated[Path, typer.Option(help="run folder (runs/<name>)", rich_help_panel=DATA)],
    task: Annotated[
        str,
        typer.Option(
            help="auto (text-classification with --text-col, else image-classification) | "
            "face-verification (an embedding: --group-col names the person, --label-col the condition)",
            rich_help_panel=DATA,
        ),
    ] = "auto",
    seed: Annotated[int, typer.Option(help="split and training seed", rich_help_panel=DATA)] = 0,
    split_seed: Annotated[
        int | None, typer.Option(help="a different seed for the split only", rich_help_panel=DATA)
    ] = None,
    shots: Annotated[
        int | None,
        typer.Option(help="few-shot: train on K examples per class, drawn with --seed", rich_help_panel=DATA),
    ] = None,
    val_frac: Annotated[float, typer.Option(rich_help_panel=DATA)] = 0.15,
    test_frac: Annotated[float, typer.Option(rich_help_panel=DATA)] = 0.2,
    path_col: PathCol = "path",
    label_col: LabelCol = "label",
    group_col: GroupCol = "group",
    split_col: SplitCol = "split",
    text_col: TextCol = None,
    label_from_rating: FromRating = None,
    rating_thresholds: Thresholds = "2,3",
    max_length: Annotated[
        int | None, typer.Option(help="tokens per text (default: the encoder's limit)", rich_help_panel=TEXT)
    ] = None,
    backbone: Annotated[
        str | None,
        typer.Option(
            help="see `beautytune models` (default tf_efficientnet_lite0; minilm for text); "
            "any timm name with --weights, or a local Hugging Face folder for text",
            rich_help_panel=MODEL,
        ),
    ] = None,
    init: Annotated[str, typer.Option(help="pretrained | random", rich_help_panel=MODEL)] = "pretrained",
    weights: Annotated[
        Path | None, typer.Option(help="backbone weights (.safetensors or .pth)", rich_help_panel=MODEL)
    ] = None,
    image_size: Annotated[
        int | None, typer.Option(help="override the backbone's input size", rich_help_panel=MODEL)
    ] = None,
    faces: Annotated[
        str,
        typer.Option(
            help="face photos: off | crop (the face, with a margin) | align (eyes level, then crop) | "
            "regions (skin patches: forehead, cheeks, nose, chin, pooled by one backbone; "
            "--image-size is each patch's, default half the backbone's); the bundle does the same "
            "at predict time",
            rich_help_panel=DATA,
        ),
    ] = "off",
    face_margin: Annotated[
        float, typer.Option(help="share of the face size added on each side", rich_help_panel=DATA)
    ] = 0.25,
    faces_fallback: Annotated[
        str,
        typer.Option(
            help="a photo failing the capture check (no face, too small, dark, blurred...): "
            "whole (train on it as it is) | skip (leave it out)",
            rich_help_panel=DATA,
        ),
    ] = "whole",
    face_regions: Annotated[
        str,
        typer.Option(
            help="the patches of --faces regions: skin (forehead, cheeks, nose, chin) | makeup "
            "(also the lips and each eye with its lid and brow, where most makeup is)",
            rich_help_panel=DATA,
        ),
    ] = "skin",
    head_hidden: Annotated[
        str, typer.Option(help="MLP head hidden sizes, e.g. 512,256", rich_help_panel=MODEL)
    ] = "",
    head_dropout: Annotated[float, typer.Option(rich_help_panel=MODEL)] = 0.2,
    strategy: Annotated[str, typer.Option(help=_strategy_help(), rich_help_panel=STRATEGY)] = "full",
    time_budget: Annotated[
        str | None, typer.Option(help="training time budget, e.g. 20m", rich_help_panel=TRAINING)
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(help="continue the run in --out from its last checkpoint", rich_help_panel=TRAINING),
    ] = False,
    epochs: Annotated[int, typer.Option(rich_help_panel=TRAINING)] = 10,
    batch_size: Annotated[int, typer.Option(rich_help_panel=TRAINING)] = 32,
    lr: Annotated[
        str,
        typer.Option(
            help="head learning rate, or 'auto': a range test on the training split picks it (see lr-find)",
            rich_help_panel=TRAINING,
        ),
    ] = "1e-3",
    backbone_lr_mult: Annotated[
        float, typer.Option(help="backbone lr = lr x this", rich_help_panel=TRAINING)
    ] = 0.1,
    weight_decay: Annotated[
        float, typer.Option(help="AdamW weight decay (never on norms and biases)", rich_help_panel=TRAINING)
    ] = 0.01,
    warmup_epochs: Annotated[float, typer.Option(rich_help_panel=TRAINING)] = 1.0,
    schedule: Annotated[
        str,
        typer.Option(
            help="cosine | step over --epochs, or budget: cosine to zero over --time-budget",
            rich_help_panel=TRAINING,
        ),
    ] = "cosine",
    label_smoothing: Annotated[float, typer.Option(rich_help_panel=TRAINING)] = 0.1,
    imbalance: Annotated[
        str, typer.Option(help="weighted (loss) | sample (balanced sampler) | none", rich_help_panel=TRAINING)
    ] = "weighted",
    augment: Annotated[
        str, typer.Option(help="images: none | geometric | photometric | strong", rich_help_panel=TRAINING)
    ] = "geometric",
    patience: Annotated[
        int, typer.Option(help="early stopping patience (epochs)", rich_help_panel=TRAINING)
    ] = 4,
    bn: Annotated[
        str,
        typer.Option(
            help="BatchNorm statistics: auto (frozen if pretrained) | frozen | train",
            rich_help_panel=TRAINING,
        ),
    ] = "auto",
    l2_sp: Annotated[
        float,
        typer.Option(
            help="L2-SP: pull the backbone towards its starting weights (0 = off)", rich_help_panel=TRAINING
        ),
    ] = 0.0,
    ema: Annotated[
        float,
        typer.Option(help="EMA of the weights, this decay (e.g. 0.999; 0 = off)", rich_help_panel=TRAINING),
    ] = 0.0,
    mixup: Annotated[
        float,
        typer.Option(
            help="mixup alpha, images (0 = off; mixes colours: not for shade labels)",
            rich_help_panel=TRAINING,
        ),
    ] = 0.0,
    cutmix: Annotated[
        float, typer.Option(help="cutmix alpha, images (0 = off)", rich_help_panel=TRAINING)
    ] = 0.0,
    drop_path: Annotated[
        float,
        typer.Option(
            help="stochastic depth rate of timm backbones that have it (0 = off)", rich_help_panel=TRAINING
        ),
    ] = 0.0,
    adapt_to: Annotated[
        Path | None,
        typer.Option(
            help="unlabelled photos from where the model is used: AdaBN, then self-training, after training",
            rich_help_panel=TRAINING,
        ),
    ] = None,
    self_train_epochs: Annotated[int, typer.Option(help=SELF_TRAIN_HELP, rich_help_panel=TRAINING)] = 2,
    pseudo_threshold: Annotated[float, typer.Option(help=PSEUDO_HELP, rich_help_panel=TRAINING)] = 0.9,
    drop_label_issues: Annotated[
        bool,
        typer.Option(
            help="leave out train/val examples `audit --labels` flags (test stays whole)",
            rich_help_panel=DATA,
        ),
    ] = False,
    calibrate: Annotated[
        bool,
        typer.Option(
            help="temperature scaling fitted on the validation split (labels never change)",
            rich_help_panel=TRAINING,
        ),
    ] = True,
    workers: Annotated[int, typer.Option(help="data loader worker processes", rich_help_panel=HARDWARE)] = 0,
    accelerator: Annotated[str, typer.Option(help="auto | cpu | gpu", rich_help_panel=HARDWARE)] = "auto",
    devices: Annotated[str, typer.Option(help="e.g. auto, 1, 4", rich_help_panel=HARDWARE)] = "auto",
    batch_size_find: Annotated[
        bool,
        typer.Option(
            "--batch-size-find",
            help="GPU: grow the batch from --batch-size to the largest that fits (out-of-memory recovered)",
            rich_help_panel=HARDWARE,
        ),
    ] = False,
    distributed: Annotated[
        str,
        typer.Option(
            help="auto | ddp | fsdp: how --devices share training (one process a device)",
            rich_help_panel=HARDWARE,
        ),
    ] = "auto",
    num_nodes: Annotated[
        int,
        typer.Option(
            help="machines taking part (start them with torchrun or srun)", rich_help_panel=HARDWARE
        ),
    ] = 1,
    precision: Annotated[
        str, typer.Option(help="e.g. 32-true, bf16-mixed", rich_help_panel=HARDWARE)
    ] = "32-true",
    compile: Annotated[
        bool,
        typer.Option(
            "--compile/--no-compile", help="torch.compile the network (GPU)", rich_help_panel=HARDWARE
        ),
    ] = False,
    **strategy_options: Any,
) -> None:
    """Fine-tune a pretrained backbone on DATA; writes RUN/bundle and RUN/report."""
    _print_fit(api.fit(**_fit_arguments(locals())))


_COLUMN_ARGS = (
    "path_col",
    "label_col",
    "group_col",
    "split_col",
    "text_col",
    "label_from_rating",
    "rating_thresholds",
)


def _fit_arguments(args: dict[str, Any]) -> dict[str, Any]:
    """``fit``'s parsed flags as ``api.fit`` keywords (also ``lr-find``'s, which takes them)."""
    a = dict(args)
    a["strategy_options"] = {k: v for k, v in a.pop("strategy_options").items() if v is not None}
    a["head_hidden"] = tuple(int(h) for h in a["head_hidden"].split(",") if h.strip())
    for name in ("weights", "adapt_to"):
        a[name] = str(a[name]) if a.get(name) else None
    a.update(_columns(*(a.pop(k) for k in _COLUMN_ARGS)))
    return a


def _strategy_help() -> str:
    from beautytune.strategies import STRATEGIES

    return "; ".join(f"{name}: {cls.summary}" for name, cls in STRATEGIES.items())


def _with_strategy_options(func: Any) -> Any:
    """Give ``func`` one flag per strategy option, in a help panel named after the strategy.

    The flags come from each strategy's Options dataclass, so a new strategy's options
    appear here without editing the CLI. They default to None ("not given"): only the
    chosen strategy's given options are passed on, and one it does not have is an error.
    """
    import functools
    import inspect

    from beautytune.strategies import STRATEGIES
    from beautytune.strategies.base import option_fields

    sig = inspect.signature(func, eval_str=True)
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    seen = {p.name for p in params}
    for name, cls in STRATEGIES.items():
        for field_name, default, help_text, kind in option_fields(cls.Options):
            if field_name in seen:
                continue
            seen.add(field_name)
            flag = "--" + field_name.replace("_", "-")
            if kind is bool:  # on/off both sayable: the default may be either
                flag = f"{flag}/--no-{flag[2:]}"
            opt = typer.Option(
                flag, help=f"{help_text} (default {default})", rich_help_panel=f"strategy: {name}"
            )
            params.append(
                inspect.Parameter(
                    field_name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=None,
                    annotation=Annotated[kind | None, opt],
                )
            )

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        return func(**kwargs)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {}
    return wrapper


app.command(name="fit")(_with_strategy_options(fit))

#: fit flags that mean nothing to a range test (it trains a copy for a few steps)
_NOT_FOR_LR_FIND = (
    "batch_size_find",
    "distributed",
    "resume",
    "time_budget",
    "adapt_to",
    "self_train_epochs",
    "pseudo_threshold",
    "calibrate",
)


def lr_find(
    min_lr: Annotated[float, typer.Option(help="learning rate of the first step")] = 1e-6,
    max_lr: Annotated[float, typer.Option(help="learning rate of the last step")] = 1.0,
    steps: Annotated[int, typer.Option(help="training steps of the test")] = 100,
    **fit_args: Any,
) -> None:
    """Learning-rate range test on DATA's training split, with fit's settings; writes
    OUT/lr_find.png and OUT/lr_find.json. `fit --lr auto` runs it before training."""
    for name in _NOT_FOR_LR_FIND:
        fit_args.pop(name, None)
    result = api.lr_find(min_lr=min_lr, max_lr=max_lr, steps=steps, **_fit_arguments(fit_args))
    note = " (the loss diverged before --max-lr)" if result.stopped_early else ""
    out_console.print(f"suggested lr {result.suggestion:.3g} over {len(result.lrs)} steps{note}")
    out_console.print(
        f"plot: {Path(fit_args['out']) / 'lr_find.png'}  use: beautytune fit ... --lr {result.suggestion:.3g}"
    )


def _with_fit_options(func: Any, drop: tuple[str, ...]) -> Any:
    """``func``'s own flags, then every ``fit`` flag but ``drop`` (strategy flags come after)."""
    import functools
    import inspect

    own = list(inspect.signature(func, eval_str=True).parameters.values())[:-1]
    fit_params = [
        p
        for p in inspect.signature(fit, eval_str=True).parameters.values()
        if p.name not in drop and p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    names = {p.name for p in own}
    fit_names = {p.name for p in fit_params}

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        mine = {k: kwargs.pop(k) for k in names}
        fit_kw = {k: kwargs.pop(k) for k in fit_names}
        return func(**mine, **fit_kw, strategy_options=kwargs)  # what is left: strategy flags

    params = [*fit_params[:2], *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own)]
    params += [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in fit_params[2:]]
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {}
    return wrapper


app.command(name="lr-find")(_with_strategy_options(_with_fit_options(lr_find, _NOT_FOR_LR_FIND)))


def _seeds(text: str) -> list[int]:
    """'3' -> 0, 1, 2; '0,4,7' -> those."""
    try:
        parts = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BeautytuneError(f"--seeds '{text}': give a count (3) or a list (0,1,2)") from None
    if not parts or (len(parts) == 1 and parts[0] < 1):
        raise BeautytuneError(f"--seeds '{text}': give a count (3) or a list (0,1,2)")
    return list(range(parts[0])) if len(parts) == 1 else parts


def compare(
    strategies: Annotated[
        str, typer.Option(help="comma-separated strategies, each run with the same settings")
    ] = "features,head,full",
    seeds: Annotated[str, typer.Option(help="a count (3: seeds 0, 1, 2) or a list (0,4,7)")] = "3",
    split_seed: Annotated[
        int | None, typer.Option(help="seed of the one grouped split every run shares")
    ] = 0,
    shots_list: Annotated[
        str,
        typer.Option("--shots", help="few-shot curve: e.g. 1,5,10,20 examples per class, each seed one draw"),
    ] = "",
    **fit_args: Any,
) -> None:
    """Leaderboard of strategies x seeds on one grouped split, same budget per run (--time-budget);
    writes OUT/<strategy>-s<seed>/ and OUT/leaderboard.{md,json,png}. Finished runs are reused."""
    from beautytune.evaluate.leaderboard import table_rows

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    try:
        shots = [int(k) for k in shots_list.split(",") if k.strip()] or None
    except ValueError:
        raise BeautytuneError(f"--shots '{shots_list}': give counts per class, e.g. 1,5,10,20") from None
    board = api.compare(
        strategies=names, seeds=_seeds(seeds), split_seed=split_seed, shots=shots, **_fit_arguments(fit_args)
    )
    head, rows = table_rows(board)
    table = Table(*head, title="leaderboard (test split)")
    for r in rows:
        table.add_row(*r)
    out_console.print(table)
    out_console.print(f"leaderboard: {Path(fit_args['out']) / 'leaderboard.md'}")
    if shots:
        out_console.print(f"few-shot curve: {Path(fit_args['out']) / 'shots.png'}")


def _names(text: str) -> list[str] | None:
    return [v.strip() for v in text.split(",") if v.strip()] or None


def auto(
    time_budget: Annotated[
        str, typer.Option(help="wall clock for everything (audit, trials, reports), e.g. 15m")
    ],
    backbones: Annotated[
        str, typer.Option(help="comma-separated backbones to choose from (default: the offline ones)")
    ] = "",
    strategies: Annotated[str, typer.Option(help="comma-separated strategies to choose from")] = "",
    image_sizes: Annotated[str, typer.Option(help="input sizes to choose from, e.g. 128,192")] = "",
    max_trials: Annotated[int | None, typer.Option(help="stop after this many trials")] = None,
    soup: Annotated[
        bool,
        typer.Option(
            help="then average the best compatible trials' weights (greedy soup) if validation gains"
        ),
    ] = False,
    **fit_args: Any,
) -> None:
    """Choose backbone, strategy, learning rate and input size within a time budget (Optuna,
    Hyperband pruning); RUN/bundle and RUN/report as from fit, plus RUN/leaderboard.{md,json}."""
    from beautytune.evaluate.leaderboard import aggregate, table_rows

    try:
        sizes = [int(v) for v in _names(image_sizes) or []] or None
    except ValueError:
        raise BeautytuneError(f"--image-sizes '{image_sizes}': give sizes such as 128,192") from None
    result = api.auto(
        time_budget=time_budget,
        backbones=_names(backbones),
        strategies=_names(strategies),
        image_sizes=sizes,
        max_trials=max_trials,
        soup=soup,
        **_fit_arguments(fit_args),
    )
    import json as _json

    rows = _json.loads((result.run_dir / "leaderboard.json").read_text())["runs"]
    head, cells = table_rows(aggregate(rows, "val_macro_f1"))
    table = Table(*head, title="trials (chosen on validation; test macro-F1 reported)")
    for r in cells:
        table.add_row(*r)
    out_console.print(table)
    m = result.metrics
    chosen = (
        f"greedy soup of {', '.join(result.soup)}"
        if result.soup
        else f"trial {result.best.number} ({', '.join(f'{k}={v}' for k, v in result.best.params.items())})"
        + (", refitted on train + val" if result.refit else "")
    )
    out_console.print(
        f"chosen: {chosen}; test macro-F1 {m['macro_f1']:.3f}; {len(result.trials)} trials in {result.wall_time_s:.0f}s "
        f"of {result.budget_s:.0f}s"
    )
    out_console.print(f"bundle: {result.bundle}")
    out_console.print(f"report: {result.report}")


_CHOSEN_BY_AUTO = (
    "resume",
    "strategy",
    "backbone",
    "lr",
    "image_size",
    "max_length",
    "time_budget",
    "adapt_to",
    "self_train_epochs",
    "pseudo_threshold",
    "shots",
)
app.command(name="auto")(_with_fit_options(auto, _CHOSEN_BY_AUTO))


app.command(name="compare")(
    _with_strategy_options(_with_fit_options(compare, ("resume", "strategy", "seed", "split_seed", "shots")))
)


def _print_fit(result: Any, name: str = "") -> None:
    m = result.metrics
    out_console.print(
        f"{name}test macro-F1 {m['macro_f1']:.3f}  accuracy {m['accuracy']:.3f}  "
        f"balanced accuracy {m['balanced_accuracy']:.3f}  (wall {result.wall_time_s:.0f}s)"
    )
    if result.skipped:
        out_console.print(f"{name}skipped {len(result.skipped)} unusable files (listed in the report)")
    out_console.print(f"bundle: {result.bundle}")
    out_console.print(f"report: {result.report}")


@app.command()
def evaluate(
    bundle: Annotated[Path, typer.Argument(help="bundle folder (RUN/bundle)")],
    data: Annotated[Path, typer.Argument(help="image folder or CSV manifest")],
    out: Annotated[Path, typer.Option(help="folder for metrics.json and index.html")] = Path("evaluation"),
    split: Annotated[str | None, typer.Option(help="only rows of this split (train/val/test)")] = None,
    tta: Annotated[
        str, typer.Option(help="test-time augmentation, images: none | flip (x2 cost) | crops (x6 cost)")
    ] = "none",
    path_col: PathCol = "path",
    label_col: LabelCol = "label",
    group_col: GroupCol = "group",
    split_col: SplitCol = "split",
    text_col: Annotated[
        str, typer.Option(help="CSV column holding texts (text bundles)", rich_help_panel=TEXT)
    ] = "text",
    label_from_rating: FromRating = None,
    rating_thresholds: Thresholds = "2,3",
    faces: FacesOverride = None,
) -> None:
    """Evaluate a bundle on labelled images or texts; writes metrics.json and an HTML report."""
    cols = _columns(path_col, label_col, group_col, split_col, text_col, label_from_rating, rating_thresholds)
    m = api.evaluate(bundle, data, out, split=split, tta=tta, faces=faces, **cols)
    if m.get("task") == "face-verification":
        c = m["cross"]
        out_console.print(
            f"cross-condition pairs: TAR {c.get('tar@far0.01')} at FAR 1%, {c.get('tar@far0.001')} at "
            f"FAR 0.1%, AUC {c.get('auc')}  ({m['photos']} photos of {m['people']} people)"
        )
    else:
        out_console.print(
            f"macro-F1 {m['macro_f1']:.3f}  accuracy {m['accuracy']:.3f}  "
            f"balanced accuracy {m['balanced_accuracy']:.3f}  on {m['n']} examples"
            f"  ({m['predict_seconds']:.1f} s to predict, tta {m['tta']})"
        )
    out_console.print(f"report: {out / 'index.html'}")


@app.command()
def adapt(
    bundle: Annotated[Path, typer.Argument(help="bundle folder (RUN/bundle) of an image model")],
    target: Annotated[Path, typer.Argument(help="folder of unlabelled photos from where the model is used")],
    out: Annotated[Path, typer.Option(help="folder for the adapted bundle and adapt.json")] = Path("adapted"),
    eval_data: Annotated[
        Path | None,
        typer.Option("--eval", help="labelled photos of the target setting: evaluate before and after"),
    ] = None,
    split: Annotated[str | None, typer.Option(help="only this split of --eval (train/val/test)")] = None,
    self_train_epochs: SelfTrainEpochs = 2,
    pseudo_threshold: PseudoThreshold = 0.9,
    lr: Annotated[float, typer.Option(help="self-training learning rate (the backbone's is a tenth)")] = 1e-4,
    source: Annotated[
        Path | None,
        typer.Option(
            help="the training data (folder or manifest), for a bundle without its photos' statistics"
        ),
    ] = None,
    path_col: PathCol = "path",
    label_col: LabelCol = "label",
    group_col: GroupCol = "group",
    split_col: SplitCol = "split",
) -> None:
    """Adapt an image bundle to a new setting: AdaBN (BatchNorm statistics from its photos),
    then self-training on the photos it labels confidently."""
    from beautytune.train.self_training import describe_adaptation

    cols = _columns(path_col, label_col, group_col, split_col)
    r = api.adapt(
        bundle,
        target,
        out,
        eval_data=eval_data,
        split=split,
        self_train_epochs=self_train_epochs,
        pseudo_threshold=pseudo_threshold,
        lr=lr,
        source=source,
        **cols,
    )
    out_console.print(describe_adaptation(r["adaptation"]))
    if "before" in r:
        out_console.print(
            f"macro-F1 on {eval_data}: {r['before']['macro_f1']:.3f} before, {r['after']['macro_f1']:.3f} after"
        )
    out_console.print(f"bundle: {r['adapted_bundle']}")


@app.command()
def robustness(
    bundle: Annotated[Path, typer.Argument(help="bundle folder (RUN/bundle) of an image model")],
    data: Annotated[Path, typer.Argument(help="labelled image folder or CSV manifest")],
    out: Annotated[Path, typer.Option(help="folder for robustness.json and robustness.png")] = Path(
        "robustness"
    ),
    split: Annotated[str | None, typer.Option(help="only rows of this split (train/val/test)")] = None,
    shift: Annotated[
        list[str] | None,
        typer.Option(
            help="a shift to apply (repeatable; default all): lighting, white balance, JPEG quality, "
            "resolution, blur, crop"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the perturbations' random parts")] = 0,
    path_col: PathCol = "path",
    label_col: LabelCol = "label",
    group_col: GroupCol = "group",
    split_col: SplitCol = "split",
) -> None:
    """Score a bundle under seeded photo shifts at five severities; writes JSON and a plot."""
    cols = _columns(path_col, label_col, group_col, split_col)
    r = api.robustness(bundle, data, out, split=split, shifts=shift, seed=seed, **cols)
    out_console.print(f"clean macro-F1 {r['clean']['macro_f1']:.3f} on {r['n']} images")
    for name, by_sev in r["shifts"].items():
        scores = "  ".join(f"{by_sev[s]['macro_f1']:.3f}" for s in sorted(by_sev))
        out_console.print(f"{name:14} severity 1-5: {scores}")
    out_console.print(f"plot: {out / 'robustness.png'}")


@app.command()
def predict(
    bundle: Annotated[Path, typer.Argument(help="bundle folder")],
    paths: Annotated[
        list[Path] | None, typer.Argument(help="images and/or folders; or one CSV of texts with --text-col")
    ] = None,
    text: Annotated[list[str] | None, typer.Option("--text", help="a text to classify (repeatable)")] = None,
    text_col: Annotated[str | None, typer.Option(help="predict this column of the CSV given")] = None,
    top_k: Annotated[int, typer.Option(help="how many classes to show per input")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per input on stdout")] = False,
    batch_size: int = 32,
    tta: Annotated[
        str, typer.Option(help="test-time augmentation, images: none | flip (x2 cost) | crops (x6 cost)")
    ] = "none",
    faces: FacesOverride = None,
) -> None:
    """Predict classes for images or texts; unusable inputs are reported one by one."""
    paths = paths or []
    if text_col is not None:
        if len(paths) != 1:
            raise BeautytuneError("--text-col needs exactly one CSV file")
        results = api.predict_csv(bundle, paths[0], text_col, top_k=top_k, batch_size=batch_size)
    elif text:
        results = api.predict(bundle, list(text), top_k=top_k, batch_size=batch_size, tta=tta)
    elif paths:
        results = api.predict(
            bundle, [str(p) for p in paths], top_k=top_k, batch_size=batch_size, tta=tta, faces=faces
        )
    else:
        raise BeautytuneError(
            "nothing to predict: give images or folders, --text TEXT, or FILE.csv --text-col COLUMN"
        )
    for r in results:
        name = r.get("path") or (f"row {r['row']}" if "row" in r else _short(r.get("text", "")))
        if as_json:
            sys.stdout.write(json.dumps(r) + "\n")
        elif "error" in r:
            err_console.print(f"{name}: error: {r['error']}", markup=False)
        else:
            tops = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in r["top_k"])
            out_console.print(f"{name}: {tops}", markup=False)
    if results and all("error" in r for r in results):
        raise typer.Exit(1)


@app.command("face")
def face_command(
    photos: Annotated[list[Path], typer.Argument(help="face photos and/or folders")],
    bundle: Annotated[
        Path | None, typer.Option(help="an image bundle to predict with (without: quality and tone only)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON object per photo, in input order")
    ] = False,
    overlay: Annotated[
        Path | None, typer.Option(help="write an annotated PNG of each photo into this folder")
    ] = None,
) -> None:
    """Face photos: capture quality, skin tone, prediction (per region for --faces regions)."""
    results = api.face(list(photos), bundle, overlay)
    for r in results:
        if as_json:
            sys.stdout.write(json.dumps(r) + "\n")
        elif "error" in r:
            err_console.print(f"{r['path']}: error: {r['error']}", markup=False)
        else:
            out_console.print(_face_line(r), markup=False)
    if all("error" in r for r in results):
        raise typer.Exit(1)


@app.command()
def verify(
    a: Annotated[Path, typer.Argument(help="a face photo")],
    b: Annotated[Path, typer.Argument(help="another face photo")],
    bundle: Annotated[Path, typer.Option(help="a face-verification bundle (fit --task face-verification)")],
    as_json: Annotated[bool, typer.Option("--json", help="the verdict as one JSON object")] = False,
) -> None:
    """Are two photos the same person? The embeddings' cosine against the bundle's threshold."""
    r = api.verify(a, b, bundle)
    if as_json:
        sys.stdout.write(json.dumps(r) + "\n")
        return
    verdict = {True: "same person", False: "different people", None: "no threshold in the bundle"}
    out_console.print(
        f"{verdict[r['same_person']]}: cosine {r['score']:.3f} (threshold {r['threshold']})", markup=False
    )


def _face_line(r: dict[str, Any]) -> str:
    parts = [r["path"] + ":"]
    pred = r.get("prediction")
    if pred is not None:
        parts.append(
            f"error: {pred['error']}" if "error" in pred else f"{pred['label']} {pred['confidence']:.3f}"
        )
    if r.get("regions"):
        parts.append("(" + ", ".join(f"{n} {v['label']}" for n, v in r["regions"].items()) + ")")
    tone = r.get("tone")
    parts.append(f"tone {tone['category']} (ITA {tone['ita']:.0f})" if tone else "tone unknown")
    q = r["quality"]
    parts.append("capture ok" if q["ok"] else "capture: " + "; ".join(q["issues"]))
    if r.get("overlay"):
        parts.append(f"-> {r['overlay']}")
    return " ".join(parts)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@app.command()
def export(
    bundle: Annotated[Path, typer.Argument(help="bundle folder")],
    onnx: Annotated[bool, typer.Option("--onnx", help="write model.onnx")] = True,
    out: Annotated[Path | None, typer.Option(help="ONNX file (default BUNDLE/model.onnx)")] = None,
    int8: Annotated[
        bool,
        typer.Option(
            "--int8",
            help="also write model.int8.onnx: static int8 (QDQ: weights and activations, ranges "
            "calibrated on the --examples; 7-bit weights, which CPUs without VNNI need), head and "
            "softmax kept fp32; prints its size and its distance from fp32. Dynamic int8 is not offered: ORT runs its ConvInteger x12 slower "
            "than fp32. Check the accuracy before serving it (benchmarks/onnx_serving.py)",
        ),
    ] = False,
    examples: Annotated[
        Path | None,
        typer.Option(
            help="a folder of inputs (32 of them, spread over its sub-folders) for the parity check "
            "and int8 calibration; "
            "default: random ones, which calibrate int8 badly"
        ),
    ] = None,
) -> None:
    """Export a bundle to ONNX (dynamic batch axis) and check parity against PyTorch."""
    items = _export_examples(bundle, examples) if examples else None
    result = api.export(bundle, out, items, int8=int8)
    out_console.print(
        f"wrote {result.path}; parity max abs diff {result.max_abs_diff:.2e} on {result.n_samples} inputs"
    )
    q = result.int8
    if q is not None:  # int8 is approximate: its distance from fp32 is reported, never failed on
        out_console.print(
            f"wrote {q.path} ({q.method} int8, {q.size_bytes / 1e6:.1f} MB, fp32 {q.fp32_size_bytes / 1e6:.1f} MB); "
            f"vs fp32: max abs diff {q.max_abs_diff:.2e}, top-1 agreement {q.top1_agreement:.0%} "
            f"on {result.n_samples} inputs",
            markup=False,
        )
    if result.max_abs_diff >= 1e-4:
        err_console.print("error: ONNX output differs from PyTorch by more than 1e-4")
        raise typer.Exit(1)


def _export_examples(bundle: Path, folder: Path, limit: int = 32) -> list[Any]:
    from beautytune.inference.bundle import load_bundle

    found = load_bundle(bundle).task.expand_inputs([str(folder)])
    items = found[:: max(1, len(found) // limit)][:limit]  # spread over sub-folders (classes)
    if not items:
        raise BeautytuneError(f"--examples {folder}: no inputs found there")
    return items


@app.command()
def insights(
    reviews: Annotated[Path, typer.Argument(help="CSV of reviews")],
    bundle: Annotated[Path, typer.Option(help="a text-classification bundle (sentiment)")],
    out: Annotated[Path, typer.Option(help="folder for index.html, insights.json and charts")] = Path(
        "insights"
    ),
    text_col: Annotated[str, typer.Option(help="column holding review texts")] = "text",
    product_col: Annotated[str, typer.Option(help="column identifying the product")] = "product_id",
    product_name_col: Annotated[
        str, typer.Option(help="column with a readable product name")
    ] = "product_name",
    skin_type_col: Annotated[
        str, typer.Option(help="column with the reviewer's skin type (if any)")
    ] = "skin_type",
    top_products: Annotated[int, typer.Option(help="most-reviewed products to report (0: all)")] = 5,
    aspects: Annotated[Path | None, typer.Option(help="JSON file of aspects: name -> descriptions")] = None,
) -> None:
    """What customers talk about, and how they feel about it: per product, skin type and aspect."""
    result = api.insights(
        reviews,
        bundle,
        out,
        text_col=text_col,
        product_col=product_col,
        product_name_col=product_name_col,
        skin_type_col=skin_type_col,
        top_products=top_products or None,
        aspects=aspects,
    )
    out_console.print(
        f"{result.n_reviews} reviews, {result.n_sentences} sentences, {len(result.products)} products"
    )
    out_console.print(f"report: {result.html_path}  json: {result.json_path}")


@app.command()
def bench(
    out: Annotated[Path, typer.Option(help="new folder for bench.json and bench.md")] = Path("runs/bench"),
    device: Annotated[str, typer.Option(help="cpu | cuda")] = "cpu",
    backbone: Annotated[
        str, typer.Option(help="the model both sides train and run")
    ] = "tf_efficientnet_lite0",
    image_size: Annotated[int | None, typer.Option(help="input pixels (default: the backbone's)")] = None,
    photos_per_class: Annotated[
        int, typer.Option(help="generated JPEG photos per product type (9 types)")
    ] = 16,
    photo_side: Annotated[int, typer.Option(help="pixels of the generated photos")] = 640,
    batch_size: int = 16,
    epochs: Annotated[int, typer.Option(help="training epochs a side (the first fills the caches)")] = 3,
    busy: Annotated[
        bool, typer.Option("--busy/--no-busy", help="also measure beside a CPU-bound job")
    ] = True,
    onnx: Annotated[bool, typer.Option("--onnx/--no-onnx", help="also measure ONNX Runtime")] = True,
) -> None:
    """Measure this machine: beautytune against a plain timm + ImageFolder loop, side by side."""
    from beautytune.bench import BenchOptions, run_bench

    if device not in ("cpu", "cuda"):
        raise BeautytuneError(f"--device {device}: use cpu or cuda")
    opts = BenchOptions(
        out,
        device,
        backbone,
        image_size,
        photos_per_class,
        photo_side,
        batch=batch_size,
        epochs=epochs,
        busy=busy,
        onnx=onnx,
    )
    run_bench(opts, say=lambda line: err_console.print(line, highlight=False, markup=False))
    out_console.print((out / "bench.md").read_text(), markup=False, highlight=False)
    out_console.print(f"wrote {out / 'bench.json'} and {out / 'bench.md'}")


@app.command()
def models() -> None:
    """List backbones: parameters, input size, whether weights are installed."""
    table = Table("task", "params (M)", "input", Column("weights", no_wrap=True), "notes")
    table.columns.insert(0, Column("backbone", no_wrap=True))
    for r in api.models():
        table.add_row(
            r["name"],
            str(r["task"]).split("-")[0],
            f"{r['params_m']:.1f}",
            str(r["input_size"]),
            r["weights"],
            r["description"],
        )
    out_console.print(table)
    out_console.print(
        "Any timm architecture also works with --weights PATH (random init without); "
        "any local Hugging Face model folder works as a text --backbone."
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="where data and runs go")] = Path("runs/demo"),
    n_per_class: Annotated[int, typer.Option(help="synthetic images per product type")] = 80,
    seed: int = 0,
    epochs: int = 8,
) -> None:
    """Generate product photos, fine-tune pretrained vs random init, and show the report."""
    result = api.demo(out, n_per_class=n_per_class, seed=seed, epochs=epochs)
    _print_fit(result["random_init"], "random init:  ")
    _print_fit(result["pretrained"], "pretrained:   ")
    out_console.print(f"open the report: {result['pretrained'].report}")


def main() -> None:
    """Entry point: one clear error line and a non-zero exit; tracebacks only with --debug."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        from beautytune.runtime import configure_threads

        configure_threads()  # predict, serve and the rest share the machine politely too
        app()
    except BeautytuneError as e:
        if debug:
            raise
        err_console.print(f"error: {e}", markup=False, highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted: continue with `beautytune fit ... --resume`", highlight=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
