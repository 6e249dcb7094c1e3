"""``run_insights``: reviews CSV -> what customers say about each aspect, and how they feel.

Pipeline: read reviews (bad bytes replaced, blank texts skipped and counted) -> classify
each review -> split into sentences -> detect aspects per sentence by embedding
similarity -> classify the sentences that mention an aspect -> aggregate overall, per
product and per skin type -> ``insights.json``, ``index.html`` and charts.

Only sentences that mention some aspect are sentiment-classified: the aspect figures
need nothing else, and it roughly halves the classifier's work.
"""

from __future__ import annotations

import csv
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from beautytune import __version__
from beautytune.errors import DataError
from beautytune.insights.aspects import Aspect, load_aspects, parse_aspects
from beautytune.insights.detect import AspectDetector, Embedder, SentenceEmbedder
from beautytune.insights.sentences import split_sentences
from beautytune.io import write_json_atomic

#: texts -> (n, len(labels)) class probabilities, in ``labels`` order
Classifier = Callable[[list[str]], np.ndarray]

INSIGHTS_JSON = "insights.json"
CLASSIFY_BATCH = 256
QUOTES_PER_POLARITY = 3
QUOTE_CHARS = 200
MIN_MENTIONS = 5  # fewer mentions than this (or 1% of the group's sentences) is not summarised
PRAISE_SHARE = 0.6
COMPLAINT_SHARE = 0.35


@dataclass
class InsightsResult:
    """Where the outputs went, and the headline counts."""

    out_dir: Path
    json_path: Path
    html_path: Path
    chart_paths: list[Path]
    n_reviews: int
    n_sentences: int
    products: list[str] = field(default_factory=list)
    n_skipped: int = 0


@dataclass
class _Reviews:
    texts: list[str]
    products: list[str]  # product key per review ("" when blank / no product column)
    product_names: dict[str, str]
    skin_types: list[str]  # "" when blank / no skin-type column
    n_rows: int
    n_blank: int


def run_insights(
    csv_path: str | Path,
    out_dir: str | Path,
    *,
    classify: Classifier,
    labels: Sequence[str],
    text_col: str = "text",
    product_col: str | None = "product_id",
    product_name_col: str | None = "product_name",
    skin_type_col: str | None = "skin_type",
    top_products: int | None = 5,
    aspects: Sequence[Aspect] | Mapping[str, Any] | str | Path | None = None,
    embed: Embedder | None = None,
    progress: bool = False,
    positive_label: str | None = None,
    negative_label: str | None = None,
) -> InsightsResult:
    """Aspect-level consumer insight for a reviews CSV; see the module docstring.

    ``classify`` gets lists of texts (reviews, then sentences) and returns class
    probabilities in ``labels`` order. The positive and negative classes are the labels
    starting with "pos" / "neg" unless named. ``top_products`` limits the per-product
    breakdown to the most-reviewed products (``None``: all). ``aspects`` is a list of
    :class:`Aspect`, a ``name -> descriptions`` mapping or a JSON file (default: the
    built-in, calibrated aspects). ``product_name_col`` and ``skin_type_col`` are
    optional: when the CSV lacks them, products are shown by id and the skin-type
    breakdown is left out.
    """
    labels = [str(label) for label in labels]
    pos, neg = _polarity(labels, positive_label, negative_label)
    detector = AspectDetector(
        embed if embed is not None else SentenceEmbedder(progress=progress), _aspects(aspects)
    )
    reviews = read_reviews(csv_path, text_col, product_col, product_name_col, skin_type_col)

    review_probs = _classify(classify, reviews.texts, len(labels), progress, "classifying reviews")
    per_review = [split_sentences(t) for t in reviews.texts]
    sentences = [s for ss in per_review for s in ss]
    owner = np.array([i for i, ss in enumerate(per_review) for _ in ss], dtype=np.int64)
    sims = detector.similarities(sentences)
    hits = sims >= detector.thresholds
    sent_probs = np.full((len(sentences), len(labels)), np.nan)
    mentioned = np.flatnonzero(hits.any(axis=1))
    sent_probs[mentioned] = _classify_unique(
        classify, [sentences[i] for i in mentioned], len(labels), progress, "classifying sentences"
    )

    ctx = _Context(labels, pos, neg, sentences, owner, sims, hits, sent_probs, review_probs, detector.names)
    all_idx = np.arange(len(reviews.texts))
    overall = ctx.group("overall", "All reviews", "overall", all_idx)
    product_groups = _product_groups(ctx, reviews, top_products)
    skin_groups = _skin_type_groups(ctx, reviews)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "source": str(csv_path),
        "version": __version__,
        "labels": labels,
        "polarity": {"positive": labels[pos], "negative": labels[neg]},
        "n_rows": reviews.n_rows,
        "n_reviews": len(reviews.texts),
        "n_skipped_blank": reviews.n_blank,
        "n_sentences": len(sentences),
        "n_sentences_with_aspect": len(mentioned),
        "n_products_total": len({p for p in reviews.products if p}),
        "columns": {
            "text": text_col,
            "product": product_col,
            "product_name": product_name_col,
            "skin_type": skin_type_col if any(reviews.skin_types) else None,
        },
        "aspects": [
            {"name": a.name, "descriptions": list(a.descriptions), "threshold": float(t)}
            for a, t in zip(detector.aspects, detector.thresholds, strict=True)
        ],
        "overall": overall,
        "products": product_groups,
        "skin_types": skin_groups,
    }
    json_path = out / INSIGHTS_JSON
    write_json_atomic(json_path, doc)

    from beautytune.insights.report import write_insights_report

    html_path, charts = write_insights_report(out, doc)
    return InsightsResult(
        out_dir=out,
        json_path=json_path,
        html_path=html_path,
        chart_paths=charts,
        n_reviews=len(reviews.texts),
        n_sentences=len(sentences),
        products=[g["name"] for g in product_groups],
        n_skipped=reviews.n_blank,
    )


