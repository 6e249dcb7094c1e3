"""Adaptation to unlabelled target photos: AdaBN (BatchNorm statistics only), then self-training."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from beautytune import api
from beautytune.evaluate.robustness import perturb
from conftest import TINY, run_cli


def _shifted_copies(run: Path, out: Path) -> Path:
    """The run's test photos under a strong white-balance cast: unlabelled folder + manifest."""
    (out / "photos").mkdir(parents=True)
    rows = []
    with (run / "split.csv").open() as f:
        for i, row in enumerate(r for r in csv.DictReader(f) if r["split"] == "test"):
            target = out / "photos" / f"{i:03d}.png"
            perturb(Image.open(row["path"]).convert("RGB"), "white balance", 5, i).save(target)
            rows.append({"path": str(target), "label": row["label"]})
    with (out / "labelled.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label"])
        w.writeheader()
        w.writerows(rows)
    return out


def _stats_and_weights(state: dict[str, torch.Tensor]) -> tuple[set[str], set[str]]:
    stats = {k for k in state if k.endswith(("running_mean", "running_var"))}
    return stats, {k for k in state if k not in stats and not k.endswith("num_batches_tracked")}


def test_adapt_adabn_changes_batchnorm_statistics_only(tiny_products: Path, tmp_path: Path) -> None:
    fit = api.fit(tiny_products, tmp_path / "run", strategy="full", **{**TINY, "epochs": 1})
    target = _shifted_copies(fit.run_dir, tmp_path / "target")
    out = tmp_path / "adapted"
    r = run_cli(
        "adapt",
        str(fit.bundle),
        str(target / "photos"),
        "--out",
        str(out),
        "--eval",
        str(target / "labelled.csv"),
        "--self-train-epochs",
        "0",
    )
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "adapt.json").read_text())
    assert report["adaptation"]["adabn"]["method"] == "AdaBN"
    assert report["adaptation"]["adabn"]["target_images"] > 1
    assert "self_training" not in report["adaptation"]
    assert (
        set(report["before"]) == set(report["after"]) == {"macro_f1", "accuracy", "balanced_accuracy", "ece"}
    )
    meta = json.loads((out / "bundle" / "bundle.json").read_text())
    assert meta["adaptation"]["target"] == str(target / "photos")
    old, new = (
        load_file(str(fit.bundle / "model.safetensors")),
        load_file(str(out / "bundle" / "model.safetensors")),
    )
    stats, rest = _stats_and_weights(old)
    assert stats and all(not torch.equal(old[k], new[k]) for k in stats)  # every BatchNorm re-estimated
    assert all(torch.equal(old[k], new[k]) for k in rest)  # no weight moved
    assert (out / "eval_after" / "metrics.json").is_file()


def test_self_training_moves_weights_and_keeps_adabn_statistics(tiny_products: Path, tmp_path: Path) -> None:
    fit = api.fit(tiny_products, tmp_path / "run", strategy="full", **{**TINY, "epochs": 1})
    photos = _shifted_copies(fit.run_dir, tmp_path / "target") / "photos"
    only_bn = api.adapt(fit.bundle, photos, tmp_path / "bn", self_train_epochs=0)
    # a random tiny model is never confident: a low threshold lets every photo through
    both = api.adapt(fit.bundle, photos, tmp_path / "st", self_train_epochs=2, pseudo_threshold=0.01, lr=1e-2)
    st = both["adaptation"]["self_training"]
    n = len(list(photos.iterdir()))
    assert st["pseudo_labelled"] == st["target_images"] == n
    assert sum(st["per_class"].values()) == n and st["epochs"] == 2
    bn, self_trained = (
        load_file(str(Path(only_bn["adapted_bundle"]) / "model.safetensors")),
        load_file(str(Path(both["adapted_bundle"]) / "model.safetensors")),
    )
    stats, weights = _stats_and_weights(bn)
    assert all(torch.equal(bn[k], self_trained[k]) for k in stats)  # BatchNorm frozen while self-training
    assert any(not torch.equal(bn[k], self_trained[k]) for k in weights)


def test_self_training_says_why_it_was_skipped(tiny_products: Path, tmp_path: Path) -> None:
    fit = api.fit(tiny_products, tmp_path / "run", strategy="full", **{**TINY, "epochs": 1})
    photos = _shifted_copies(fit.run_dir, tmp_path / "target") / "photos"
    r = run_cli(
        "adapt", str(fit.bundle), str(photos), "--out", str(tmp_path / "a"), "--pseudo-threshold", "0.99"
    )
    assert r.returncode == 0, r.stderr
    assert "self-training skipped" in r.stdout and "lower --pseudo-threshold" in r.stdout
    bad = run_cli(
        "adapt", str(fit.bundle), str(photos), "--out", str(tmp_path / "b"), "--pseudo-threshold", "2"
    )
    assert bad.returncode != 0 and "--pseudo-threshold" in bad.stderr and not (tmp_path / "b").exists()


