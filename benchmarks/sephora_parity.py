"""predict vs fit's test report, and ONNX parity on real reviews, for a Sephora run.

uv run python benchmarks/sephora_parity.py   # after benchmarks/sephora_sentiment.py
"""

import csv

from beautytune import api

b = "runs/sephora/minilm-full/bundle"
rows = list(csv.DictReader(open("runs/sephora/minilm-full/report/predictions.csv")))[:64]
split = {r["path"]: r["text"] for r in csv.DictReader(open("runs/sephora/minilm-full/split.csv"))}
texts = [split[r["path"]] for r in rows]
pred = api.predict(b, texts)
diff = max(
    abs(p["probabilities"][l] - float(r[f"p_{l}"])) for p, r in zip(pred, rows) for l in p["probabilities"]
)
same = sum(p["label"] == r["predicted"] for p, r in zip(pred, rows))
print(
    f"predict vs fit's evaluation on {len(rows)} test reviews: same label {same}/{len(rows)}, max prob diff {diff:.2e}"
)
res = api.export(b, "/tmp/sephora_minilm.onnx", examples=texts[:16])
print(f"ONNX parity on 16 real reviews: max abs diff {res.max_abs_diff:.2e}")
