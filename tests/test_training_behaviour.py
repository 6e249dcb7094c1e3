"""What the training loop promises: frozen BatchNorm, the LR schedule, weight decay, imbalance.

Each test names (in a comment) the change to the code that would make it fail.
"""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from beautytune import api
from beautytune.config import RunConfig
from beautytune.data.dataset import EpochSampler
from beautytune.data.records import Record
from beautytune.errors import BeautytuneError
from beautytune.models.network import build_classifier
from beautytune.models.registry import get_spec
from beautytune.strategies import get_strategy
from beautytune.tasks import get_task
from beautytune.train.datamodule import BeautyDataModule
from beautytune.train.module import LitClassifier, lr_lambda, split_weight_decay
from conftest import TINY

# --- BatchNorm freezing -------------------------------------------------------------------


def _fresh(num_classes: int, seed: int = 0) -> nn.Module:
    """The network a TINY fit starts from: the pipeline seeds, then builds (same order)."""
    L.seed_everything(seed, verbose=False)
    model, _ = build_classifier(get_spec("test_efficientnet"), num_classes, init="random")
    return model


def _bn_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _changed(start: dict[str, torch.Tensor], end: dict[str, torch.Tensor], keys: list[str]) -> int:
    return sum(not torch.equal(start[k], end[k]) for k in keys)


