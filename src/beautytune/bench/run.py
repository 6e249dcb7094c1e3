"""One bench run: every measurement in turn, then ``bench.json`` and ``bench.md``."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from beautytune.bench.photos import bench_photos
from beautytune.errors import BeautytuneError
from beautytune.io import write_text_atomic


@dataclass
class BenchOptions:
    out: Path
    device: str = "cpu"  # cpu | cuda
    backbone: str = "tf_efficientnet_lite0"
    image_size: int | None = None  # None: the backbone's own input size
    photos_per_class: int = 16  # nine product types
    photo_side: int = 640  # pixels: decoding costs what a camera's photo costs
    batch: int = 16
    epochs: int = 3  # the first decodes (and fills beautytune's caches); the rest are steady
    plain_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    busy: bool = True
    onnx: bool = True


@contextlib.contextmanager
def _cache_at(path: Path) -> Iterator[None]:
    """Point beautytune's caches at ``path`` (a fresh one: the cold figures are cold)."""
    old = os.environ.get("BEAUTYTUNE_CACHE")
    os.environ["BEAUTYTUNE_CACHE"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("BEAUTYTUNE_CACHE", None)
        else:
            os.environ["BEAUTYTUNE_CACHE"] = old


def _rate(epochs: list[tuple[int, float]]) -> float:
    n, t = sum(e[0] for e in epochs), sum(e[1] for e in epochs)
    return n / t if t else float("nan")


def run_bench(opts: BenchOptions, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure, write ``OUT/bench.json`` and ``OUT/bench.md``; returns the JSON's content."""
    if opts.device == "cuda" and not torch.cuda.is_available():
        raise BeautytuneError("--device cuda: no CUDA GPU is visible here; use --device cpu")
    if opts.out.exists() and any(opts.out.iterdir()):
        raise BeautytuneError(f"{opts.out} is not empty: choose a new --out for the bench")
    from beautytune.bench.ours import EpochClock, our_fit, our_infer
    from beautytune.bench.plain import plain_infer, plain_train
    from beautytune.models import weights as weights_mod
    from beautytune.models.registry import get_spec

    spec = get_spec(opts.backbone)
    pp = spec.preprocess if opts.image_size is None else replace(spec.preprocess, input_size=opts.image_size)
    precision = "bf16-mixed" if opts.device == "cuda" else "32-true"
    init = "pretrained" if weights_mod.packaged_weights_available(spec.name) else "random"
    accelerator = "gpu" if opts.device == "cuda" else "cpu"
    common: dict[str, Any] = {
        "backbone": opts.backbone,
        "image_size": opts.image_size,
        "init": init,
        "batch_size": opts.batch,
        "accelerator": accelerator,
        "devices": "1",
        "precision": precision,
    }
    work = opts.out / "work"
    say(f"[bench] {opts.photos_per_class * 9} photos at {opts.photo_side} px (JPEG)")
    manifest = bench_photos(work / "photos", opts.photos_per_class, opts.photo_side)
    folder = manifest.parent / "images"
    paths = sorted(str(p) for p in folder.rglob("*.jpg"))
    result: dict[str, Any] = {
        "machine": _machine(opts.device),
        "settings": {
            **asdict(opts),
            "out": str(opts.out),
            "precision": precision,
            "input_size": pp.input_size,
        },
    }
    with _cache_at(work / "cache"):
        say(f"[bench] training: beautytune fit --strategy full, {opts.epochs} epochs")
        clock = EpochClock()
        full, full_wall = our_fit(
            manifest, work / "full", clock, strategy="full", epochs=opts.epochs, **common
        )
        say(f"[bench] training: plain ImageFolder loop, {opts.epochs} epochs, {opts.plain_workers} workers")
        plain_epochs = plain_train(
            folder, spec.name, pp, opts.batch, opts.epochs, opts.plain_workers, opts.device, precision
        )
        result["training"] = _side_by_side(clock.epochs, plain_epochs)
        result["training"]["beautytune_fit_wall_s"] = round(full_wall, 1)
        say("[bench] inference: Predictor against the plain loop")
        ours_n, ours_t = our_infer(full.bundle, paths, opts.batch * 2, opts.device)
        import timm

        plain_model = timm.create_model(spec.name, num_classes=9)
        plain_n, plain_t = plain_infer(
            folder, plain_model, pp, opts.batch * 2, opts.plain_workers, opts.device, precision
        )
        result["inference"] = {
            "beautytune_img_s": round(ours_n / ours_t, 1),
            "plain_img_s": round(plain_n / plain_t, 1),
            "ratio": round((ours_n / ours_t) / (plain_n / plain_t), 2),
        }
    say("[bench] caches: features and head, empty cache then warm")
    result["caches"] = _caches(manifest, work, common)
    if opts.onnx:
        say("[bench] serving: eager PyTorch against ONNX Runtime")
        result["serving"] = _serving(full.bundle, full.run_dir, work)
    if opts.busy and opts.device == "cpu":
        say("[bench] a busy machine: idle, then beside a 2-thread PyTorch job")
        from beautytune.bench.busy import idle_and_busy

        result["busy"] = idle_and_busy(("torch default", "beautytune"), spec.name)
    opts.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(opts.out / "bench.json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(opts.out / "bench.md", markdown(result))
    return result


def _side_by_side(ours: list[tuple[int, float]], plain: list[tuple[int, float]]) -> dict[str, Any]:
    steady_ours, steady_plain = _rate(ours[1:] or ours), _rate(plain[1:] or plain)
    return {
        "beautytune_first_epoch_img_s": round(_rate(ours[:1]), 1),
        "plain_first_epoch_img_s": round(_rate(plain[:1]), 1),
        "beautytune_img_s": round(steady_ours, 1),
        "plain_img_s": round(steady_plain, 1),
        "ratio": round(steady_ours / steady_plain, 2),
        "beautytune_epochs": [[n, round(t, 2)] for n, t in ours],
        "plain_epochs": [[n, round(t, 2)] for n, t in plain],
    }


def _caches(manifest: Path, work: Path, common: dict[str, Any]) -> dict[str, Any]:
    from beautytune.bench.ours import our_fit

    out: dict[str, Any] = {}
    with _cache_at(work / "cache-features"):
        _, cold = our_fit(manifest, work / "features-cold", strategy="features", **common)
        _, warm = our_fit(manifest, work / "features-warm", strategy="features", **common)
    out["features_cold_s"], out["features_warm_s"] = round(cold, 1), round(warm, 1)
    out["features_speedup"] = round(cold / warm, 1)
    head = {"strategy": "head", "epochs": 5, "augment": "none", **common}
    with _cache_at(work / "cache-head"):
        _, cached = our_fit(manifest, work / "head-cached", **head)
        _, recompute = our_fit(
            manifest, work / "head-recompute", strategy_options={"cache_features": False}, **head
        )
    out["head_5_epochs_cached_s"], out["head_5_epochs_recompute_s"] = round(cached, 1), round(recompute, 1)
    out["head_speedup"] = round(recompute / cached, 1)
    return out


def _serving(bundle_dir: Path, run_dir: Path, work: Path) -> dict[str, Any]:
    """Eager PyTorch, ONNX Runtime fp32 and int8 on the trained bundle: batch-1 latency and
    batch-32 throughput, and the test split's accuracy of each."""
    from beautytune.data.records import by_split
    from beautytune.inference.bundle import load_bundle
    from beautytune.inference.export import evaluate_onnx, export_onnx
    from beautytune.inference.speed import eager_runner, example_batch, latency_and_throughput, onnx_runner
    from beautytune.runtime import configure_threads
    from beautytune.train.rundir import RunDir

    records = RunDir(run_dir).read_split()
    val, test = by_split(records, "val"), by_split(records, "test")
    calibration = [r.path for r in val][:32]
    exported = export_onnx(bundle_dir, work / "onnx" / "model.onnx", calibration, int8=True)
    assert exported.int8 is not None
    bundle = load_bundle(bundle_dir)
    threads = configure_threads(0, "infer")
    runners = {
        "eager PyTorch": eager_runner(bundle, threads),
        "ONNX Runtime fp32": onnx_runner(exported.path, threads),
        f"ONNX Runtime int8 ({exported.int8.method})": onnx_runner(exported.int8.path, threads),
    }
    files = {
        "ONNX Runtime fp32": exported.path,
        f"ONNX Runtime int8 ({exported.int8.method})": exported.int8.path,
    }
    out: dict[str, Any] = {"threads": threads, "test_images": len(test)}
    for name, run in runners.items():
        speed = latency_and_throughput(run, lambda n: example_batch(bundle, n), batch_size=32)
        row = {k: round(speed[k], 2) for k in ("latency_ms", "throughput_per_s")}
        if name in files:
            row |= {k: round(v, 4) for k, v in evaluate_onnx(bundle, files[name], test).items() if k != "n"}
        out[name] = row
    out["eager PyTorch"] |= _eager_quality(bundle_dir, test)
    return out


def _eager_quality(bundle_dir: Path, test: list[Any]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    from beautytune.inference.predictor import Predictor

    predictor = Predictor.from_bundle(bundle_dir)
    probs, _ = predictor.predict_probs([r.path for r in test])
    y = [predictor.labels.index(r.label) for r in test]
    pred = probs.argmax(1)
    return {
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "macro_f1": round(float(f1_score(y, pred, average="macro", zero_division=0)), 4),
    }


def _machine(device: str) -> dict[str, Any]:
    import psutil

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "torch": torch.__version__,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def markdown(r: dict[str, Any]) -> str:
    m, s = r["machine"], r["settings"]
    lines = [
        "# beautytune bench",
        "",
        f"{m['cores']} cores, {m['memory_gb']} GB, {m.get('gpu', 'no GPU')}, torch {m['torch']}, {m['when']}. "
        f"{s['backbone']} at {s['input_size']} px, batch {s['batch']}, {s['precision']}; "
        f"{s['photos_per_class'] * 9} JPEG photos at {s['photo_side']} px.",
        "",
        "| measure | beautytune | plain timm + ImageFolder | ratio |",
        "|---|---|---|---|",
    ]
    t, i = r["training"], r["inference"]
    lines += [
        f"| training img/s, first epoch | {t['beautytune_first_epoch_img_s']} | {t['plain_first_epoch_img_s']} | "
        f"{t['beautytune_first_epoch_img_s'] / t['plain_first_epoch_img_s']:.2f} |",
        f"| training img/s, later epochs | {t['beautytune_img_s']} | {t['plain_img_s']} | {t['ratio']} |",
        f"| inference img/s (decoding included) | {i['beautytune_img_s']} | {i['plain_img_s']} | {i['ratio']} |",
        "",
        "| whole `fit`, seconds | without the cache | with it | speed-up |",
        "|---|---|---|---|",
    ]
    c = r["caches"]
    lines += [
        f"| `--strategy features`: empty cache, then warm | {c['features_cold_s']} | {c['features_warm_s']} | "
        f"×{c['features_speedup']} |",
        f"| `--strategy head --epochs 5 --augment none`: backbone every batch, then features cached "
        f"once (empty cache) | {c['head_5_epochs_recompute_s']} | {c['head_5_epochs_cached_s']} | ×{c['head_speedup']} |",
    ]
    lines += _serving_lines(r.get("serving") or {})
    busy = r.get("busy")
    if busy:
        lines += [
            "",
            "| threads | batch-1 idle ms | busy ms | × | train img/s idle | busy | × |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, b in busy.items():
            idle, hot = b["idle"], b["busy"]
            lines.append(
                f"| {name} | {idle['latency_ms']:.1f} | {hot['latency_ms']:.1f} | "
                f"{hot['latency_ms'] / idle['latency_ms']:.2f} | {idle['train_img_s']:.1f} | "
                f"{hot['train_img_s']:.1f} | {idle['train_img_s'] / hot['train_img_s']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def _serving_lines(serving: dict[str, Any]) -> list[str]:
    rows = {k: v for k, v in serving.items() if isinstance(v, dict)}
    if not rows:
        return []
    eager = rows["eager PyTorch"]["latency_ms"]
    lines = [
        "",
        f"| serving ({serving['threads']} threads) | batch-1 ms | × eager | batch-32 img/s | "
        f"test accuracy ({serving['test_images']}) | macro-F1 |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['latency_ms']:.1f} | {r['latency_ms'] / eager:.2f} | {r['throughput_per_s']:.1f} | "
            f"{r.get('accuracy', '')} | {r.get('macro_f1', '')} |"
        )
    return lines