# --------------------------------------------------------------------------- input


def read_reviews(
    csv_path: str | Path,
    text_col: str = "text",
    product_col: str | None = "product_id",
    product_name_col: str | None = "product_name",
    skin_type_col: str | None = "skin_type",
) -> _Reviews:
    """Read the reviews; undecodable bytes become U+FFFD instead of stopping the run."""
    path = Path(csv_path)
    if not path.is_file():
        raise DataError(f"reviews CSV not found: {path}")
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh)
        columns = list(reader.fieldnames or [])
        for role, col in (("text", text_col), ("product", product_col)):
            if col is not None and col not in columns:
                raise DataError(
                    f"{path}: no {role} column '{col}'; columns are: {', '.join(columns) or '(none: empty file)'}"
                )
        name_col = product_name_col if product_name_col in columns else None
        skin_col = skin_type_col if skin_type_col in columns else None
        texts, products, skins = [], [], []
        names: dict[str, Counter[str]] = {}
        n_rows = n_blank = 0
        try:
            for row in reader:
                n_rows += 1
                text = (row.get(text_col) or "").strip()
                if not text:
                    n_blank += 1
                    continue
                product = (row.get(product_col) or "").strip() if product_col else ""
                texts.append(text)
                products.append(product)
                skins.append((row.get(skin_col) or "").strip() if skin_col else "")
                if product and name_col:
                    name = (row.get(name_col) or "").strip()
                    if name:
                        names.setdefault(product, Counter())[name] += 1
        except csv.Error as err:
            raise DataError(f"{path}: malformed CSV near line {reader.line_num}: {err}") from None
    if not texts:
        raise DataError(f"{path}: no non-blank reviews in column '{text_col}' ({n_rows} rows)")
    product_names = {p: c.most_common(1)[0][0] for p, c in names.items()}
    return _Reviews(texts, products, product_names, skins, n_rows, n_blank)


def _aspects(aspects: Sequence[Aspect] | Mapping[str, Any] | str | Path | None) -> list[Aspect]:
    if aspects is None or isinstance(aspects, (str, Path)):
        return load_aspects(aspects)
    if isinstance(aspects, Mapping):
        return parse_aspects(aspects)
    return list(aspects)


def _polarity(labels: list[str], positive: str | None, negative: str | None) -> tuple[int, int]:
    def find(given: str | None, prefix: str, role: str) -> int:
        if given is not None:
            if given not in labels:
                raise ValueError(f"{role} label '{given}' is not one of {labels}")
            return labels.index(given)
        found = [i for i, label in enumerate(labels) if label.lower().startswith(prefix)]
        if len(found) != 1:
            raise ValueError(f"cannot tell the {role} class among {labels}: pass {role}_label=")
        return found[0]

    pos, neg = find(positive, "pos", "positive"), find(negative, "neg", "negative")
    if pos == neg:
        raise ValueError("positive and negative labels must differ")
    return pos, neg


