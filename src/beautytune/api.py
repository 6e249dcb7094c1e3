"""The Python API. Every CLI command is one call here."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from beautytune.bundle import load_bundle
from beautytune.config import RunConfig, parse_duration
from beautytune.data.audit import AuditReport, audit_records
from beautytune.data.sources import load_records
from beautytune.errors import DataError
from beautytune.evaluate.evaluate import evaluate_records
from beautytune.export import ExportResult, export_onnx
from beautytune.predict import predict_paths
from beautytune.train.run import FitResult
from beautytune.train.run import fit as _fit


def audit(data: str | Path, out: str | Path, **columns: str) -> AuditReport:
    """Decode every image of ``data`` and write ``out/audit.json`` and ``out/audit.md``."""
    records = load_records(data, **columns)
    report = audit_records(records, progress=True)
    report.write(Path(out))
    return report


def fit(
    data: str | Path,
    out: str | Path,
    *,
    resume: bool = False,
    time_budget: str | float | None = None,
    comparisons: list[dict[str, Any]] | None = None,
    **options: Any,
) -> FitResult:
    """Fine-tune a backbone on ``data``; see :class:`RunConfig` for every option."""
    cfg = RunConfig(data=str(data), out=str(out), time_budget=parse_duration(time_budget), **options)
    return _fit(cfg, resume=resume, comparisons=comparisons)


def evaluate(
    bundle: str | Path, data: str | Path, out: str | Path, split: str | None = None, **columns: str
) -> dict[str, Any]:
    """Evaluate a bundle on every usable image of ``data`` (or of one ``split`` of a manifest)."""
    b = load_bundle(bundle)
    records = load_records(data, **columns)
    if split is not None:
        records = [r for r in records if r.split == split]
        if not records:
            raise DataError(f"no rows of {data} have split '{split}' (is there a split column?)")
    report = audit_records(records, known_labels=b.labels, progress=True)
    skipped = report.skipped_rows()
    context = {
        "bundle": str(bundle),
        "data": str(data),
        "backbone": b.meta["backbone"],
        "strategy": b.meta.get("strategy", ""),
    }
    return evaluate_records(
        b.model,
        b.preprocess,
        b.labels,
        report.usable(),
        Path(out),
        context=context,
        skipped=skipped,
        title=f"beautytune evaluation: {Path(bundle).name} on {Path(data).name}",
    )


def predict(
    bundle: str | Path, paths: list[str], top_k: int = 1, batch_size: int = 32
) -> list[dict[str, Any]]:
    """Predict images or folders; unreadable files get an ``error`` entry instead of a label."""
    return predict_paths(load_bundle(bundle), [str(p) for p in paths], top_k=top_k, batch_size=batch_size)


def export(bundle: str | Path, out: str | Path | None = None) -> ExportResult:
    """Write ``model.onnx`` next to the bundle (or at ``out``) and check parity with PyTorch."""
    return export_onnx(bundle, out)


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
                "params_m": round(n / 1e6, 2),
                "input_size": spec.preprocess.input_size,
                "weights": "installed"
                if spec.packaged_weights and packaged_weights_available(spec.name)
                else ("package missing" if spec.packaged_weights else "--weights PATH"),
                "description": spec.description,
            }
        )
    return rows


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
    from beautytune.data.synthetic import generate_products

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
