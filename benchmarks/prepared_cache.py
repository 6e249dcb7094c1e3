"""Building the prepared-data store streams: time grows linearly, memory stays flat.

For each N in --sizes: N generated 256x192 JPEGs (gradients and noise, a process pool,
outside the timing) are prepared by `beautytune.data.prepared.prepare_images` in a fresh
process with an empty cache (cold), then again in another fresh process on the same
cache (warm: every file reused, nothing decoded). Each child reports its wall time and
peak RSS (`getrusage(RUSAGE_SELF).ru_maxrss`, imports included). The store holds squares of
side S = resize_size of --image-size (timm's crop_pct 0.875: 64 -> 73). Images and store
are deleted after each size. Prints a Markdown table, writes JSON. Usage:

    uv run python benchmarks/prepared_cache.py --sizes 10000,50000,100000 --image-size 64 \\
        --out runs/prepared_cache.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

W, H = 256, 192


def _make(args: tuple[str, int, int]) -> None:
    from PIL import Image

    folder, start, stop = args
    yy, xx = np.mgrid[0:H, 0:W]
    bases: dict[tuple[int, int, int], np.ndarray] = {}
    for k in range(start, stop):
        rng = np.random.default_rng(k)
        a, b, c = (int(v) for v in rng.integers(1, 4, 3))
        if (a, b, c) not in bases:
            grad = [(xx * a) % 256, (yy * b) % 256, ((xx + yy) * c) % 256]
            bases[a, b, c] = np.stack(grad, axis=-1).astype(np.uint8)
        noise = rng.integers(0, 40, (H // 8, W // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
        arr = bases[a, b, c] + noise  # uint8: wraps round, which is fine for test content
        sub = Path(folder) / f"{k // 1000:03d}"
        sub.mkdir(exist_ok=True)
        Image.fromarray(arr).save(sub / f"{k:06d}.jpg", quality=90)


def generate(folder: Path, n: int, procs: int) -> float:
    t = time.perf_counter()
    step = 500
    with ProcessPoolExecutor(procs) as pool:
        list(pool.map(_make, [(str(folder), s, min(s + step, n)) for s in range(0, n, step)]))
    return time.perf_counter() - t


def child(folder: Path, image_size: int) -> None:
    """Runs in a fresh process: prepare every image under ``folder``; JSON on stdout."""
    from beautytune.data.prepared import prepare_images
    from beautytune.models.registry import Preprocess

    pp = Preprocess(input_size=image_size, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    paths = sorted(str(p) for p in folder.rglob("*.jpg"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    store = prepare_images(
        paths, pp.resize_size, crop=pp.input_size, interpolation=pp.interpolation, progress=False
    )
    wall = time.perf_counter() - t
    assert store is not None and int((store.chunk_of >= 0).sum()) == len(paths)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "n": len(paths),
                "S": pp.resize_size,
                "wall_s": wall,
                "rss_before_mb": before / 1024,
                "peak_rss_mb": peak / 1024,
            }
        )
    )


def run_child(folder: Path, cache: Path, image_size: int) -> dict[str, float]:
    env = {**os.environ, "BEAUTYTUNE_CACHE": str(cache)}
    cmd = [sys.executable, __file__, "--child", str(folder), "--image-size", str(image_size)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,50000,100000")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="processes generating images")
    ap.add_argument("--out", default="runs/prepared_cache.json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child), args.image_size)
        return
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        scratch = Path(tempfile.mkdtemp(prefix="beautytune-prepared-bench-"))
        try:
            (scratch / "img").mkdir()
            gen = generate(scratch / "img", n, args.procs)
            cold = run_child(scratch / "img", scratch / "cache", args.image_size)
            store_mb = sum(f.stat().st_size for f in (scratch / "cache").rglob("*")) / 2**20
            warm = run_child(scratch / "img", scratch / "cache", args.image_size)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        row = {"n": n, "S": cold["S"], "generate_s": round(gen, 1), "cold": cold, "warm": warm}
        row["store_mb"] = round(store_mb)
        rows.append(row)
        print(
            f"N={n}: cold {cold['wall_s']:.1f} s, warm {warm['wall_s']:.1f} s, peak RSS {cold['peak_rss_mb']:.0f} MB",
            file=sys.stderr,
        )
    print(f"\nS = {rows[0]['S']} (resize size of --image-size {args.image_size}); 256x192 JPEGs\n")
    print(
        "| images | cold build | per 1k images | peak RSS (cold) | RSS before build | warm build | peak RSS (warm) | store |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        c, w = r["cold"], r["warm"]
        print(
            f"| {r['n']:,} | {c['wall_s']:.1f} s | {1000 * c['wall_s'] / r['n']:.2f} s | {c['peak_rss_mb']:.0f} MB "
            f"| {c['rss_before_mb']:.0f} MB | {w['wall_s']:.1f} s | {w['peak_rss_mb']:.0f} MB | {r['store_mb']:,} MB |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"image_size": args.image_size, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