def _classify(classify: Classifier, texts: list[str], n_labels: int, progress: bool, what: str) -> np.ndarray:
    """Call ``classify`` in batches and check it really returned probabilities."""
    out = np.zeros((len(texts), n_labels))
    starts: Any = range(0, len(texts), CLASSIFY_BATCH)
    if progress and len(texts) > CLASSIFY_BATCH:
        from rich.progress import track

        starts = track(starts, description=what, transient=True)
    for start in starts:
        batch = texts[start : start + CLASSIFY_BATCH]
        probs = np.asarray(classify(batch), dtype=np.float64)
        if probs.shape != (len(batch), n_labels):
            raise ValueError(
                f"classify returned shape {probs.shape} for {len(batch)} texts and {n_labels} labels"
            )
        if (
            not np.isfinite(probs).all()
            or (probs < -1e-6).any()
            or np.abs(probs.sum(axis=1) - 1).max() > 1e-3
        ):
            raise ValueError(
                "classify must return probabilities (non-negative, rows summing to 1), not logits"
            )
        out[start : start + len(batch)] = probs
    return out


def _classify_unique(
    classify: Classifier, texts: list[str], n_labels: int, progress: bool, what: str
) -> np.ndarray:
    unique = list(dict.fromkeys(texts))
    probs = _classify(classify, unique, n_labels, progress, what)
    where = {t: i for i, t in enumerate(unique)}
    return probs[[where[t] for t in texts]] if texts else probs


# --------------------------------------------------------------------------- aggregation


@dataclass
class _Context:
    labels: list[str]
    pos: int
    neg: int
    sentences: list[str]
    owner: np.ndarray  # review index of each sentence
    sims: np.ndarray
    hits: np.ndarray
    sent_probs: np.ndarray
    review_probs: np.ndarray
    aspect_names: list[str]

    def group(self, key: str, name: str, kind: str, review_idx: np.ndarray) -> dict[str, Any]:
        """All figures for one set of reviews (overall, a product, a skin type)."""
        in_group = np.isin(self.owner, review_idx)
        sent_idx = np.flatnonzero(in_group)
        n_reviews = len(review_idx)
        min_mentions = max(MIN_MENTIONS, math.ceil(0.01 * len(sent_idx)))
        aspects = [self._aspect(j, sent_idx, n_reviews) for j in range(len(self.aspect_names))]
        aspects.sort(key=lambda a: (-a["mentions"], a["name"]))
        return {
            "key": key,
            "name": name,
            "kind": kind,
            "n_reviews": n_reviews,
            "n_sentences": len(sent_idx),
            "sentiment": self._distribution(self.review_probs[review_idx]),
            "min_mentions": min_mentions,
            "summary": summarize(aspects, min_mentions, self.labels[self.pos], self.labels[self.neg]),
            "aspects": aspects,
        }

    def _aspect(self, j: int, sent_idx: np.ndarray, n_reviews: int) -> dict[str, Any]:
        idx = sent_idx[self.hits[sent_idx, j]]
        dist = self._distribution(self.sent_probs[idx])
        shares = dist["shares"]
        n_mentioning = len(np.unique(self.owner[idx]))
        return {
            "name": self.aspect_names[j],
            "mentions": len(idx),
            "reviews": n_mentioning,
            "review_share": n_mentioning / n_reviews if n_reviews else 0.0,
            "sentiment": dist,
            "net": (shares[self.labels[self.pos]] - shares[self.labels[self.neg]]) if len(idx) else None,
            "quotes": {
                "positive": self._quotes(idx, j, self.pos),
                "negative": self._quotes(idx, j, self.neg),
            },
        }

    def _distribution(self, probs: np.ndarray) -> dict[str, Any]:
        pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
        counts = np.bincount(pred, minlength=len(self.labels))
        total = max(int(counts.sum()), 1)
        return {
            "counts": {label: int(c) for label, c in zip(self.labels, counts, strict=True)},
            "shares": {label: float(c) / total for label, c in zip(self.labels, counts, strict=True)},
        }

    def _quotes(self, idx: np.ndarray, j: int, cls: int) -> list[dict[str, Any]]:
        """The clearest confident sentences of class ``cls`` about aspect ``j``.

        "Most confident" alone picks long, gushing sentences that barely touch the
        aspect, so candidates are first limited to the more aspect-like half (by
        similarity) and to sentences short enough to quote whole; among those the
        classifier's confidence (to 0.1) decides, then similarity.
        """
        if not len(idx):
            return []
        mine = idx[self.sent_probs[idx].argmax(axis=1) == cls]
        if len(mine) >= 2 * QUOTES_PER_POLARITY:
            mine = mine[self.sims[mine, j] >= np.median(self.sims[mine, j])]
        order = sorted(
            mine,
            key=lambda i: (
                len(self.sentences[i]) > QUOTE_CHARS,
                -round(float(self.sent_probs[i, cls]), 1),
                -float(self.sims[i, j]),
                i,
            ),
        )
        quotes: list[dict[str, Any]] = []
        seen: set[str] = set()
        for i in order:
            text = trim_quote(self.sentences[i])
            if text.lower() in seen:
                continue
            seen.add(text.lower())
            quotes.append(
                {
                    "text": text,
                    "confidence": float(self.sent_probs[i, cls]),
                    "similarity": float(self.sims[i, j]),
                    "review": int(self.owner[i]),
                }
            )
            if len(quotes) == QUOTES_PER_POLARITY:
                break
        return quotes


