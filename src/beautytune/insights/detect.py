"""Multi-label aspect detection by sentence-embedding similarity.

A sentence mentions an aspect when its cosine similarity to the *closest* of the
aspect's descriptions reaches the aspect's threshold. No training data is needed, and
a new aspect is a few phrases in a JSON file; the price is that thresholds are only
meaningful for the encoder and descriptions they were calibrated with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from beautytune.insights.aspects import FALLBACK_THRESHOLD, Aspect, default_aspects, parse_aspects

#: texts -> (n, dim) embeddings (normalised or not: the detector normalises again)
Embedder = Callable[[list[str]], np.ndarray]

BATCH_SIZE = 64
DEFAULT_ENCODER = "minilm"


class SentenceEmbedder:
    """A packaged sentence-transformers encoder on the CPU, as an :data:`Embedder`.

    Texts are embedded in batches of ``batch_size`` after sorting by length, so a batch
    holds sentences of similar length and little compute goes into padding; results
    come back in input order. The model is loaded on first use and shared between
    instances (loading takes seconds, embedding 10k sentences takes minutes).
    """

    def __init__(self, encoder: str = DEFAULT_ENCODER, batch_size: int = BATCH_SIZE, progress: bool = False):
        self.encoder = encoder
        self.batch_size = batch_size
        self.progress = progress

    def __call__(self, texts: list[str]) -> np.ndarray:
        model = _load_encoder(self.encoder)
        dim = int(model.get_embedding_dimension())
        out = np.zeros((len(texts), dim), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([len(t) for t in texts], kind="stable")
        starts = range(0, len(texts), self.batch_size)
        if self.progress and len(texts) > self.batch_size:
            from rich.progress import track

            starts = track(starts, description="embedding sentences", transient=True)  # type: ignore[assignment]
        for start in starts:
            idx = order[start : start + self.batch_size]
            out[idx] = model.encode(
                [texts[i] for i in idx],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return out


@lru_cache(maxsize=2)
def _load_encoder(name: str) -> Any:
    from sentence_transformers import SentenceTransformer

    from beautytune.models.text_encoders import packaged_encoder_path

    return SentenceTransformer(str(packaged_encoder_path(name)), device="cpu")


class AspectDetector:
    """Scores sentences against aspects and thresholds the scores (multi-label).

    ``aspects`` is a list of :class:`Aspect` or a ``name -> descriptions`` mapping
    (default: the built-in aspects). ``thresholds`` overrides per aspect; otherwise an
    aspect's own threshold is used, else :data:`FALLBACK_THRESHOLD`. The description
    embeddings are computed once, on first use.
    """

    def __init__(
        self,
        embed: Embedder | None = None,
        aspects: Sequence[Aspect] | Mapping[str, Any] | None = None,
        thresholds: Mapping[str, float] | None = None,
    ):
        self.embed: Embedder = embed if embed is not None else SentenceEmbedder()
        if aspects is None:
            self.aspects = default_aspects()
        elif isinstance(aspects, Mapping):
            self.aspects = parse_aspects(aspects)
        else:
            self.aspects = list(aspects)
        if not self.aspects:
            raise ValueError("AspectDetector needs at least one aspect")
        self.names = [a.name for a in self.aspects]
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate aspect names in {self.names}")
        unknown = set(thresholds or {}) - set(self.names)
        if unknown:
            raise ValueError(f"thresholds for unknown aspects {sorted(unknown)}; aspects: {self.names}")
        self.thresholds = np.array(
            [
                (thresholds or {}).get(a.name, a.threshold if a.threshold is not None else FALLBACK_THRESHOLD)
                for a in self.aspects
            ],
            dtype=np.float64,
        )
        self._desc_emb: np.ndarray | None = None
        self._desc_owner: np.ndarray | None = None

    def with_thresholds(self, thresholds: Mapping[str, float]) -> AspectDetector:
        """A copy with some thresholds replaced (shares the cached description embeddings)."""
        current = dict(zip(self.names, self.thresholds.tolist(), strict=True))
        new = AspectDetector(self.embed, self.aspects, {**current, **thresholds})
        new._desc_emb, new._desc_owner = self._desc_emb, self._desc_owner
        return new

    def similarities(self, sentences: Sequence[str]) -> np.ndarray:
        """(n, n_aspects) cosine similarity of each sentence to each aspect's closest description."""
        return self.similarities_from_embeddings(self._embed_unique(list(sentences)))

    def similarities_from_embeddings(self, emb: np.ndarray) -> np.ndarray:
        """Like :meth:`similarities`, for sentences already embedded with this detector's encoder."""
        if len(emb) == 0:
            return np.zeros((0, len(self.aspects)))
        desc, owner = self._descriptions()
        sims = _normalise(emb) @ desc.T  # (n, n_descriptions)
        return np.stack([sims[:, owner == j].max(axis=1) for j in range(len(self.aspects))], axis=1)

    def detect(self, sentences: Sequence[str]) -> np.ndarray:
        """(n, n_aspects) boolean: sentence ``i`` mentions aspect ``j``."""
        return self.similarities(sentences) >= self.thresholds

    def mentions(self, sentence: str) -> list[str]:
        """The aspect names one sentence mentions (convenient for a quick look)."""
        hits = self.detect([sentence])[0]
        return [n for n, hit in zip(self.names, hits, strict=True) if hit]

    def _descriptions(self) -> tuple[np.ndarray, np.ndarray]:
        if self._desc_emb is None or self._desc_owner is None:
            texts = [d for a in self.aspects for d in a.descriptions]
            self._desc_owner = np.array([j for j, a in enumerate(self.aspects) for _ in a.descriptions])
            self._desc_emb = _normalise(np.asarray(self.embed(texts), dtype=np.float32))
        return self._desc_emb, self._desc_owner

    def _embed_unique(self, sentences: list[str]) -> np.ndarray:
        """Embed each distinct sentence once (reviews repeat stock phrases a lot)."""
        unique = list(dict.fromkeys(sentences))
        if not unique:
            return np.zeros((0, 1), dtype=np.float32)
        emb = np.asarray(self.embed(unique), dtype=np.float32)
        if len(unique) == len(sentences):
            return emb
        where = {s: i for i, s in enumerate(unique)}
        return emb[[where[s] for s in sentences]]


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D, got shape {x.shape}")
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)
