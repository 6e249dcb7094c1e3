"""Each strategy trains exactly the parameters it says, at the learning rates it says."""

from __future__ import annotations

from itertools import pairwise

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


def test_a_near_constant_feature_gets_no_huge_weight() -> None:
    # all-MiniLM-L6-v2 has a pooled dimension at std 1e-9: folded without a floor its head
    # weight was ~1e9 times the rest, and lp-ft's first fine-tuning step blew the logits up
    import numpy as np
    import torch

    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 256)) * 0.1
    y = np.repeat(np.arange(4), 15)
    x[np.arange(60), y] += 0.4
    x[:, 200] = -1e-7 + rng.normal(size=60) * 1e-9
    model, _, _cfg = _setup("features")
    get_strategy("features").fit_head(model, x, y)  # type: ignore[attr-defined]
    w = model.fc.weight.detach().abs()
    assert float(w[:, 200].max()) < 10 * float(w[:, :200].max())
    moved = torch.tensor(x, dtype=torch.float32)
    moved[:, 200] += 1e-3  # what one fine-tuning step may do to that dimension
    with torch.no_grad():
        shift = (model.head(moved) - model.head(torch.tensor(x, dtype=torch.float32))).abs().max()  # type: ignore[attr-defined]
    assert float(shift) < 1.0
    with torch.no_grad():
        pred = model.head(torch.tensor(x, dtype=torch.float32)).argmax(1).numpy()  # type: ignore[attr-defined]
    assert (pred == y).mean() > 0.9


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


# --------------------------------------------------------------------------- parameter level
# Each strategy's groups go through the optimizer the training loop builds
# (split_weight_decay + AdamW); a few real steps, then exactly the claimed parameters moved.


def _steps(model: object, groups: list[dict[str, object]], cfg: RunConfig, n: int = 2) -> None:
    import torch

    from beautytune.train.module import split_weight_decay

    opt = torch.optim.AdamW(split_weight_decay(model, groups, 0.05), lr=cfg.lr)  # type: ignore[arg-type]
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 4, (8,), generator=g)
    model.train()  # type: ignore[attr-defined]
    for _ in range(n):
        loss = torch.nn.functional.cross_entropy(model(pixel_values=x), y)  # type: ignore[operator]
        opt.zero_grad()
        loss.backward()
        opt.step()


def _snapshot(model: object) -> dict[str, object]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}  # type: ignore[attr-defined]


def _moved(model: object, before: dict[str, object]) -> set[str]:
    import torch

    return {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}  # type: ignore[attr-defined]


def _names(model: object, params: list[object]) -> set[str]:
    ids = {id(p) for p in params}
    return {n for n, p in model.named_parameters() if id(p) in ids}  # type: ignore[attr-defined]


def test_bitfit_trains_biases_norms_and_head_only() -> None:
    model, groups, cfg = _setup("bitfit")
    before = _snapshot(model)
    _steps(model, groups, cfg)
    moved = _moved(model, before)
    one_d = {f"backbone.{n}" for n, p in model.backbone.named_parameters() if p.ndim == 1}  # type: ignore[attr-defined]
    assert one_d and {n for n in moved if n.startswith("backbone.")} == one_d
    conv_weights = {n for n, p in model.named_parameters() if p.ndim == 4}  # type: ignore[attr-defined]
    assert conv_weights and not (moved & conv_weights)  # no convolution kernel changed
    assert {n for n in moved if n.startswith("head.")} == {n for n in before if n.startswith("head.")}


def test_llrd_trains_everything_with_lr_decaying_towards_the_input() -> None:
    model, groups, cfg = _setup("llrd", layer_decay=0.5, backbone_lr_mult=1.0)
    backbone = [g for g in groups if str(g["name"]).startswith("backbone_")]
    lrs = sorted({round(float(g["lr"]), 12) for g in backbone})  # type: ignore[arg-type]
    assert lrs[-1] == pytest.approx(cfg.lr) and len(lrs) >= 3
    assert all(b / a == pytest.approx(2.0) for a, b in pairwise(lrs))  # x0.5 per layer
    stem = next(
        float(g["lr"]) for g in backbone if _names(model, g["params"]) & {"backbone.conv_stem.weight"}
    )  # type: ignore[arg-type]
    assert stem == lrs[0]  # the layer nearest the input learns slowest
    before = _snapshot(model)
    _steps(model, groups, cfg)
    assert _moved(model, before) == set(before)


