"""Each strategy trains exactly the parameters it says, at the learning rates it says."""

from __future__ import annotations

import pytest

from beautytune.api import run_config
from beautytune.config import RunConfig
from beautytune.errors import BeautytuneError
from beautytune.models.network import build_classifier
from beautytune.models.registry import get_spec
from beautytune.strategies import get_strategy
from beautytune.strategies.base import GradientStrategy


def _setup(strategy: str, **kw: object) -> tuple[object, list[dict[str, object]], RunConfig]:
    cfg = run_config("-", "-", backbone="test_efficientnet", init="random", strategy=strategy, **kw)
    model, _ = build_classifier(get_spec("test_efficientnet"), 4, init="random")
    s = get_strategy(strategy, cfg.strategy_options)
    groups = s.param_groups(model, cfg) if isinstance(s, GradientStrategy) else []
    return model, groups, cfg


def _trainable(module: object) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)  # type: ignore[attr-defined]


def test_head_freezes_backbone() -> None:
    model, groups, cfg = _setup("head")
    assert _trainable(model.backbone) == 0  # type: ignore[attr-defined]
    assert _trainable(model.head) > 0  # type: ignore[attr-defined]
    assert [g["lr"] for g in groups] == [cfg.lr]


def test_full_trains_everything_backbone_slower() -> None:
    model, groups, cfg = _setup("full", backbone_lr_mult=0.1)
    assert _trainable(model) == sum(p.numel() for p in model.parameters())  # type: ignore[attr-defined]
    lrs = {g["name"]: g["lr"] for g in groups}
    assert lrs["backbone"] == pytest.approx(cfg.lr * 0.1) and lrs["head"] == cfg.lr


@pytest.mark.parametrize("n", [1, 2, 3])
def test_partial_unfreezes_last_n_groups(n: int) -> None:
    model, groups, _ = _setup("partial", unfreeze_blocks=n)
    layer_groups = model.layer_groups()  # type: ignore[attr-defined]
    for i, g in enumerate(layer_groups):
        expected = i >= len(layer_groups) - n
        assert all(p.requires_grad == expected for p in g), (i, n)
    assert {g["name"] for g in groups} == {"backbone", "head"}


def test_features_is_not_a_gradient_strategy() -> None:
    assert not isinstance(get_strategy("features"), GradientStrategy)


def test_features_head_reproduces_sklearn() -> None:
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 256)) * 3 + 1
    y = np.repeat(np.arange(4), 15)
    x[np.arange(60), y] += 4
    model, _, _cfg = _setup("features")
    get_strategy("features").fit_head(model, x, y)  # type: ignore[attr-defined]
    with torch.no_grad():
        logits = model.head(torch.tensor(x, dtype=torch.float32)).numpy()  # type: ignore[attr-defined]
    scaler = StandardScaler().fit(x)
    ref = LogisticRegression(C=0.5, class_weight="balanced", max_iter=3000).fit(scaler.transform(x), y)
    expected = ref.predict_proba(scaler.transform(x))
    got = torch.softmax(torch.tensor(logits), 1).numpy()
    assert np.abs(got - expected).max() < 1e-3


def test_unknown_strategy_names_choices() -> None:
    with pytest.raises(BeautytuneError, match="features, head, partial, full, lora"):
        get_strategy("everything")


def test_features_svm_head_predicts_like_sklearn() -> None:
    import numpy as np
    import torch

    rng = np.random.default_rng(1)
    x = rng.normal(size=(45, 256))
    y = np.repeat(np.arange(3), 15)
    x[np.arange(45), y] += 5
    model, _, cfg = _setup("features", classifier="svm")
    info = get_strategy("features", cfg.strategy_options).fit_head(model, x, y)  # type: ignore[attr-defined]
    assert info["classifier"] == "svm"
    with torch.no_grad():
        pred = model.head(torch.tensor(x, dtype=torch.float32)).argmax(1).numpy()  # type: ignore[attr-defined]
    assert (pred == y).mean() > 0.95