def test_adapt_refuses_what_it_cannot_adapt(tiny_products: Path, tmp_path: Path) -> None:
    fit = api.fit(tiny_products, tmp_path / "run", strategy="features", **TINY)
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("adapt", str(fit.bundle), str(empty), "--out", str(tmp_path / "a"))
    assert r.returncode != 0 and "unlabelled photos" in r.stderr and "Traceback" not in r.stderr


def test_fit_adapt_to_adapts_after_training(tiny_products: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    root = tiny_products if tiny_products.is_dir() else tiny_products.parent
    for i, p in enumerate(sorted(root.rglob("*.png"))[:12]):
        perturb(Image.open(p).convert("RGB"), "lighting", 4, i).save(target / f"{i}.png")
    fit = api.fit(
        tiny_products, tmp_path / "run", strategy="full", adapt_to=str(target), **{**TINY, "epochs": 1}
    )
    meta = json.loads((fit.bundle / "bundle.json").read_text())
    assert meta["adaptation"]["adabn"]["target_images"] == 12
    assert "AdaBN" in fit.info["adapted to"] and "self-training" in fit.info["adapted to"]
    missing = run_cli(
        "fit", str(tiny_products), "--out", str(tmp_path / "x"), "--adapt-to", str(tmp_path / "nope")
    )
    assert missing.returncode != 0 and "--adapt-to" in missing.stderr and not (tmp_path / "x").exists()


def test_adabn_moves_target_statistics_onto_the_training_photos(tiny_products: Path, tmp_path: Path) -> None:
    """Frozen-BN fine-tuning keeps ImageNet running statistics: AdaBN must aim at the training
    photos' statistics (stored in the bundle), not overwrite the running ones with the target's."""
    import shutil

    fit = api.fit(tiny_products, tmp_path / "run", strategy="full", **{**TINY, "epochs": 1, "bn": "frozen"})
    assert (fit.bundle / "bn_source_stats.safetensors").is_file()
    train = tmp_path / "train_again"
    train.mkdir()
    with (fit.run_dir / "split.csv").open() as f:
        for i, row in enumerate(r for r in csv.DictReader(f) if r["split"] == "train"):
            shutil.copy(row["path"], train / f"{i:03d}.png")
    old = load_file(str(fit.bundle / "model.safetensors"))
    stats, _ = _stats_and_weights(old)
    # target = the training photos themselves: nothing to move
    same = api.adapt(fit.bundle, train, tmp_path / "same", self_train_epochs=0)
    new = load_file(str(Path(same["adapted_bundle"]) / "model.safetensors"))
    assert all(torch.allclose(old[k], new[k], rtol=1e-3, atol=1e-4) for k in stats)
    # without the stored statistics it is plain AdaBN, which replaces the running ones
    plain_bundle = tmp_path / "plain_bundle"
    shutil.copytree(fit.bundle, plain_bundle)
    (plain_bundle / "bn_source_stats.safetensors").unlink()
    plain = api.adapt(plain_bundle, train, tmp_path / "plain", self_train_epochs=0)
    moved = load_file(str(Path(plain["adapted_bundle"]) / "model.safetensors"))
    assert sum(not torch.allclose(old[k], moved[k], rtol=1e-3, atol=1e-4) for k in stats) > len(stats) // 2
    assert "plain AdaBN" in plain["adaptation"]["adabn"]["source statistics"]
    again = run_cli("adapt", same["adapted_bundle"], str(train), "--out", str(tmp_path / "again"))
    assert again.returncode != 0 and "already adapted" in again.stderr


def test_measured_in_chunks_the_statistics_are_those_of_one_batch(
    tiny_products: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from beautytune.inference import adapt
    from beautytune.inference.bundle import load_bundle

    fit = api.fit(tiny_products, tmp_path / "run", strategy="full", **{**TINY, "epochs": 1})
    b = load_bundle(fit.bundle)
    with (fit.run_dir / "split.csv").open() as f:
        paths = [row["path"] for row in csv.DictReader(f)][:20]
    whole, _ = adapt.bn_input_statistics(b.model, b.task, b.processor, paths)
    monkeypatch.setattr(adapt, "_CHUNK", 3)  # 7 chunks, the last of 2
    chunked, counts = adapt.bn_input_statistics(b.model, b.task, b.processor, paths)
    assert counts["images"] == 20 and whole.keys() == chunked.keys() and whole
    for k in whole:
        assert torch.allclose(whole[k], chunked[k], rtol=1e-4, atol=1e-6), k
