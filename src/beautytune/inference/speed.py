"""Serving speed on CPU: eager PyTorch and ONNX Runtime, measured the same way.

A *runner* is a callable that takes one batch (a tuple of numpy arrays, the ONNX graph's
inputs in order) and returns the model's output. :func:`latency_and_throughput` times any
runner; :func:`eager_runner` and :func:`onnx_runner` build the two this project serves
with, and :func:`example_batch` makes inputs of the bundle's shape::

    bundle = load_bundle("RUN/bundle")
    make = lambda n: example_batch(bundle, n)
    eager = latency_and_throughput(eager_runner(bundle), make)
    ort = latency_and_throughput(onnx_runner("RUN/bundle/model.onnx"), make)
    ort["latency_ms"] / eager["latency_ms"]

Both use the thread count :func:`beautytune.runtime.configure_threads` picks for inference
(the cores actually free), so neither wins by taking cores the other was denied.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from beautytune.inference.bundle import Bundle, load_bundle
from beautytune.runtime import configure_threads

Batch = tuple[np.ndarray, ...]
Runner = Callable[[Batch], Any]


def latency_and_throughput(
    run: Runner,
    make_batch: Callable[[int], Batch],
    *,
    batch_size: int = 32,
    warmup: int = 5,
    repeats: int = 30,
    throughput_repeats: int = 5,
) -> dict[str, float]:
    """Batch-1 latency (median and 90th percentile of ``repeats`` calls, ms) and
    ``batch_size`` throughput (images or texts a second, from the median of
    ``throughput_repeats`` calls), each after ``warmup`` untimed calls."""
    if min(batch_size, repeats, throughput_repeats) < 1 or warmup < 0:
        raise ValueError("batch_size, repeats and throughput_repeats must be >= 1, warmup >= 0")
    one, many = make_batch(1), make_batch(batch_size)
    single = _times(run, one, warmup, repeats)
    batched = _times(run, many, max(1, warmup // 2), throughput_repeats)
    return {
        "latency_ms": 1000 * statistics.median(single),
        "latency_p90_ms": 1000 * float(np.percentile(single, 90)),
        "throughput_per_s": batch_size / statistics.median(batched),
        "batch_size": batch_size,
        "repeats": repeats,
    }


def _times(run: Runner, batch: Batch, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        run(batch)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(batch)
        out.append(time.perf_counter() - start)
    return out


def example_batch(bundle: Bundle, n: int) -> Batch:
    """``n`` inputs of the shape the bundle serves (the task's export examples, repeated)."""
    spec = bundle.task.export_spec(bundle.processor)
    return tuple(_tile(t.numpy(), n) for t in spec.args)


def _tile(a: np.ndarray, n: int) -> np.ndarray:
    reps = -(-n // len(a))
    return np.ascontiguousarray(np.concatenate([a] * reps)[:n])


def eager_runner(bundle: Bundle | str | Path, threads: int | None = None) -> Runner:
    """The bundle's export module (what ``model.onnx`` computes) in eager PyTorch, fed as
    the Predictor feeds it (images channels-last), under ``inference_mode``."""
    b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    if threads is None:
        configure_threads(0, "infer")
    else:
        torch.set_num_threads(threads)
    temperature = float(b.meta.calibration.get("temperature", 1.0))
    module = b.task.export_module(b.model, temperature).eval()

    def run(batch: Batch) -> np.ndarray:
        with torch.inference_mode():
            args = [_as_torch(a) for a in batch]
            return module(*args).numpy()  # type: ignore[no-any-return]

    return run


def _as_torch(a: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(a)
    return t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t


def onnx_session(path: str | Path | bytes, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session with every graph optimisation and ``threads`` intra-op
    threads (default: :func:`configure_threads`'s choice for inference)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads if threads is not None else configure_threads(0, "infer")
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def onnx_runner(path: str | Path, threads: int | None = None) -> Runner:
    """``path`` (an ONNX file) through :func:`onnx_session`; inputs fed in the graph's order."""
    sess = onnx_session(path, threads)
    names = [i.name for i in sess.get_inputs()]

    def run(batch: Batch) -> np.ndarray:
        return sess.run(None, dict(zip(names, batch, strict=True)))[0]  # type: ignore[no-any-return]

    return run


__all__ = [
    "eager_runner",
    "example_batch",
    "latency_and_throughput",
    "onnx_runner",
    "onnx_session",
]
