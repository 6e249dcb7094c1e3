"""Text baselines: majority class, VADER and TF-IDF + LR."""

from __future__ import annotations

import csv
import time

import numpy as np
import pytest

from beautytune.errors import DataError
from beautytune.evaluate.baselines import BaselineResult, text_baselines
from conftest import shared_dataset

SENTIMENT = ["negative", "neutral", "positive"]

POSITIVE = [
    "I love this moisturizer, my skin feels amazing and soft.",
    "Amazing cream, I love how soft and glowing my skin is now.",
    "Best serum ever, my skin looks great and I love it.",
    "This cleanser is wonderful, gentle and my skin feels great.",
    "I love this mask, it leaves my skin soft and amazing.",
    "Great product, wonderful smell and my skin is glowing.",
    "Absolutely love it, the best eye cream I have tried, amazing.",
    "Wonderful toner, my skin feels great and looks amazing.",
    "I love this sunscreen, great texture and my skin feels soft.",
    "Fantastic lotion, I love it, my skin is soft and happy.",
    "The best lip balm, I love it, great and soft lips.",
    "Amazing results, I love this serum and my skin looks great.",
    "Really great cream, wonderful and soft, I love it.",
    "Love love love this, my skin is glowing and amazing.",
]
NEGATIVE = [
    "I hate this cream, it broke me out and burned my skin.",
    "Terrible serum, my skin is red and irritated, awful.",
    "Awful cleanser, it burned and left my skin dry and irritated.",
    "Worst product ever, I hate it, it broke me out badly.",
    "This mask burned my face, terrible and awful, I hate it.",
    "Horrible smell and it irritated my skin, the worst.",
    "I hate this toner, my skin is dry, red and irritated.",
    "Terrible sunscreen, it broke me out and burned, awful.",
    "The worst eye cream, it irritated my eyes, I hate it.",
    "Awful lotion, my skin broke out and is red, terrible.",
    "Horrible, it burned my skin and I hate it, the worst.",
    "Terrible and awful, my skin is irritated and broke out.",
    "I hate it, the worst serum, my face is red and burned.",
]
NEUTRAL = [
    "The cream comes in a jar with a pump.",
    "It is a serum in a glass bottle with a dropper.",
    "The cleanser comes in a tube and has a gel texture.",
    "This toner is in a plastic bottle and has no scent.",
    "The mask comes in a jar and is a clay texture.",
    "It is a lotion in a tube with a flip cap.",
    "The sunscreen is in a tube and has a cream texture.",
    "This eye cream comes in a small jar with a spatula.",
    "The balm is in a tin and has a wax texture.",
    "It comes in a bottle with a pump and has no scent.",
    "The serum is in a bottle and has a gel texture.",
    "This cream is in a tube with a cap.",
    "The product is in a jar and has a light texture.",
]


def _split(held_out_every: int = 4) -> tuple[list[str], list[str], list[str], list[str]]:
    rows = [(t, "positive") for t in POSITIVE] + [(t, "negative") for t in NEGATIVE]
    rows += [(t, "neutral") for t in NEUTRAL]
    train = [r for i, r in enumerate(rows) if i % held_out_every]
    test = [r for i, r in enumerate(rows) if not i % held_out_every]
    return [t for t, _ in train], [y for _, y in train], [t for t, _ in test], [y for _, y in test]


def _accuracy(result: BaselineResult, test_labels: list[str], labels: list[str]) -> float:
    predicted = [labels[i] for i in result.probs.argmax(axis=1)]
    return float(np.mean([p == y for p, y in zip(predicted, test_labels, strict=True)]))


def test_three_baselines_in_order_with_aligned_probs() -> None:
    train_x, train_y, test_x, test_y = _split()
    labels = ["positive", "neutral", "negative"]  # not sorted: every probs column must follow this
    results = text_baselines(train_x, train_y, test_x, labels)
    assert [r.name for r in results] == ["majority class", "VADER", "TF-IDF + LR"]
    for r in results:
        assert r.probs.shape == (len(test_x), 3)
        assert np.allclose(r.probs.sum(axis=1), 1.0)
        assert r.seconds >= 0.0
    # Majority: argmax is the most frequent training label, for every row.
    counts = {name: train_y.count(name) for name in labels}
    majority = max(labels, key=lambda name: counts[name])
    assert {labels[i] for i in results[0].probs.argmax(axis=1)} == {majority}
    assert majority in results[0].note
    # TF-IDF + LR learns the shared vocabulary and beats the floor clearly.
    assert _accuracy(results[2], test_y, labels) >= 0.9
    assert _accuracy(results[2], test_y, labels) > _accuracy(results[0], test_y, labels) + 0.3


