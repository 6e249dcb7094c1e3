"""ONNX export with a parity check against PyTorch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from beautytune.bundle import load_bundle
from beautytune.errors import BeautytuneError
from beautytune.io import write_bytes_atomic


@dataclass
class ExportResult:
    path: Path
    max_abs_diff: float
    n_samples: int


def export_onnx(
    bundle_path: str | Path, out: str | Path | None = None, n_samples: int = 4, seed: int = 0
) -> ExportResult:
    """Write ``model.onnx`` (probabilities out, dynamic batch) and compare with PyTorch."""
    import onnxruntime as ort

    bundle = load_bundle(bundle_path)
    size = bundle.preprocess.input_size
    target = Path(out) if out else Path(bundle_path) / "model.onnx"
    model = _WithSoftmax(bundle.model).eval()
    dummy = torch.randn(2, 3, size, size)
    tmp = target.with_name(f".{target.name}.export")
    try:
        torch.onnx.export(
            model,
            (dummy,),
            str(tmp),
            input_names=["image"],
            output_names=["probabilities"],
            dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
        data = tmp.read_bytes()
    except Exception as e:  # the exporter raises many types; the user needs one line
        raise BeautytuneError(f"ONNX export of {bundle_path} failed: {str(e).splitlines()[0]}") from None
    finally:
        tmp.unlink(missing_ok=True)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n_samples, 3, size, size, generator=gen)
    with torch.no_grad():
        ref = model(x).numpy()
    got = sess.run(None, {"image": x.numpy()})[0]
    diff = float(np.max(np.abs(ref - got)))
    write_bytes_atomic(target, data)
    return ExportResult(target, diff, n_samples)


class _WithSoftmax(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=1)