@pytest.fixture(scope="module")
def bn_runs(tiny_products: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One-epoch full fits with frozen and with training BatchNorm (~3 s each)."""
    out = tmp_path_factory.mktemp("bn")
    opts = {**TINY, "epochs": 1}
    return {
        bn: api.fit(tiny_products, out / bn, strategy="full", bn=bn, **opts).bundle
        for bn in ("frozen", "train")
    }


def test_frozen_batchnorm_keeps_running_stats_but_trains_affine(bn_runs: dict[str, Path]) -> None:
    # Without the m.eval() for freeze_bn in LitClassifier.on_train_epoch_start, every
    # running mean/var moves (as the bn="train" run below shows).
    end = load_file(str(bn_runs["frozen"] / "model.safetensors"))
    model = _fresh(end["head.fc.bias"].numel())
    start = model.state_dict()
    names = _bn_names(model)
    assert len(names) > 5
    stats = [f"{n}.{t}" for n in names for t in ("running_mean", "running_var", "num_batches_tracked")]
    assert _changed(start, end, stats) == 0
    # ... while their scale/shift (and the convolutions) still train: freezing is not
    # requires_grad=False on BatchNorm.
    for t in ("weight", "bias"):
        assert _changed(start, end, [f"{n}.{t}" for n in names]) == len(names), t
    assert not torch.equal(start["backbone.conv_stem.weight"], end["backbone.conv_stem.weight"])


def test_training_batchnorm_updates_running_stats(bn_runs: dict[str, Path]) -> None:
    # If bn="train" froze BatchNorm too (freeze_bn always True), nothing here would move.
    end = load_file(str(bn_runs["train"] / "model.safetensors"))
    model = _fresh(end["head.fc.bias"].numel())
    start = model.state_dict()
    names = _bn_names(model)
    for t in ("running_mean", "running_var"):
        assert _changed(start, end, [f"{n}.{t}" for n in names]) == len(names), t


def test_bn_auto_freezes_only_pretrained_starts() -> None:
    # The README's rule: pretrained (packaged or --weights) keeps its statistics; random init
    # must learn them. Dropping the "auto" branch of RunConfig.freeze_bn breaks this.
    def cfg(**kw: object) -> RunConfig:
        return RunConfig(data="-", out="-", **kw)  # type: ignore[arg-type]

    assert cfg(bn="auto", init="pretrained").freeze_bn is True
    assert cfg(bn="auto", init="random").freeze_bn is False
    assert cfg(bn="auto", init="random", weights="w.safetensors").freeze_bn is True
    assert cfg(bn="frozen", init="random").freeze_bn is True
    assert cfg(bn="train", init="pretrained").freeze_bn is False


# --- learning-rate schedule ---------------------------------------------------------------


def test_cosine_schedule_warms_up_peaks_and_decays_to_zero() -> None:
    warmup, total = 10, 100
    f = lr_lambda("cosine", warmup, total, per_epoch=10)
    values = [f(s) for s in range(total + 1)]
    # linear warm-up: equal steps of 1/warmup up to 1 (without it f(0) would be 1)
    assert values[:warmup] == pytest.approx([(s + 1) / warmup for s in range(warmup)])
    assert max(values) == pytest.approx(1.0) and values[warmup] == pytest.approx(1.0)
    after = values[warmup:]
    assert all(b <= a + 1e-12 for a, b in pairwise(after))  # monotone decay
    # cosine, not linear: a quarter of the way through the decay it is 0.854, not 0.75
    quarter = warmup + (total - warmup) // 4
    expected = 0.5 * (1 + math.cos(math.pi * (quarter - warmup) / (total - warmup)))
    assert values[quarter] == pytest.approx(expected) and values[quarter] > 0.8
    assert values[total - 1] < 0.01 and values[total] == pytest.approx(0.0, abs=1e-12)
    assert lr_lambda("cosine", 0, total, 10)(0) == pytest.approx(1.0)  # no warm-up: start at 1


def test_step_schedule_drops_tenfold_at_half_and_three_quarters() -> None:
    f = lr_lambda("step", 0, 100, per_epoch=10)
    assert [f(s) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    g = lr_lambda("step", 5, 100, per_epoch=10)  # warm-up comes first here too
    assert [g(s) for s in (0, 4, 5)] == pytest.approx([0.2, 1.0, 1.0])


def test_budget_schedule_follows_the_clock_when_the_budget_binds_first() -> None:
    # 10 planned epochs of 10 steps, warm-up one epoch; a fake clock says how much of the
    # time budget is spent
    clock = {"spent": 0.0}
    f = lr_lambda("budget", 10, 100, per_epoch=10, spent=lambda: clock["spent"])
    assert f(0) == pytest.approx(0.1)  # warm-up by steps while the clock is slower
    clock["spent"] = 0.05
    assert f(1) == pytest.approx(0.5)  # half of the warm-up share (10%) of the budget gone
    clock["spent"] = 0.55  # half-way through the decay by the clock, at step 20 of 100
    assert f(20) == pytest.approx(0.5)
    clock["spent"] = 1.0  # budget spent: the rate is zero whatever the step
    assert f(21) == pytest.approx(0.0, abs=1e-12)
    # a fast machine that finishes its epochs first follows the steps, as the cosine does
    clock["spent"] = 0.0
    cosine = lr_lambda("cosine", 10, 100, per_epoch=10)
    assert [f(s) for s in (5, 40, 99)] == pytest.approx([cosine(s) for s in (5, 40, 99)])


def test_budget_schedule_needs_a_time_budget() -> None:
    with pytest.raises(BeautytuneError, match="--time-budget"):
        api.run_config("-", "-", schedule="budget").validate()
    api.run_config("-", "-", schedule="budget", time_budget=60).validate()


def test_configure_optimizers_uses_groups_and_schedule() -> None:
    # Wiring: the strategy's lrs reach AdamW and the LambdaLR warms up over warmup_epochs.
    cfg = api.run_config("-", "-", backbone="test_efficientnet", init="random", lr=1e-2, epochs=4)
    model = _fresh(3)
    groups = get_strategy("full").param_groups(model, cfg)  # type: ignore[attr-defined]
    lit = LitClassifier(model, groups, cfg, 3)

    class _Trainer:
        estimated_stepping_batches = 40  # 10 steps an epoch, warm-up of one epoch

    lit._trainer = _Trainer()  # type: ignore[assignment]
    conf = lit.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    assert conf["lr_scheduler"]["interval"] == "step"
    base = {g["name"]: g["initial_lr"] for g in opt.param_groups}
    assert base["head"] == base["head_no_decay"] == pytest.approx(1e-2)
    assert base["backbone"] == pytest.approx(1e-2 * cfg.backbone_lr_mult)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["head"] == pytest.approx(1e-2 / 10)  # first of 10 warm-up steps
    assert sched.lr_lambdas[0](39) < 0.01


# --- weight decay -------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["full", "head"])
def test_weight_decay_skips_norms_and_biases(strategy: str) -> None:
    # If split_weight_decay returned the groups with weight_decay on everything, BatchNorm
    # scales and biases would be decayed toward zero; if it dropped a part, they would not train.
    cfg = api.run_config("-", "-", backbone="test_efficientnet", init="random", strategy=strategy)
    model = _fresh(4)
    groups = get_strategy(strategy).param_groups(model, cfg)  # type: ignore[attr-defined]
    out = split_weight_decay(model, groups, 0.01)
    name_of = {id(p): n for n, p in model.named_parameters()}
    lr_of = {g["name"]: g["lr"] for g in groups}
    seen: list[int] = []
    for g in out:
        base = g["name"].removesuffix("_no_decay")
        assert g["lr"] == lr_of[base], g["name"]  # each group keeps its strategy's lr
        for p in g["params"]:
            seen.append(id(p))
            no_decay = p.ndim <= 1 or name_of[id(p)].endswith(".bias")
            assert g["weight_decay"] == (0.0 if no_decay else 0.01), name_of[id(p)]
    trainable = [id(p) for p in model.parameters() if p.requires_grad]
    assert sorted(seen) == sorted(trainable)  # none lost, none twice, no frozen one added
    names = {name_of[i] for g in out if g["weight_decay"] == 0.0 for i in map(id, g["params"])}
    assert "head.fc.bias" in names and "head.fc.weight" not in names
    if strategy == "full":
        assert any(".bn1.weight" in n for n in names)  # BatchNorm scales are spared


# --- class imbalance ----------------------------------------------------------------------


def _records(counts: dict[str, int]) -> list[Record]:
    out = []
    for label, n in counts.items():
        out += [Record(f"/x/{label}{i}.png", label, f"{label}{i}", "train") for i in range(n)]
        # val/test examples must not count towards the training weights
        out += [Record(f"/x/{label}v.png", label, f"{label}v", "val")]
        out += [Record(f"/x/{label}t{i}.png", label, f"{label}t{i}", "test") for i in range(5)]
    return out


def _datamodule(records: list[Record], imbalance: str) -> BeautyDataModule:
    cfg = RunConfig(data="-", out="-", imbalance=imbalance, batch_size=8)
    labels = sorted({r.label for r in records})
    pp = get_spec("test_efficientnet").preprocess
    return BeautyDataModule(get_task("image-classification"), records, labels, pp, cfg)


def test_class_weights_are_inverse_frequency() -> None:
    # Without the weights (or with plain 1/count) these numbers differ.
    records = _records({"blush": 60, "lipstick": 30, "mascara": 10})
    w = _datamodule(records, "weighted").class_weights()
    assert w is not None
    n, k = 100, 3
    assert w.tolist() == pytest.approx([n / (k * 60), n / (k * 30), n / (k * 10)])
    for mode in ("sample", "none"):  # the balanced sampler, or nothing: an unweighted loss
        assert _datamodule(records, mode).class_weights() is None
    lit = LitClassifier(_fresh(3), [], RunConfig(data="-", out="-"), 3, w)
    assert torch.equal(lit.loss_fn.weight, w)  # the loss is the one that uses them


def test_imbalance_sample_uses_the_balanced_sampler() -> None:
    # If train_dataloader ignored --imbalance sample, its sampler would shuffle plainly.
    records = _records({"blush": 20, "lipstick": 4})
    for mode, balanced in (("sample", True), ("weighted", False), ("none", False)):
        dm = _datamodule(records, mode)
        dm.setup("fit")
        sampler = dm.train_dataloader().sampler
        assert isinstance(sampler, EpochSampler) and sampler.balanced is balanced, mode


def test_balanced_sampler_draws_classes_evenly() -> None:
    # Without the 1/count weights, class 1 would be ~10% of the draws.
    targets = [0] * 1800 + [1] * 200
    draws = np.array(list(EpochSampler(targets, seed=0, balanced=True)))
    assert len(draws) == 2000
    share = (np.asarray(targets)[draws] == 1).mean()
    assert 0.4 <= share <= 0.6, share


def _order(targets: list[int], seed: int, epoch: int, balanced: bool) -> list[int]:
    s = EpochSampler(targets, seed, balanced=balanced)
    s.set_epoch(epoch)
    return list(s)


@pytest.mark.parametrize("balanced", [True, False])
def test_sampler_order_depends_only_on_seed_and_epoch(balanced: bool) -> None:
    # Resume relies on this: a generator seeded by anything else (global RNG, time) or
    # ignoring set_epoch would repeat or scramble epochs.
    targets = [0] * 90 + [1] * 10
    assert _order(targets, 3, 2, balanced) == _order(targets, 3, 2, balanced)
    assert _order(targets, 3, 2, balanced) != _order(targets, 3, 3, balanced)
    assert _order(targets, 3, 2, balanced) != _order(targets, 4, 2, balanced)
    torch.manual_seed(123)
    np.random.seed(123)  # the global RNGs play no part
    assert _order(targets, 3, 2, balanced) == _order(targets, 3, 2, balanced)


def test_unbalanced_sampler_is_a_permutation() -> None:
    targets = [0] * 90 + [1] * 10
    order = _order(targets, 0, 0, balanced=False)
    assert sorted(order) == list(range(100))  # each example once per epoch
    assert order != list(range(100))  # shuffled


def test_length_buckets_cover_every_example_once_and_group_lengths() -> None:
    # without the sort inside each window, batches would mix short and long texts
    from beautytune.data.dataset import EpochSampler, LengthBucketBatchSampler

    rng = np.random.default_rng(0)
    costs = rng.integers(1, 500, size=1000).tolist()
    sampler = EpochSampler([0] * 1000, seed=3)
    buckets = LengthBucketBatchSampler(sampler, costs, batch_size=16, window=50)
    batches = list(buckets)
    assert sorted(i for b in batches for i in b) == list(range(1000)) and len(batches) == len(buckets)
    spread = np.mean([np.ptp([costs[i] for i in b]) for b in batches])
    assert spread < 60  # random batches of 16 from 1..500 would spread ~440
    assert list(LengthBucketBatchSampler(sampler, costs, 16)) == batches  # same seed and epoch
    sampler.set_epoch(1)
    assert list(buckets) != batches


def test_ddp_shards_are_disjoint_equal_and_cover_the_epoch() -> None:
    # With Lightning's sampler replacement off, an unsharded sampler would feed every rank
    # the whole epoch (twice the steps); uneven shards would hang DDP at the last step.
    from beautytune.data.dataset import LengthBucketBatchSampler

    targets = [0] * 41 + [1] * 10  # 51: not a multiple of the world size
    full = _order(targets, 5, 1, balanced=False)
    shards = []
    for rank in range(2):
        s = EpochSampler(targets, 5, rank=rank, world=2)
        s.set_epoch(1)
        shards.append(list(s))
        assert len(shards[-1]) == len(s) == 26
    assert shards[0] == full[0::2] and shards[1] == full[1::2] + full[:1]  # padded by wrapping
    assert set(shards[0][:25]).isdisjoint(shards[1][:25])
    assert set(shards[0]) | set(shards[1]) == set(range(51))
    costs = list(range(51))
    counts = [
        len(list(LengthBucketBatchSampler(EpochSampler(targets, 5, rank=r, world=2), costs, 4)))
        for r in (0, 1)
    ]
    assert counts[0] == counts[1] == 7  # the same number of steps on every rank
    with pytest.raises(ValueError):
        EpochSampler(targets, 5, rank=2, world=2)


def test_head_on_cached_features_trains_as_the_full_loop_does(
    tiny_products: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frozen backbone, no augmentation: the head trained on features computed once follows
    the epoch-by-epoch loop through the backbone (same sampler, same start) to float error."""
    monkeypatch.setenv("BEAUTYTUNE_CACHE", str(tmp_path / "cache"))  # the first run computes them
    opts = {**TINY, "epochs": 3, "strategy": "head", "augment": "none", "lr": 0.1}
    cached = api.fit(tiny_products, tmp_path / "cached", **opts)
    full = api.fit(tiny_products, tmp_path / "full", **opts, cache_features=False)
    assert cached.info["backbone features"] == "computed once, cached"
    assert full.info["backbone features"].startswith("recomputed every epoch: --no-cache-features")
    # Weights are no test here: on random-init features Adam's steps in the near-constant
    # dimensions are float noise. The validation losses are what the head does.
    warm = api.fit(tiny_products, tmp_path / "warm", **opts)  # the features now come from the cache
    losses = [
        [e["val_loss"] for e in json.loads((r.run_dir / "history.json").read_text())]
        for r in (cached, full, warm)
    ]
    assert len(losses[0]) == 3 and np.allclose(losses[0], losses[1], atol=1e-3), losses
    # extraction leaves the RNG alone: the head's dropout masks do not depend on the cache
    assert losses[2] == losses[0]
    assert abs(losses[0][-1] - losses[0][0]) > 5e-3  # the head moved: equal losses are no accident
    assert not torch.equal(
        load_file(str(cached.bundle / "model.safetensors"))["head.fc.weight"],
        _fresh_head_weight(cached.bundle),
    )
    augmented = api.fit(tiny_products, tmp_path / "aug", **{**opts, "augment": "geometric", "epochs": 1})
    assert "--augment geometric" in augmented.info["backbone features"]


def _fresh_head_weight(bundle: Path) -> torch.Tensor:
    L.seed_everything(0, verbose=False)
    n = len(json.loads((bundle / "bundle.json").read_text())["labels"])
    model, _ = build_classifier(get_spec("test_efficientnet"), n, init="random")
    return model.head.fc.weight.detach()
