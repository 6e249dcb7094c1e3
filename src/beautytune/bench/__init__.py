"""``beautytune bench``: this machine's speed, beautytune against the plain way, side by side.

Every figure comes from one run on one machine (shared machines are noisy: only the ratios
measured together mean much): training and inference images/second of beautytune's loop
and of a plain timm + torchvision ImageFolder/DataLoader loop (same model, batch and
precision); eager PyTorch against ONNX Runtime (fp32, int8); idle against busy (a second
CPU-bound process running); what the caches save.
"""

from beautytune.bench.run import BenchOptions, run_bench

__all__ = ["BenchOptions", "run_bench"]
