"""predict vs fit's test report, and ONNX parity on real reviews, for a Sephora run.

uv run python benchmarks/sephora_parity.py   # after benchmarks/sephora_sentiment.py
"""

from __future__ import annotations

import csv

from beautytune import api

RUN = "runs/sephora/minilm-full"


def main() -> None:
    rows = list(csv.DictReader(open(f"{RUN}/report/predictions.csv")))[:64]
    split = {r["path"]: r["text"] for r in csv.DictReader(open(f"{RUN}/split.csv"))}
    texts = [split[r["path"]] for r in rows]
    pred = api.predict(f"{RUN}/bundle", texts)
    pairs = list(zip(pred, rows, strict=True))
    diff = max(
        abs(p["probabilities"][lab] - float(r[f"p_{lab}"])) for p, r in pairs for lab in p["probabilities"]
    )
    same = sum(p["label"] == r["predicted"] for p, r in pairs)
    print(
        f"predict vs fit's test report on {len(rows)} reviews: same label {same}/{len(rows)}, max diff {diff:.2e}"
    )
    res = api.export(f"{RUN}/bundle", "/tmp/sephora_minilm.onnx", examples=texts[:16])
    print(f"ONNX parity on 16 real reviews: max abs diff {res.max_abs_diff:.2e}")


if __name__ == "__main__":
    main()
