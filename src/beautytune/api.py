"""The Python API. Every CLI command is one call here."""

from __future__ import annotations

import shutil
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from beautytune.auto import AutoResult
from beautytune.config import RunConfig, parse_duration
from beautytune.data.audit import AuditReport
from beautytune.errors import BeautytuneError, DataError
from beautytune.inference.bundle import Bundle, load_bundle
from beautytune.inference.export import ExportResult, export_onnx
from beautytune.inference.predictor import Predictor
from beautytune.io import write_json_atomic
from beautytune.runtime import inference_device
from beautytune.strategies import strategy_class
from beautytune.tasks import task_for
from beautytune.train.lr_find import LrFindResult
from beautytune.train.pipeline import FitResult, find_learning_rate
from beautytune.train.pipeline import fit as _fit

_RUN_FIELDS = {f.name for f in fields(RunConfig)}


def run_config(data: str | Path, out: str | Path, **options: Any) -> RunConfig:
    """A RunConfig from keyword options; the chosen strategy's own options may be given flat."""
    strategy = options.get("strategy", "full")
    strategy_options = dict(options.pop("strategy_options", None) or {})
    for name in list(options):
        if name not in _RUN_FIELDS:
            strategy_options[name] = options.pop(name)
    if "time_budget" in options:
        options["time_budget"] = parse_duration(options["time_budget"])
    if options.get("lr") == "auto":  # a range test picks it; ratios between groups hold
        options["lr"], options["lr_find"] = RunConfig.lr, True
    elif isinstance(options.get("lr"), str):
        options["lr"] = parse_lr(options["lr"])
    strategy_class(strategy)  # an unknown strategy is named before its options are judged
    return RunConfig(data=str(data), out=str(out), strategy_options=strategy_options, **options)


