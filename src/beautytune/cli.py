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

Columns = dict[str, Any]
PathCol = Annotated[str, typer.Option(help="manifest column holding image paths")]
LabelCol = Annotated[str, typer.Option(help="manifest column holding labels")]
GroupCol = Annotated[str, typer.Option(help="manifest column holding groups (brand, person)")]
SplitCol = Annotated[str, typer.Option(help="manifest column holding a train/val/test split")]


def _columns(path_col: str, label_col: str, group_col: str, split_col: str) -> Columns:
    return {"path_col": path_col, "label_col": label_col, "group_col": group_col, "split_col": split_col}


@app.command()
def audit(
    data: Annotated[Path, typer.Argument(help="image folder or CSV manifest")],
    out: Annotated[Path, typer.Option(help="folder for audit.json and audit.md")] = Path("audit"),
    strict: Annotated[bool, typer.Option(help="exit 1 when any file has a problem")] = False,
    path_col: PathCol = "path",
    label_col: LabelCol = "label",
    group_col: GroupCol = "group",
    split_col: SplitCol = "split",
) -> None:
    """Decode every image and report, per file, what is wrong or unusual."""
    report = api.audit(data, out, **_columns(path_col, label_col, group_col, split_col))
    s = report.summary
    out_console.print(
        f"audited {s.get('files', len(report.entries))} files: {s.get('ok', 0)} ok, "
        f"{s.get('warning', 0)} warnings, {s.get('error', 0)} errors"
    )
    for e in report.problems()[:20]:
        out_console.print(f"  [{e.status}] {e.path}: {e.reason}", markup=False)
    if len(report.problems()) > 20:
        out_console.print(f"  ... {len(report.problems()) - 20} more in {out / 'audit.md'}")
    out_console.print(f"report: {out / 'audit.md'}  json: {out / 'audit.json'}")
    if strict and report.problems():
        raise typer.Exit(1)


@app.command()
def fit(
    data: Annotated[Path, typer.Argument(help="image folder or CSV manifest")],
    out: Annotated[Path, typer.Option(help="run folder (runs/<name>)")],
    backbone: Annotated[
        str, typer.Option(help="see `beautytune models`; any timm name with --weights")
    ] = "tf_efficientnet_lite0",
    strategy: Annotated[str, typer.Option(help="features | head | partial | full")] = "full",
    init: Annotated[str, typer.Option(help="pretrained | random")] = "pretrained",
    weights: Annotated[Path | None, typer.Option(help="backbone weights (.safetensors or .pth)")] = None,
    time_budget: Annotated[str | None, typer.Option(help="training time budget, e.g. 20m")] = None,
    seed: int = 0,
    resume: Annotated[bool, typer.Option(help="continue the run in --out from its last checkpoint")] = False,
    epochs: int = 10,
    batch_size: int = 32,
    lr: Annotated[float, typer.Option(help="head learning rate")] = 1e-3,
    backbone_lr_mult: Annotated[float, typer.Option(help="backbone lr = lr x this")] = 0.1,
    weight_decay: float = 0.01,
    warmup_epochs: float = 1.0,
    schedule: Annotated[str, typer.Option(help="cosine | step")] = "cosine",
    label_smoothing: float = 0.1,
    imbalance: Annotated[
        str, typer.Option(help="weighted (loss) | sample (balanced sampler) | none")
    ] = "weighted",
    augment: Annotated[str, typer.Option(help="none | geometric | photometric | strong")] = "geometric",
    patience: Annotated[int, typer.Option(help="early stopping patience (epochs)")] = 4,
    unfreeze_blocks: Annotated[int, typer.Option(help="partial: layer groups to unfreeze")] = 2,
    bn: Annotated[
        str, typer.Option(help="BatchNorm statistics: auto (frozen if pretrained) | frozen | train")
    ] = "auto",
    image_size: Annotated[int | None, typer.Option(help="override the backbone's input size")] = None,
    head_hidden: Annotated[str, typer.Option(help="MLP head hidden sizes, e.g. 512,256")] = "",
    head_dropout: float = 0.2,
    classifier: Annotated[str, typer.Option(help="features: logreg | svm")] = "logreg",
    c: Annotated[float, typer.Option("--C", help="features: inverse regularisation")] = 0.5,
    val_frac: float = 0.15,
    test_frac: float = 0.2,
    workers: Annotated[int, typer.Option(help="data loader worker processes")] = 0,
    accelerator: Annotated[str, typer.Option(help="Lightning accelerator: auto | cpu | gpu")] = "auto",
    devices: Annotated[str, typer.Option(help="Lightning devices, e.g. auto, 1, 4")] = "auto",
    precision: Annotated[str, typer.Option(help="Lightning precision, e.g. 32-true, bf16-mixed")] = "32-true",
    path_col: PathCol = "path",
    label_col: LabelCol = "label",
    group_col: GroupCol = "group",
    split_col: SplitCol = "split",
) -> None:
    """Fine-tune a pretrained backbone on DATA; writes RUN/bundle and RUN/report."""
    hidden = tuple(int(h) for h in head_hidden.split(",") if h.strip())
    result = api.fit(
        data,
        out,
        resume=resume,
        time_budget=time_budget,
        backbone=backbone,
        strategy=strategy,
        init=init,
        weights=str(weights) if weights else None,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        backbone_lr_mult=backbone_lr_mult,
        weight_decay=weight_decay,
        warmup_epochs=warmup_epochs,
        schedule=schedule,
        label_smoothing=label_smoothing,
        imbalance=imbalance,
        augment=augment,
        patience=patience,
        unfreeze_blocks=unfreeze_blocks,
        bn=bn,
        image_size=image_size,
        head_hidden=hidden,
        head_dropout=head_dropout,
        classifier=classifier,
        C=c,
        val_frac=val_frac,
        test_frac=test_frac,
        workers=workers,
        accelerator=accelerator,
        devices=devices,
        precision=precision,
        **_columns(path_col, label_col, group_col, split_col),
    )
    _print_fit(result)


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
    path_col: PathCol = "path",
    label_col: LabelCol = "label",
    group_col: GroupCol = "group",
    split_col: SplitCol = "split",
) -> None:
    """Evaluate a bundle on labelled images; writes metrics.json and an HTML report."""
    m = api.evaluate(bundle, data, out, split=split, **_columns(path_col, label_col, group_col, split_col))
    out_console.print(
        f"macro-F1 {m['macro_f1']:.3f}  accuracy {m['accuracy']:.3f}  "
        f"balanced accuracy {m['balanced_accuracy']:.3f}  on {m['n']} images"
    )
    out_console.print(f"report: {out / 'index.html'}")