def _product_groups(ctx: _Context, reviews: _Reviews, top: int | None) -> list[dict[str, Any]]:
    counts = Counter(p for p in reviews.products if p)
    chosen = counts.most_common(top) if top is not None else counts.most_common()
    products = np.array(reviews.products, dtype=object)
    groups = []
    for key, _ in chosen:
        group = ctx.group(
            key, reviews.product_names.get(key, key), "product", np.flatnonzero(products == key)
        )
        groups.append(group)
    return groups


def _skin_type_groups(ctx: _Context, reviews: _Reviews) -> list[dict[str, Any]]:
    counts = Counter(s for s in reviews.skin_types if s)
    skins = np.array(reviews.skin_types, dtype=object)
    return [ctx.group(k, k, "skin_type", np.flatnonzero(skins == k)) for k, _ in counts.most_common()]


# --------------------------------------------------------------------------- text


def summarize(aspects: Sequence[Mapping[str, Any]], min_mentions: int, pos_label: str, neg_label: str) -> str:
    """One line a person can act on: what customers praise, complain about, disagree on."""
    eligible = [a for a in aspects if a["mentions"] >= min_mentions]
    if not eligible:
        return f"no aspect is mentioned often enough (at least {min_mentions} times) to summarise"

    def share(a: Mapping[str, Any], label: str) -> float:
        return float(a["sentiment"]["shares"][label])

    complaints = [a for a in eligible if share(a, neg_label) >= COMPLAINT_SHARE]
    praise = [a for a in eligible if share(a, pos_label) >= PRAISE_SHARE and a not in complaints]
    mixed = [
        a
        for a in eligible
        if a not in complaints
        and a not in praise
        and share(a, pos_label) >= 0.3
        and share(a, neg_label) >= 0.2
    ]
    complaints.sort(key=lambda a: -a["sentiment"]["counts"][neg_label])
    praise.sort(key=lambda a: -a["sentiment"]["counts"][pos_label])
    mixed.sort(key=lambda a: -a["mentions"])

    def item(a: Mapping[str, Any], label: str, word: str) -> str:
        return f"{a['name']} ({share(a, label):.0%} {word}, {a['mentions']} mentions)"

    parts = []
    shown = praise[:3] + complaints[:2] + mixed[:1]
    top = max(eligible, key=lambda a: a["mentions"])
    if all(a is not top for a in shown):  # the most discussed aspect must not go unsaid
        parts.append(
            f"talk most about {top['name']} ({top['mentions']} mentions: {share(top, pos_label):.0%} "
            f"positive, {share(top, neg_label):.0%} negative)"
        )
    if praise:
        parts.append("praise " + _join([item(a, pos_label, "positive") for a in praise[:3]]))
    if complaints:
        parts.append("complain about " + _join([item(a, neg_label, "negative") for a in complaints[:2]]))
    if mixed:
        a = mixed[0]
        parts.append(
            f"are split on {a['name']} ({share(a, pos_label):.0%} positive, "
            f"{share(a, neg_label):.0%} negative, {a['mentions']} mentions)"
        )
    return "customers " + ("; ".join(parts[:-1]) + " and " if len(parts) > 1 else "") + parts[-1]


def trim_quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """At most ``limit`` characters, cut at a word boundary with an ellipsis."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "…"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
