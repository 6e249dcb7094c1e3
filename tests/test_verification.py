"""Verification metrics (pairs, TAR at FAR) and dlib's face descriptor."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from beautytune import api
from beautytune.demo.synthetic_faces import drawn_face
from beautytune.errors import BeautytuneError
from beautytune.faces.prepare import faces_of
from beautytune.faces.verification import (
    all_pairs,
    dlib_embedder,
    tar_at_far,
    verification_metrics,
)
from conftest import TINY, run_cli


def test_pairs_know_genuine_and_cross_condition() -> None:
    pairs = all_pairs(["a", "a", "b", "b"], ["makeup", "none", "makeup", "makeup"])
    assert len(pairs.left) == 6
    got = {
        (int(i), int(j)): (bool(g), bool(c))
        for i, j, g, c in zip(pairs.left, pairs.right, pairs.genuine, pairs.cross, strict=True)
    }
    assert got[(0, 1)] == (True, True) and got[(2, 3)] == (True, False) and got[(0, 2)] == (False, False)


def test_tar_at_far_reads_the_genuine_share_above_the_impostor_quantile() -> None:
    impostor = np.linspace(0.0, 1.0, 1000)  # one impostor in a hundred scores above 0.99
    genuine = np.array([0.995, 0.999, 0.5, 0.2])
    scores = np.concatenate([impostor, genuine])
    is_genuine = np.r_[np.zeros(1000, bool), np.ones(4, bool)]
    assert tar_at_far(scores, is_genuine, 0.01) == 0.5
    assert tar_at_far(scores, is_genuine, 0.001) == 0.25  # only 0.999 beats the top impostors
    assert tar_at_far(scores[:500], is_genuine[:500], 0.001) is None  # too few impostors


def test_perfect_scores_give_full_tar_and_auc() -> None:
    people = [f"p{i // 4}" for i in range(200)]
    pairs = all_pairs(people, ["m" if i % 2 else "n" for i in range(200)])
    m = verification_metrics(pairs.genuine.astype(float), pairs)
    assert m["cross"]["auc"] == 1.0 and m["same"]["tar@far0.001"] == 1.0
    assert m["all"]["genuine"] == 50 * 6 and m["cross"]["genuine"] + m["same"]["genuine"] == 300


def test_dlib_descriptor_is_128_d_and_closer_for_the_same_drawing() -> None:
    embedder = dlib_embedder()
    a, b = drawn_face(256, grain=3.0, seed=1), drawn_face(256, grain=3.0, seed=2)
    other = drawn_face(256, skin=(120, 80, 60), background=(200, 60, 60), grain=3.0, seed=3)
    vecs = []
    for im in (a, b, other):
        rgb = np.asarray(im)
        vecs.append(embedder.embed(rgb, faces_of(rgb)[0].box))
    assert vecs[0].shape == (128,)
    assert np.linalg.norm(vecs[0] - vecs[1]) < np.linalg.norm(vecs[0] - vecs[2])


def test_fit_face_verification_keeps_test_people_unseen_and_verifies(
    people_data: Path, tmp_path: Path
) -> None:
    result = api.fit(
        people_data,
        tmp_path / "run",
        **{**TINY, "strategy": "full"},
        task="face-verification",
        test_frac=0.25,
    )
    split = list(csv.DictReader((tmp_path / "run" / "split.csv").open()))
    people = {s: {r["group"] for r in split if r["split"] == s} for s in ("train", "val", "test")}
    assert people["test"] and not people["test"] & (people["train"] | people["val"])
    assert people["val"] <= people["train"]  # validation: other photos of training people
    assert {r["condition"] for r in split} == {"makeup", "no_makeup"}
    metrics = json.loads((result.report.parent / "metrics.json").read_text())
    assert metrics["people"] == len(people["test"]) and metrics["cross"]["genuine"] > 0
    assert 0.0 <= metrics["cross"]["auc"] <= 1.0 and "TAR @ FAR 1%" in result.report.read_text()
    meta = json.loads((result.bundle / "bundle.json").read_text())
    assert meta["task"] == "face-verification" and "threshold" in meta["metrics"]["test"]
    a, b = (people_data.parent / n for n in ("p0_0.png", "p0_3.png"))
    r = run_cli("verify", str(a), str(b), "--bundle", str(result.bundle), "--json")
    assert r.returncode == 0, r.stderr
    verdict = json.loads(r.stdout)
    assert -1.0 <= verdict["score"] <= 1.0 and verdict["same_person"] in (True, False)
    again = api.evaluate(result.bundle, people_data, tmp_path / "eval")  # every photo a test photo
    assert again["people"] == 8 and again["cross"]["genuine"] == 8 * 4
    refused = run_cli("predict", str(result.bundle), str(a))
    assert refused.returncode != 0 and "beautytune verify" in refused.stderr
    exported = api.export(result.bundle, examples=[str(a), str(b)])
    assert exported.max_abs_diff < 1e-4 and exported.n_samples == 2
    import onnxruntime as ort

    from beautytune.inference.predictor import Predictor
    from beautytune.tasks.face_verification import embed

    sess = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    assert sess.get_outputs()[0].name == "embedding"
    predictor = Predictor.from_bundle(result.bundle)
    x = torch.stack([predictor.task.prepare_input(str(p), predictor.processor) for p in (a, b)])
    got = sess.run(None, {"image": x.numpy()})[0]
    want, _ = embed(predictor, [str(a), str(b)])
    assert got.shape == (2, 256) and np.allclose(got, want, atol=1e-4)
    assert abs(float(got[0] @ got[1]) - verdict["score"]) < 1e-3  # the score `verify` gave


def test_verification_refuses_closed_form_strategies(people_data: Path, tmp_path: Path) -> None:
    with pytest.raises(BeautytuneError, match="ArcFace"):
        api.fit(people_data, tmp_path / "run", **{**TINY, "strategy": "features"}, task="face-verification")
    assert not (tmp_path / "run").exists()