def test_vader_gets_clear_cases_right() -> None:
    texts = [
        "I love this, it is amazing and wonderful!",
        "Terrible, awful product, I hate it.",
        "The cream comes in a jar.",
    ]
    results = text_baselines(
        ["cream good", "cream bad", "cream jar"], ["positive", "negative", "neutral"], texts, SENTIMENT
    )
    vader = next(r for r in results if r.name == "VADER")
    assert [SENTIMENT[i] for i in vader.probs.argmax(axis=1)] == ["positive", "negative", "neutral"]
    assert set(np.unique(vader.probs)) <= {0.0, 1.0}
    # And on the whole hand-written set it is mostly right (no training involved).
    _, _, test_x, test_y = _split(held_out_every=1)
    vader = text_baselines(["cream good", "cream bad"], ["positive", "negative"], test_x, SENTIMENT)[1]
    assert _accuracy(vader, test_y, SENTIMENT) >= 0.9


def test_binary_label_set() -> None:
    rows = [(t, "positive") for t in POSITIVE] + [(t, "negative") for t in NEGATIVE]
    train = rows[1::2]
    test = [*rows[0::2], ("The cream comes in a jar.", "positive")]
    labels = ["negative", "positive"]
    results = text_baselines([t for t, _ in train], [y for _, y in train], [t for t, _ in test], labels)
    assert [r.name for r in results] == ["majority class", "VADER", "TF-IDF + LR"]
    vader = results[1]
    assert vader.probs.shape == (len(test), 2)
    assert "neutral" in vader.note and "sign" in vader.note
    # A compound of exactly 0 (no sentiment words) folds to positive.
    assert labels[int(vader.probs[-1].argmax())] == "positive"
    assert _accuracy(vader, [y for _, y in test], labels) >= 0.9
    assert _accuracy(results[2], [y for _, y in test], labels) >= 0.9


def test_other_label_set_leaves_vader_out_and_unseen_label_gets_zero() -> None:
    train_x, train_y, test_x, _ = _split()
    rename = {"positive": "moisturizer", "negative": "cleanser", "neutral": "serum"}
    labels = ["cleanser", "moisturizer", "serum", "toner"]  # "toner" never occurs in training
    results = text_baselines(train_x, [rename[y] for y in train_y], test_x, labels)
    assert [r.name for r in results] == ["majority class", "TF-IDF + LR"]
    for r in results:
        assert r.probs.shape == (len(test_x), 4)
        assert np.all(r.probs[:, 3] == 0.0)
    # Sentiment names plus an extra label is not a sentiment label set either.
    results = text_baselines(train_x, train_y, test_x, [*SENTIMENT, "mixed"])
    assert "VADER" not in [r.name for r in results]


def test_training_label_outside_the_label_list_is_an_error() -> None:
    with pytest.raises(DataError, match="not in the label list"):
        text_baselines(["good", "bad"], ["positive", "negative"], ["ok"], ["positive", "neutral"])


def _rating_label(rating: int) -> str:
    return "negative" if rating <= 2 else "neutral" if rating == 3 else "positive"


@pytest.mark.shared
@pytest.mark.slow
def test_sephora_reference_figures() -> None:
    """SOURCE.md: 5-fold GroupKFold by product_id, macro-F1 0.300 / 0.473 / 0.670."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GroupKFold

    path = shared_dataset("sephora_reviews") / "reviews.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    texts = [r["text"] for r in rows]
    y = np.array([_rating_label(int(r["rating"])) for r in rows])
    groups = [r["product_id"] for r in rows]
    assert len(rows) == 9956

    start = time.perf_counter()
    scores: dict[str, list[float]] = {}
    for train_idx, test_idx in GroupKFold(n_splits=5).split(texts, y, groups):
        results = text_baselines(
            [texts[i] for i in train_idx], list(y[train_idx]), [texts[i] for i in test_idx], SENTIMENT
        )
        for r in results:
            predicted = np.array(SENTIMENT)[r.probs.argmax(axis=1)]
            scores.setdefault(r.name, []).append(
                float(f1_score(y[test_idx], predicted, average="macro", labels=SENTIMENT))
            )
    means = {name: float(np.mean(v)) for name, v in scores.items()}
    print(means, f"{time.perf_counter() - start:.1f}s")
    assert means["majority class"] == pytest.approx(0.300, abs=0.03)
    assert means["VADER"] == pytest.approx(0.473, abs=0.03)
    assert means["TF-IDF + LR"] == pytest.approx(0.670, abs=0.03)
