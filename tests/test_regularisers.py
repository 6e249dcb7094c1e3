"""L2-SP, mixup / cutmix and stochastic depth: each does what it says, and only where it can."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from beautytune import api
from beautytune.errors import BeautytuneError, WeightsError
from beautytune.models.network import build_classifier
from beautytune.models.registry import get_spec
from beautytune.train.regularisers import L2SP, build_mixup, soft_cross_entropy
from conftest import TINY


def test_l2_sp_is_zero_at_the_start_and_pulls_back_towards_it() -> None:
    backbone = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    reg = L2SP(backbone, alpha=0.5)
    assert float(reg().detach()) == 0.0
    start = [p.detach().clone() for p in backbone.parameters()]
    with torch.no_grad():
        for p in backbone.parameters():
            p.add_(1.0)
    penalty = reg()
    n = sum(p.numel() for p in backbone.parameters())
    assert float(penalty) == pytest.approx(0.5 * 0.5 * n)  # alpha/2 * sum(1^2)
    penalty.backward()
    for p, p0 in zip(backbone.parameters(), start, strict=True):
        assert torch.allclose(p.grad, 0.5 * (p.detach() - p0))  # alpha * (theta - theta_0)
    backbone[0].weight.requires_grad_(False)  # frozen parameters are not pulled
    assert float(reg()) == pytest.approx(0.25 * (n - 12))


def test_soft_cross_entropy_matches_torch_on_hard_labels() -> None:
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(10, 4, generator=g), torch.randint(0, 4, (10,), generator=g)
    w = torch.tensor([1.0, 2.0, 0.5, 3.0])
    onehot = nn.functional.one_hot(y, 4).float()
    assert soft_cross_entropy(logits, onehot, w) == pytest.approx(
        float(nn.CrossEntropyLoss(weight=w)(logits, y))
    )
    assert soft_cross_entropy(logits, onehot, None) == pytest.approx(float(nn.CrossEntropyLoss()(logits, y)))


def test_mixup_mixes_images_and_targets() -> None:
    assert build_mixup(0.0, 0.0, 0.1, 3) is None
    mix = build_mixup(0.4, 0.0, 0.0, 3)
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    torch.manual_seed(0)
    import numpy as np

    np.random.seed(0)
    mixed, soft = mix(x.clone(), y)
    assert soft.shape == (4, 3) and torch.allclose(soft.sum(1), torch.ones(4))
    assert not torch.equal(mixed, x)


def test_drop_path_builds_stochastic_depth_or_says_it_cannot() -> None:
    model, _ = build_classifier(get_spec("test_efficientnet"), 3, init="random", drop_path=0.2)
    rates = [m.drop_prob for m in model.modules() if type(m).__name__ == "DropPath"]
    assert rates and max(rates) > 0
    plain, _ = build_classifier(get_spec("test_efficientnet"), 3, init="random")
    assert set(plain.state_dict()) == set(model.state_dict())  # bundles load either way
    with pytest.raises(WeightsError, match="stochastic depth"):
        build_classifier(get_spec("mobilenet_v2"), 3, init="random", drop_path=0.2)


def test_fit_with_every_regulariser(tiny_products: Path, tmp_path: Path) -> None:
    opts = {**TINY, "epochs": 2, "l2_sp": 0.01, "mixup": 0.2, "cutmix": 1.0, "drop_path": 0.1}
    result = api.fit(tiny_products, tmp_path / "reg", strategy="full", **opts)
    assert 0 <= result.metrics["macro_f1"] <= 1
    with pytest.raises(BeautytuneError, match="0 \\(off\\) or more"):
        api.fit(tiny_products, tmp_path / "bad", mixup=-1, **TINY)
    assert not (tmp_path / "bad").exists()


def test_ema_weights_are_validated_checkpointed_and_shipped(tiny_products: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    result = api.fit(tiny_products, tmp_path / "ema", strategy="full", ema=0.9, **{**TINY, "epochs": 2})
    best = torch.load(result.run_dir / "checkpoints" / "best.ckpt", weights_only=False)["state_dict"]
    shipped = load_file(str(result.bundle / "model.safetensors"))
    ema = {k.removeprefix("ema.module."): v for k, v in best.items() if k.startswith("ema.module.")}
    raw = {k.removeprefix("model."): v for k, v in best.items() if k.startswith("model.")}
    assert ema.keys() == shipped.keys() == raw.keys()
    assert all(torch.equal(shipped[k], ema[k]) for k in shipped)  # the average ships...
    assert any(not torch.equal(ema[k], raw[k]) for k in raw if raw[k].is_floating_point())  # ...not the raw