def parse_lr(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise BeautytuneError(f"--lr '{text}': give a number such as 1e-3, or 'auto'") from None


def lr_find(
    data: str | Path,
    out: str | Path,
    *,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    steps: int = 100,
    **options: Any,
) -> LrFindResult:
    """Learning-rate range test of a ``fit`` with ``options`` on its training split; writes
    ``out/lr_find.json`` and ``out/lr_find.png`` (the suggestion is ``result.suggestion``)."""
    return find_learning_rate(run_config(data, out, **options), min_lr, max_lr, steps)


def audit(
    data: str | Path, out: str | Path, *, labels: bool = False, folds: int = 5, **options: Any
) -> AuditReport:
    """Check every example of ``data`` and write ``out/audit.json`` and ``out/audit.md``.

    ``labels``: also list likely mislabelled examples (out-of-fold probabilities on frozen
    features of ``options``' backbone, grouped folds, cleanlab) with a gallery.
    """
    cfg = run_config(data, out, **options)
    task = task_for(cfg)
    if labels:
        task.check_backbone(cfg)
    report = task.audit(task.read(data, cfg), cfg, progress=True)
    if labels:
        from beautytune.data.split import merge_duplicate_groups
        from beautytune.evaluate.label_issues import label_issues

        usable = merge_duplicate_groups(report.usable(), report.duplicates)
        report.label_issues = label_issues(task, cfg, usable, folds, interactive=sys.stderr.isatty())
    report.write(Path(out))
    return report


def fit(
    data: str | Path,
    out: str | Path,
    *,
    resume: bool = False,
    comparisons: list[dict[str, Any]] | None = None,
    baselines: bool = True,
    **options: Any,
) -> FitResult:
    """Fine-tune a backbone on ``data``; see :class:`RunConfig` and each strategy's options."""
    cfg = run_config(data, out, **options)
    from beautytune.evaluate.baselines import split_baselines

    return _fit(cfg, resume=resume, comparisons=comparisons, baselines=split_baselines if baselines else None)


def auto(
    data: str | Path,
    out: str | Path,
    *,
    time_budget: str | float,
    backbones: list[str] | None = None,
    strategies: list[str] | None = None,
    image_sizes: list[int] | None = None,
    max_trials: int | None = None,
    soup: bool = False,
    **options: Any,
) -> AutoResult:
    """Search backbone, strategy, learning rate and input size with Optuna within
    ``time_budget`` (wall clock, audit and reports included); see :mod:`beautytune.auto`."""
    from beautytune.auto import auto as _auto

    budget = parse_duration(time_budget)
    if budget is None or budget <= 0:
        raise BeautytuneError("auto needs a --time-budget, e.g. 15m")
    cfg = run_config(data, out, **options)
    return _auto(
        cfg,
        budget,
        backbones=backbones,
        strategies=strategies,
        image_sizes=image_sizes,
        max_trials=max_trials,
        soup=soup,
    )


#: settings a finished run may differ in and still count for a comparison
_SAME_RUN_IGNORES = ("out", "lr", "lr_find", "versions")


def compare(
    data: str | Path,
    out: str | Path,
    *,
    strategies: list[str],
    seeds: list[int],
    split_seed: int | None = 0,
    shots: list[int] | None = None,
    title: str | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Every strategy x seed as one ``fit`` on the same grouped split (``split_seed``; None:
    each seed its own split) with the same settings and budget; ``out/<strategy>-s<seed>``
    run folders plus ``out/leaderboard.{json,md,png}``. Returns the leaderboard, best first.

    A run whose bundle already exists with the same settings is read back, not redone; one
    interrupted before its bundle is resumed; one made with other settings is refused.
    With ``shots`` every strategy also runs at each K examples per class (the seeds are then
    K-shot draws from the same training split), and ``out/shots.png`` draws macro-F1 by K.
    """
    from beautytune.evaluate.leaderboard import run_row, write_leaderboard

    classes = {s: strategy_class(s) for s in strategies}  # every name checked before any run
    given = dict(options.pop("strategy_options", None) or {})
    given.update({k: options.pop(k) for k in list(options) if k not in _RUN_FIELDS})
    own = {s: {f.name for f in fields(c.Options)} for s, c in classes.items()}
    unused = sorted(set(given) - set().union(*own.values()))
    if unused:
        raise BeautytuneError(f"no strategy compared has option {', '.join(unused)}")
    out = Path(out)
    plan = []  # (run name, shots, seed, config): every run validated before the first starts
    for strategy in strategies:
        mine = {k: v for k, v in given.items() if k in own[strategy]}  # each strategy its own
        ks: list[int | None] = list(shots) if shots else [None]
        for k in ks:
            name = strategy if k is None else f"{strategy} k={k}"
            for seed in seeds:
                run_dir = out / (f"{strategy}-s{seed}" if k is None else f"{strategy}-k{k}-s{seed}")
                cfg = run_config(
                    data,
                    run_dir,
                    strategy=strategy,
                    seed=seed,
                    split_seed=split_seed,
                    shots=k,
                    strategy_options=mine,
                    **options,
                )
                cfg.validate()
                _check_same_settings(run_dir, cfg)
                plan.append((name, k, seed, cfg))
    from beautytune.evaluate.baselines import split_baselines

    rows = []
    for name, k, seed, cfg in plan:
        run_dir = Path(cfg.out)
        row = run_row(run_dir, name, seed)
        if row is None:
            _fit(cfg, resume=(run_dir / "checkpoints" / "last.ckpt").is_file(), baselines=split_baselines)
            row = run_row(run_dir, name, seed)
        assert row is not None
        rows.append({**row, "shots": k})
    board_title = title or f"beautytune compare: {Path(data).name}"
    return write_leaderboard(out, rows, board_title, split_seed=split_seed, seeds=seeds, shots=shots)


def _check_same_settings(run_dir: Path, cfg: RunConfig) -> None:
    import json

    saved_path = run_dir / "config.json"
    if not saved_path.is_file():
        return
    saved = json.loads(saved_path.read_text())
    want = cfg.to_dict()
    for d in (saved, want):  # no split seed means the run's seed: the same split either way
        d["split_seed"] = d["seed"] if d.get("split_seed") is None else d["split_seed"]
    differ = sorted(k for k in want if k not in _SAME_RUN_IGNORES and saved.get(k) != want[k])
    if differ:
        shown = ", ".join(f"{k} {saved.get(k)!r} (now {want[k]!r})" for k in differ[:4])
        raise BeautytuneError(
            f"{run_dir} was made with other settings: {shown}; remove it or choose another --out"
        )


def evaluate(
    bundle: str | Path,
    data: str | Path,
    out: str | Path,
    split: str | None = None,
    tta: str = "none",
    faces: str | None = None,
    **columns: Any,
) -> dict[str, Any]:
    """Evaluate a bundle on every usable example of ``data`` (or of one ``split`` of a manifest);
    ``faces``: another face preparation than the bundle's (off, crop or align)."""
    b = _with_faces(load_bundle(bundle), faces)
    report = _audited(b, data, out, split, columns)
    context = {
        "bundle": str(bundle),
        "data": str(data),
        "backbone": b.meta.backbone,
        "strategy": b.meta.strategy,
        "test-time augmentation": tta,
    }
    if getattr(b.processor, "faces", "off") != "off":
        context["faces"] = b.processor.faces
    return b.task.evaluate(
        Predictor.from_bundle(b, inference_device(), tta=tta),
        [r.with_split("test") for r in report.usable()],
        Path(out),
        context=context,
        skipped=report.skipped_rows(),
        title=f"beautytune evaluation: {Path(bundle).name} on {Path(data).name}",
    )


def robustness(
    bundle: str | Path,
    data: str | Path,
    out: str | Path,
    split: str | None = None,
    shifts: list[str] | None = None,
    seed: int = 0,
    **columns: Any,
) -> dict[str, Any]:
    """Macro-F1 of an image bundle on ``data``, clean and under each seeded shift and severity."""
    from beautytune.evaluate.robustness import run_robustness

    b = load_bundle(bundle)
    if b.task.modality != "image":
        raise DataError(f"{bundle} is a {b.task.modality} bundle: robustness shifts are defined for photos")
    usable = _audited(b, data, out, split, columns).usable()
    predictor = Predictor.from_bundle(b, inference_device())
    return run_robustness(predictor, usable, Path(out), shifts=shifts, seed=seed)


def adapt(
    bundle: str | Path,
    target: str | Path,
    out: str | Path,
    eval_data: str | Path | None = None,
    split: str | None = None,
    self_train_epochs: int = 2,
    pseudo_threshold: float = 0.9,
    lr: float = 1e-4,
    source: str | Path | None = None,
    **columns: Any,
) -> dict[str, Any]:
    """AdaBN, then self-training on confident pseudo-labels (``self_train_epochs=0``: AdaBN
    only), on the unlabelled photos in ``target`` -> ``out/bundle``; with ``eval_data``
    (labelled photos of the target setting) both bundles are evaluated on it, before / after.

    AdaBN moves the target photos' statistics onto the training photos', which the bundle
    stores; ``source`` (the training data: a folder or manifest, its train split when it has
    one) supplies them for a bundle that does not."""
    from dataclasses import replace

    from beautytune.inference.adapt import source_statistics
    from beautytune.inference.bundle import save_bundle
    from beautytune.train.self_training import SelfTraining, adapt_model

    settings = SelfTraining(epochs=self_train_epochs, threshold=pseudo_threshold, lr=lr)
    settings.validate()
    b = load_bundle(bundle)
    if b.task.modality != "image":
        raise DataError(f"{bundle} is a {b.task.modality} bundle: adapt works on image models")
    if b.meta.adaptation:
        raise DataError(
            f"{bundle} is already adapted (to {b.meta.adaptation.get('target')}): adapt the original bundle"
        )
    inputs = b.task.expand_inputs([Path(target)])
    if not Path(target).is_dir() or len(inputs) < 2:
        raise DataError(
            f"{target}: expected a folder of (at least 2) unlabelled photos from the target setting"
        )
    out = Path(out)
    bn_source = b.bn_source
    if source is not None:
        records = _audited(b, source, out, None, columns).usable()
        train = [r for r in records if r.split in ("train", None)] or records
        bn_source = source_statistics(b.model, b.task, b.processor, [b.task.record_input(r) for r in train])
    keys = ("macro_f1", "accuracy", "balanced_accuracy", "ece")
    result: dict[str, Any] = {"bundle": str(bundle), "target": str(target)}
    if eval_data is not None:
        m = evaluate(bundle, eval_data, out / "eval_before", split=split, **columns)
        result["before"] = {k: m[k] for k in keys}
    result["adaptation"] = adapt_model(b.model, b.task, b.processor, b.labels, inputs, settings, bn_source)
    meta = replace(b.meta, adaptation={**result["adaptation"], "target": str(target)}, metrics={})
    result["adapted_bundle"] = str(save_bundle(out / "bundle", b.model, meta, b.task, b.processor, bn_source))
    if eval_data is not None:
        m = evaluate(out / "bundle", eval_data, out / "eval_after", split=split, **columns)
        result["after"] = {k: m[k] for k in keys}
    write_json_atomic(out / "adapt.json", result)
    return result


def _audited(b: Bundle, data: str | Path, out: str | Path, split: str | None, columns: dict[str, Any]) -> Any:
    """The audit of ``data`` (one ``split`` of it if given), read the way the bundle's task reads."""
    pp = b.processor
    faces = {
        "faces": getattr(pp, "faces", "off"),
        "face_margin": getattr(pp, "face_margin", 0.25),
        "faces_fallback": getattr(pp, "faces_fallback", "whole"),
    }
    cfg = run_config(data, out, task=b.task.name, **faces, **columns)
    records = b.task.read(data, cfg)
    if split is not None:
        records = [r for r in records if r.split == split]
        if not records:
            raise DataError(f"no rows of {data} have split '{split}' (is there a split column?)")
    # a verification bundle meets new people: their names are not its classes
    known = None if b.task.name == "face-verification" else b.labels
    return b.task.audit(records, cfg, known_labels=known, progress=True)


def _with_faces(b: Bundle, faces: str | None) -> Bundle:
    """The bundle with another face preparation (``None``: its own). A regions network takes
    patches and any other takes one picture, so neither can switch to the other."""
    if faces is None or faces == getattr(b.processor, "faces", None):
        return b
    if b.task.modality != "image":
        raise BeautytuneError(f"--faces prepares photos; {b.path} is a {b.task.modality} bundle")
    if faces not in ("off", "crop", "align", "regions"):
        raise BeautytuneError(f"unknown --faces '{faces}': use off, crop, align or regions")
    if "regions" in (faces, b.processor.faces):
        raise BeautytuneError(
            f"{b.path} was trained with --faces {b.processor.faces}: a regions network and a "
            "whole-picture network cannot take each other's input; use off, crop or align"
        )
    b.processor = replace(b.processor, faces=faces)
    return b


def predict(
    bundle: str | Path,
    inputs: list[Any],
    top_k: int = 1,
    batch_size: int = 32,
    tta: str = "none",
    faces: str | None = None,
) -> list[dict[str, Any]]:
    """Predict images, folders or texts; an unusable input gets an ``error`` entry instead.
    ``faces``: another face preparation than the bundle's (off, crop or align)."""
    b = _with_faces(load_bundle(bundle), faces)
    if b.task.name == "face-verification":
        raise BeautytuneError(
            f"{bundle} is a face-verification bundle: compare two photos with `beautytune verify`"
        )
    predictor = Predictor.from_bundle(b, tta=tta)
    return predictor.predict(list(inputs), top_k=top_k, batch_size=batch_size)


def predict_csv(
    bundle: str | Path, csv_path: str | Path, text_col: str = "text", top_k: int = 1, batch_size: int = 32
) -> list[dict[str, Any]]:
    """Predict the texts of one CSV column; each result carries its 1-based ``row``."""
    from beautytune.data.text_sources import read_text_column

    rows, texts = read_text_column(csv_path, text_col)
    results = Predictor.from_bundle(bundle).predict(texts, top_k=top_k, batch_size=batch_size)
    return [{"row": n, **r} for n, r in zip(rows, results, strict=True)]


def face(
    photos: list[str | Path], bundle: str | Path | None = None, overlay: str | Path | None = None
) -> list[dict[str, Any]]:
    """Analyse face photos (capture quality, face box, skin tone; with a bundle its prediction,
    per region for a ``--faces regions`` bundle), one result each in input order; ``overlay``:
    a folder for an annotated PNG of each photo. An unusable photo gets an ``error`` entry."""
    from beautytune.faces.analyse import analyse_faces

    return analyse_faces(photos, bundle, overlay)


def verify(a: str | Path, b: str | Path, bundle: str | Path) -> dict[str, Any]:
    """Are photos ``a`` and ``b`` one person? The cosine of their embeddings from a
    face-verification bundle against the bundle's threshold (set at FAR 1% on validation)."""
    from beautytune.faces.verification import verify_pair

    loaded = load_bundle(bundle)
    threshold = loaded.meta.metrics.get("test", {}).get("threshold")
    return verify_pair(Predictor.from_bundle(loaded), str(a), str(b), threshold)


def export(
    bundle: str | Path,
    out: str | Path | None = None,
    examples: list[Any] | None = None,
    *,
    int8: bool = False,
) -> ExportResult:
    """Write ``model.onnx`` next to the bundle (or at ``out``) and check parity with PyTorch;
    ``int8`` also writes ``model.int8.onnx`` (see :func:`beautytune.inference.export.quantize_int8`)."""
    return export_onnx(bundle, out, examples, int8=int8)


def insights(
    reviews: str | Path,
    bundle: str | Path,
    out: str | Path,
    *,
    text_col: str = "text",
    product_col: str | None = "product_id",
    product_name_col: str | None = "product_name",
    skin_type_col: str | None = "skin_type",
    top_products: int | None = 5,
    aspects: str | Path | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> Any:
    """Consumer insight: sentiment per product, skin type and aspect, with quotes (HTML + JSON + chart).

    Sentiment of reviews and of the sentences that mention an aspect comes from the text
    bundle's Predictor; aspects are found by sentence embeddings (see ``beautytune.insights``).
    """
    from beautytune.insights.run import run_insights

    predictor = Predictor.from_bundle(bundle, inference_device())

    def classify(texts: list[str]) -> Any:
        probs, _ = predictor.predict_probs(texts, batch_size=batch_size)
        return probs

    return run_insights(
        reviews,
        out,
        classify=classify,
        labels=predictor.labels,
        text_col=text_col,
        product_col=product_col,
        product_name_col=product_name_col,
        skin_type_col=skin_type_col,
        top_products=top_products,
        aspects=aspects,
        progress=progress,
    )


def models() -> list[dict[str, Any]]:
    """Registered backbones with parameter count, input size and weight availability."""
    from beautytune.models.registry import registered
    from beautytune.models.weights import packaged_weights_available

    rows = []
    for spec in registered():
        n = sum(p.numel() for p in spec.build().parameters())
        rows.append(
            {
                "name": spec.name,
                "task": "image-classification",
                "params_m": round(n / 1e6, 2),
                "input_size": spec.preprocess.input_size,
                "weights": "installed"
                if spec.packaged_weights and packaged_weights_available(spec.name)
                else ("package missing" if spec.packaged_weights else "--weights PATH"),
                "description": spec.description,
            }
        )
    from beautytune.models.text_encoders import text_encoder_rows

    return rows + text_encoder_rows()


DEMO_OPTIONS: dict[str, Any] = {
    "backbone": "tf_efficientnet_lite0",
    "strategy": "full",
    "image_size": 160,
    "epochs": 8,
    "batch_size": 32,
    "lr": 2e-3,
    "backbone_lr_mult": 0.25,
}


def demo(
    out: str | Path = "runs/demo", n_per_class: int = 80, seed: int = 0, **overrides: Any
) -> dict[str, Any]:
    """Generate the synthetic product photos, fine-tune pretrained and random-init, compare."""
    from beautytune.demo.synthetic import generate_products

    out = Path(out)
    manifest = generate_products(out / "data", n_per_class=n_per_class, seed=seed)
    opts = {**DEMO_OPTIONS, "seed": seed, **overrides}
    for name in ("random_init", "pretrained"):  # the demo replaces its own earlier runs
        if (out / name / "config.json").is_file():
            shutil.rmtree(out / name)
    random_run = fit(manifest, out / "random_init", init="random", **opts)
    row = {
        "name": f"{opts['backbone']} / {opts['strategy']} / random",
        "macro_f1": random_run.metrics["macro_f1"],
        "accuracy": random_run.metrics["accuracy"],
    }
    pretrained = fit(manifest, out / "pretrained", init="pretrained", comparisons=[row], **opts)
    return {"data": manifest, "pretrained": pretrained, "random_init": random_run}