@app.command()
def predict(
    bundle: Annotated[Path, typer.Argument(help="bundle folder")],
    paths: Annotated[list[Path], typer.Argument(help="images and/or folders")],
    top_k: Annotated[int, typer.Option(help="how many classes to show per image")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per input on stdout")] = False,
    batch_size: int = 32,
) -> None:
    """Predict classes for images; unreadable files are reported per file."""
    results = api.predict(bundle, [str(p) for p in paths], top_k=top_k, batch_size=batch_size)
    for r in results:
        if as_json:
            sys.stdout.write(json.dumps(r) + "\n")
        elif "error" in r:
            err_console.print(f"{r['path']}: error: {r['error']}", markup=False)
        else:
            tops = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in r["top_k"])
            out_console.print(f"{r['path']}: {tops}", markup=False)
    if results and all("error" in r for r in results):
        raise typer.Exit(1)


@app.command()
def export(
    bundle: Annotated[Path, typer.Argument(help="bundle folder")],
    onnx: Annotated[bool, typer.Option("--onnx", help="write model.onnx")] = True,
    out: Annotated[Path | None, typer.Option(help="ONNX file (default BUNDLE/model.onnx)")] = None,
) -> None:
    """Export a bundle to ONNX and check parity against PyTorch."""
    result = api.export(bundle, out)
    out_console.print(
        f"wrote {result.path}; parity max abs diff {result.max_abs_diff:.2e} on {result.n_samples} inputs"
    )
    if result.max_abs_diff >= 1e-4:
        err_console.print("error: ONNX output differs from PyTorch by more than 1e-4")
        raise typer.Exit(1)


@app.command()
def models() -> None:
    """List backbones: parameters, input size, whether weights are installed."""
    table = Table("params (M)", "input", "weights", "notes")
    table.columns.insert(0, Column("backbone", no_wrap=True))
    for r in api.models():
        table.add_row(r["name"], f"{r['params_m']:.1f}", str(r["input_size"]), r["weights"], r["description"])
    out_console.print(table)
    out_console.print("Any timm architecture also works with --weights PATH (random init without).")


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