def test_gradual_trains_the_head_first_then_unfreezes_from_the_top() -> None:
    from types import SimpleNamespace

    model, groups, cfg = _setup("gradual", head_epochs=1, unfreeze_every=1, group_lr_decay=0.5)
    s = get_strategy("gradual", cfg.strategy_options)
    s.param_groups(model, cfg)  # type: ignore[attr-defined]
    callback = s.callbacks(cfg)[0]  # type: ignore[attr-defined]
    layer_groups = model.layer_groups()  # type: ignore[attr-defined]
    n = len(layer_groups)
    assert n >= 3
    named = [_names(model, g) for g in layer_groups]
    lrs = [float(g["lr"]) for g in groups if str(g["name"]).startswith("group_")]  # type: ignore[arg-type]
    assert lrs == pytest.approx([cfg.lr * cfg.backbone_lr_mult * 0.5 ** (n - 1 - i) for i in range(n)])
    # every parameter is in the optimizer from the start, frozen or not
    in_groups = {id(p) for g in groups for p in g["params"]}  # type: ignore[attr-defined]
    assert in_groups == {id(p) for p in model.parameters()}  # type: ignore[attr-defined]
    head = {n for n in _snapshot(model) if n.startswith("head.")}
    for epoch, unfrozen in ((0, 0), (1, 1), (2, 2)):
        callback.on_train_epoch_start(SimpleNamespace(current_epoch=epoch), None)
        before = _snapshot(model)
        _steps(model, groups, cfg)
        expected = head | set().union(*named[n - unfrozen :]) if unfrozen else head
        assert _moved(model, before) == expected, epoch


def test_lora_on_an_image_backbone_trains_adapters_and_head_then_merges() -> None:
    model, _, cfg = _setup("lora")
    keys = set(model.state_dict())  # type: ignore[attr-defined]
    adapters = model.apply_lora(r=4, alpha=8)  # type: ignore[attr-defined]
    from beautytune.strategies.base import head_group

    groups = [{"params": adapters, "lr": cfg.lr, "name": "lora"}, head_group(model, cfg)]  # type: ignore[arg-type]
    before = _snapshot(model)
    _steps(model, groups, cfg)
    moved = _moved(model, before)
    assert {n for n in moved if not n.startswith("head.")} == {n for n in before if "lora_" in n}
    model.merge_lora()  # type: ignore[attr-defined]
    assert set(model.state_dict()) == keys  # type: ignore[attr-defined]


def test_lp_ft_fine_tunes_every_layer_and_needs_a_linear_head() -> None:
    model, groups, cfg = _setup("lp-ft")
    assert {g["name"] for g in groups} == {"backbone", "head"}
    before = _snapshot(model)
    _steps(model, groups, cfg)
    assert _moved(model, before) == set(before)
    with pytest.raises(BeautytuneError, match="head-hidden"):
        get_strategy("lp-ft").check(run_config("-", "-", strategy="lp-ft", head_hidden=[16]))


def test_wise_ft_interpolation_reproduces_both_endpoints() -> None:
    import torch

    from beautytune.strategies.wise_ft import interpolate

    a, _, _ = _setup("full")
    b, _, cfg = _setup("full")
    _steps(b, [{"params": list(b.parameters()), "lr": 0.01}], cfg)  # type: ignore[attr-defined]
    sa, sb = a.state_dict(), b.state_dict()  # type: ignore[attr-defined]
    assert any(not torch.equal(sa[k], sb[k]) for k in sa)
    for alpha, ref in ((0.0, sa), (1.0, sb)):
        mixed = interpolate(sa, sb, alpha)
        assert all(torch.equal(mixed[k], ref[k]) for k in sa if sa[k].is_floating_point()), alpha
    half = interpolate(sa, sb, 0.5)
    k = "head.fc.weight"
    assert torch.allclose(half[k], (sa[k] + sb[k]) / 2)
