"""ONNX export with a parity check against PyTorch on the task's example inputs."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from beautytune.errors import BeautytuneError
from beautytune.inference.bundle import load_bundle
from beautytune.io import write_bytes_atomic


@dataclass
class ExportResult:
    path: Path
    max_abs_diff: float
    n_samples: int
    input_names: list[str]


def export_onnx(
    bundle_path: str | Path, out: str | Path | None = None, examples: Sequence[Any] | None = None
) -> ExportResult:
    """Write ``model.onnx`` (the task's output, dynamic batch: calibrated probabilities, or
    unit embeddings for verification) and compare with PyTorch.

    ``examples`` are real inputs for the parity check (image paths, texts); without them the
    task picks its own (random images; sample review sentences for text).
    """
    import onnxruntime as ort

    bundle = load_bundle(bundle_path)
    spec = bundle.task.export_spec(bundle.processor, examples)
    target = Path(out) if out else Path(bundle_path) / "model.onnx"
    temperature = float(bundle.meta.calibration.get("temperature", 1.0))
    model = bundle.task.export_module(bundle.model, temperature).eval()
    tmp = target.with_name(f".{target.name}.export")
    try:
        with warnings.catch_warnings():
            # The tracer warns about every Python-level shape check inside transformers' masking.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                spec.args,
                str(tmp),
                input_names=spec.input_names,
                output_names=[spec.output_name],
                dynamic_axes={**spec.dynamic_axes, spec.output_name: {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        data = tmp.read_bytes()
    except Exception as e:  # the exporter raises many types; the user needs one line
        raise BeautytuneError(f"ONNX export of {bundle_path} failed: {str(e).splitlines()[0]}") from None
    finally:
        tmp.unlink(missing_ok=True)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = model(*spec.args).numpy()
    feed = {name: t.numpy() for name, t in zip(spec.input_names, spec.args, strict=True)}
    got = sess.run(None, feed)[0]
    diff = float(np.max(np.abs(ref - got)))
    write_bytes_atomic(target, data)
    return ExportResult(target, diff, len(ref), spec.input_names)
