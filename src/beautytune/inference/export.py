"""ONNX export with a parity check against PyTorch on the task's example inputs."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from beautytune.data.records import Record
from beautytune.errors import BeautytuneError
from beautytune.inference.bundle import Bundle, load_bundle
from beautytune.io import write_bytes_atomic


@dataclass
class Int8Result:
    """The int8 model beside the fp32 one, and how far it moved from it on the parity inputs."""

    path: Path
    method: str  # how it was quantised: see INT8_METHODS
    size_bytes: int
    fp32_size_bytes: int
    #: largest absolute difference from the fp32 ONNX output (no pass/fail: int8 is approximate)
    max_abs_diff: float
    #: share of parity inputs whose top-1 class is the fp32 model's
    top1_agreement: float


@dataclass
class ExportResult:
    path: Path
    max_abs_diff: float
    n_samples: int
    input_names: list[str]
    int8: Int8Result | None = None


def export_onnx(
    bundle_path: str | Path,
    out: str | Path | None = None,
    examples: Sequence[Any] | None = None,
    int8: bool = False,
) -> ExportResult:
    """Write ``model.onnx`` (the task's output, dynamic batch: calibrated probabilities, or
    unit embeddings for verification) and compare with PyTorch.

    ``examples`` are real inputs for the parity check (image paths, texts); without them the
    task picks its own (random images; sample review sentences for text). ``int8`` also
    writes ``model.int8.onnx`` beside it (:func:`quantize_int8`), compared with the fp32 graph
    on the same inputs.
    """
    import onnxruntime as ort

    bundle = load_bundle(bundle_path)
    spec = bundle.task.export_spec(bundle.processor, examples)
    target = Path(out) if out else Path(bundle_path) / "model.onnx"
    temperature = float(bundle.meta.calibration.get("temperature", 1.0))
    model = bundle.task.export_module(bundle.model, temperature).eval()
    target.parent.mkdir(parents=True, exist_ok=True)
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
    result = ExportResult(target, diff, len(ref), spec.input_names)
    if int8:
        result.int8 = quantize_int8(target, feed, got)
    return result


#: ``dynamic``: int8 weights, activations quantised per batch at run time (Conv becomes
#: ConvInteger); ``static``: int8 weights and activations with scales fixed on calibration
#: inputs, as QuantizeLinear/DequantizeLinear pairs ORT fuses into int8 kernels (QDQ).
INT8_METHODS = ("static", "dynamic")


def int8_path(fp32: str | Path) -> Path:
    """``model.onnx`` -> ``model.int8.onnx`` beside it."""
    p = Path(fp32)
    return p.with_name(f"{p.stem}.int8{p.suffix}")


class _Feeds:
    """onnxruntime's CalibrationDataReader protocol over a list of feeds."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]) -> None:
        self._it: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """The quantiser logs a root WARNING per shape tensor it leaves alone (tf "same" padding's)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def _fp32_tail(path: Path) -> list[str]:
    """Nodes left in fp32: the head (one small layer, where rounding moves the decision most)
    and what follows it (temperature, softmax: 8-bit probabilities would be coarse)."""
    import onnx

    nodes = onnx.load(str(path)).graph.node
    start = next((i for i, n in enumerate(nodes) if n.name.startswith("/model/head/")), len(nodes))
    return [n.name for n in nodes[start:]]


def quantize_int8(
    fp32: str | Path,
    feed: dict[str, np.ndarray],
    reference: np.ndarray | None = None,
    *,
    method: str = "static",
    calibration: Sequence[dict[str, np.ndarray]] | None = None,
    out: str | Path | None = None,
) -> Int8Result:
    """Write an int8 copy of the ONNX model ``fp32`` (default ``NAME.int8.onnx`` beside it)
    and compare it with the fp32 graph on ``feed`` (``reference``: fp32's output on it).

    ``static`` (QDQ) calibrates activation ranges on ``calibration`` (default: ``feed``, one
    input at a time), so real inputs there make a better model than random ones. ``dynamic``
    needs no calibration, but ORT's CPU kernels run its ConvInteger far slower than fp32
    Conv (x12 on tf_efficientnet_lite0): use it for models made of MatMuls (text).
    The head and the softmax stay fp32 either way, and weights use 7 of their 8 bits
    (``reduce_range``): x86 CPUs without VNNI (AVX2, AVX-512F) saturate u8 x s8 products at
    16 bits otherwise, which cost 29 points of test accuracy on skincare_products (7-bit
    weights: 8 points, macro-F1 2). Measure the accuracy before serving it
    (:func:`evaluate_onnx`, ``benchmarks/onnx_serving.py``).
    """
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in INT8_METHODS:
        raise BeautytuneError(f"unknown int8 method {method!r}: use {' or '.join(INT8_METHODS)}")
    source = Path(fp32)
    target = Path(out) if out else int8_path(source)
    if calibration is None:
        n = len(next(iter(feed.values())))
        calibration = [{k: v[i : i + 1] for k, v in feed.items()} for i in range(n)]
    try:
        with tempfile.TemporaryDirectory(prefix=".int8-", dir=target.parent) as tmp:
            pre, q = Path(tmp) / "pre.onnx", Path(tmp) / "q.onnx"
            with warnings.catch_warnings(), _quiet_logging():
                warnings.simplefilter("ignore")
                quant_pre_process(str(source), str(pre), skip_symbolic_shape=True)
                keep = _fp32_tail(pre)
                if method == "dynamic":
                    quantize_dynamic(
                        pre,
                        q,
                        weight_type=QuantType.QInt8,
                        per_channel=True,
                        reduce_range=True,
                        nodes_to_exclude=keep,
                    )
                else:
                    quantize_static(
                        pre,
                        q,
                        _Feeds(calibration),
                        quant_format=QuantFormat.QDQ,
                        per_channel=True,
                        reduce_range=True,
                        activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8,
                        nodes_to_exclude=keep,
                    )
            data = q.read_bytes()
        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        got = sess.run(None, feed)[0]
    except Exception as e:  # onnx/onnxruntime raise many types; the user needs one line
        line = (str(e).splitlines() or [type(e).__name__])[0]
        raise BeautytuneError(f"int8 quantisation of {source} failed: {line}") from None
    if reference is None:
        ref_sess = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
        reference = ref_sess.run(None, feed)[0]
    write_bytes_atomic(target, data)
    return Int8Result(
        path=target,
        method=method,
        size_bytes=len(data),
        fp32_size_bytes=source.stat().st_size,
        max_abs_diff=float(np.max(np.abs(reference - got))),
        top1_agreement=float(np.mean(reference.argmax(axis=1) == got.argmax(axis=1))),
    )


def onnx_probabilities(
    bundle: Bundle, onnx: str | Path | Any, items: Sequence[Any], batch_size: int = 32
) -> tuple[np.ndarray, list[str | None]]:
    """The ONNX model's outputs for raw ``items`` (paths, texts), prepared as the Predictor
    prepares them (the task's ``prepare_input`` and ``collate``): a NaN row and an error
    message for each unusable input. ``onnx``: a file or an onnxruntime session."""
    from beautytune.errors import InputError
    from beautytune.inference.speed import onnx_session

    sess: Any = onnx_session(onnx) if isinstance(onnx, str | Path) else onnx
    names = [i.name for i in sess.get_inputs()]
    collate = bundle.task.collate(bundle.processor)
    out: np.ndarray | None = None
    errors: list[str | None] = [None] * len(items)
    prepared: list[tuple[int, Any]] = []
    for i, item in enumerate(items):
        try:
            prepared.append((i, bundle.task.prepare_input(item, bundle.processor)))
        except InputError as e:
            errors[i] = str(e)
    for start in range(0, len(prepared), batch_size):
        chunk = prepared[start : start + batch_size]
        inputs, _ = collate([(x, 0) for _, x in chunk])
        # collate's tensors come in the forward's argument order, the graph's input order
        feed = {n: np.ascontiguousarray(t.numpy()) for n, t in zip(names, inputs.values(), strict=True)}
        got = sess.run(None, feed)[0]
        if out is None:
            out = np.full((len(items), got.shape[1]), np.nan, dtype=np.float64)
        out[[i for i, _ in chunk]] = got
    if out is None:
        out = np.full((len(items), len(bundle.labels)), np.nan)
    return out, errors


def evaluate_onnx(
    bundle_path: str | Path | Bundle, onnx: str | Path, records: Sequence[Record], batch_size: int = 32
) -> dict[str, Any]:
    """Accuracy and macro-F1 (scikit-learn's: over the classes true or predicted) of the ONNX
    model ``onnx`` on labelled ``records``; unusable inputs are left out and counted."""
    from sklearn.metrics import accuracy_score, f1_score

    bundle = bundle_path if isinstance(bundle_path, Bundle) else load_bundle(bundle_path)
    index = {label: i for i, label in enumerate(bundle.labels)}
    unknown = sorted({r.label for r in records} - set(index))
    if unknown:
        raise BeautytuneError(
            f"labels {', '.join(unknown)} are not the bundle's ({', '.join(bundle.labels)})"
        )
    probs, errors = onnx_probabilities(
        bundle, onnx, [bundle.task.record_input(r) for r in records], batch_size
    )
    keep = [i for i, e in enumerate(errors) if e is None]
    if not keep:
        raise BeautytuneError(f"nothing to evaluate: no usable {bundle.task.noun}s among {len(records)}")
    y = [index[records[i].label] for i in keep]
    pred = probs[keep].argmax(axis=1)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        "n": len(keep),
        "skipped": len(records) - len(keep),
    }
