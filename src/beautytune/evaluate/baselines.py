"""Reference baselines for text classification, to put a fine-tuned model's numbers in context.

Three baselines, each answering a different question about a fine-tuned text model:

* **majority class**: the floor. It predicts the most frequent training label for every
  review. On skewed data (most beauty reviews are 4-5 stars) it already has high accuracy,
  so its macro-F1 shows what "learned nothing" looks like.
* **VADER**: a rule-based sentiment lexicon (Hutto & Gilbert, 2014) that needs no training.
  It shows what off-the-shelf sentiment gives, and only applies when the labels *are*
  sentiment (negative/neutral/positive, or negative/positive).
* **TF-IDF + LR**: word and bigram TF-IDF features with a class-balanced logistic regression.
  This is the strong classical baseline. It trains in seconds and is hard to beat on review
  text. A fine-tuned encoder is only worth its cost if it beats this one clearly.

Each baseline returns probabilities in the caller's label order, so the same metrics code
that scores the model can score the baselines.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from beautytune.data.records import Record
from beautytune.errors import DataError

# VADER's conventional thresholds on the compound score (from the vaderSentiment README).
VADER_POS = 0.05
VADER_NEG = -0.05

_THREE_WAY = frozenset({"negative", "neutral", "positive"})
_BINARY = frozenset({"negative", "positive"})


@dataclass
class BaselineResult:
    """One baseline's test-set probabilities and the time it took (fit + predict)."""

    name: str
    probs: np.ndarray  # (n_test, n_labels) in the given label order
    seconds: float
    note: str = ""


def text_baselines(
    train_texts: list[str],
    train_labels: list[str],
    test_texts: list[str],
    labels: list[str],
    seed: int = 0,
) -> list[BaselineResult]:
    """Majority class, VADER (sentiment label sets only) and TF-IDF + LR, in that order.

    ``labels`` fixes the column order of every ``probs`` array. A label in ``labels`` that does
    not occur in training gets probability 0 from the trained baselines.
    """
    if len(train_texts) != len(train_labels):
        raise DataError(f"{len(train_texts)} training texts but {len(train_labels)} labels")
    if not train_texts:
        raise DataError("no training texts for the baselines")
    if len(set(labels)) != len(labels):
        raise DataError(f"duplicate names in the label list {labels}")
    unknown = sorted(set(train_labels) - set(labels))
    if unknown:
        raise DataError(f"training labels {unknown} are not in the label list {labels}")

    results = [_majority(train_labels, len(test_texts), labels)]
    if frozenset(labels) in (_THREE_WAY, _BINARY):
        results.append(_vader(test_texts, labels))
    results.append(_tfidf_lr(train_texts, train_labels, test_texts, labels, seed))
    return results


def _majority(train_labels: list[str], n_test: int, labels: list[str]) -> BaselineResult:
    start = time.perf_counter()
    counts = Counter(train_labels)
    prior = np.array([counts.get(name, 0) for name in labels], dtype=np.float64)
    prior /= prior.sum()
    # np.argmax takes the first maximum, so a tie goes to the earlier label in `labels`.
    majority = labels[int(np.argmax(prior))]
    probs = np.tile(prior, (n_test, 1))
    return BaselineResult(
        "majority class",
        probs,
        time.perf_counter() - start,
        note=f"predicts '{majority}' for every item; probabilities are the training label prior",
    )


def vader_label(compound: float, binary: bool) -> str:
    """The label for one VADER compound score (binary: neutral goes to the side of its sign)."""
    if binary:
        return "positive" if compound >= 0.0 else "negative"
    if compound >= VADER_POS:
        return "positive"
    if compound <= VADER_NEG:
        return "negative"
    return "neutral"


def _vader(test_texts: list[str], labels: list[str]) -> BaselineResult:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    start = time.perf_counter()
    binary = frozenset(labels) == _BINARY
    analyzer = SentimentIntensityAnalyzer()
    column = {name: i for i, name in enumerate(labels)}
    probs = np.zeros((len(test_texts), len(labels)), dtype=np.float64)
    for row, text in enumerate(test_texts):
        compound = float(analyzer.polarity_scores(text)["compound"])
        probs[row, column[vader_label(compound, binary)]] = 1.0
    if binary:
        note = "compound >= 0 -> positive, < 0 -> negative (the neutral band folds to the side of its sign)"
    else:
        note = f"compound >= {VADER_POS} -> positive, <= {VADER_NEG} -> negative, else neutral"
    return BaselineResult("VADER", probs, time.perf_counter() - start, note=note + "; one-hot probabilities")


def _tfidf_lr(
    train_texts: list[str],
    train_labels: list[str],
    test_texts: list[str],
    labels: list[str],
    seed: int,
) -> BaselineResult:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    column = {name: i for i, name in enumerate(labels)}
    probs = np.zeros((len(test_texts), len(labels)), dtype=np.float64)
    seen = sorted(set(train_labels))
    if len(seen) < 2:
        # LogisticRegression needs two classes; with one, it is the only possible answer.
        probs[:, column[seen[0]]] = 1.0
        return BaselineResult(
            "TF-IDF + LR", probs, time.perf_counter() - start, note=f"only '{seen[0]}' in training"
        )
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    try:
        features = vectorizer.fit_transform(train_texts)
    except ValueError as exc:  # e.g. no term occurs in two training texts
        raise DataError(f"TF-IDF baseline: {exc}") from exc
    model = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=seed)
    model.fit(features, train_labels)
    if len(test_texts):
        predicted = model.predict_proba(vectorizer.transform(test_texts))
        for j, name in enumerate(model.classes_):
            probs[:, column[str(name)]] = predicted[:, j]
    return BaselineResult(
        "TF-IDF + LR",
        probs,
        time.perf_counter() - start,
        note="TfidfVectorizer(1-2-grams, min_df=2, sublinear_tf) + LogisticRegression(class_weight='balanced')",
    )


def split_baselines(task: object, records: list[Record], labels: list[str]) -> list[BaselineResult]:
    """The text baselines of a run's split: trained on train+val, probabilities on test.

    Examples without text (images) have no text baselines: an empty list.
    """
    if not records or any(r.text is None for r in records):
        return []
    train = [r for r in records if r.split in ("train", "val")]
    test = [r for r in records if r.split == "test"]
    if not train or not test:
        return []
    results = text_baselines(
        [r.text or "" for r in train], [r.label for r in train], [r.text or "" for r in test], labels
    )
    for b in results:
        b.name = f"baseline: {b.name}"
    return results
