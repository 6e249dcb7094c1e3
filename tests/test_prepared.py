"""The prepared-data store: decoded and resized once, reused while files do not change."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from beautytune.data import prepared
from beautytune.data.dataset import ImageDataset
from beautytune.data.images import ImageError
from beautytune.data.records import Record
from beautytune.data.transforms import eval_transform, train_transform
from beautytune.models.registry import Preprocess

PP = Preprocess(input_size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))  # resize_size 36


def _photos(folder: Path, sizes: list[tuple[int, int]]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for k, (w, h) in enumerate(sizes):
        yy, xx = np.mgrid[0:h, 0:w]
        arr = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], axis=-1).astype(np.uint8)
        arr = np.clip(arr.astype(np.int16) + rng.integers(-30, 30, arr.shape), 0, 255).astype(np.uint8)
        p = folder / f"p{k}.{'png' if k % 2 else 'jpg'}"
        Image.fromarray(arr).save(p)
        paths.append(str(p))
    return paths


SIZES = [(50, 40), (40, 70), (36, 36), (61, 37), (45, 90), (200, 150)]


def _store(paths: list[str]) -> prepared.PreparedImages:
    store = prepared.prepare_images(paths, PP.resize_size, crop=PP.input_size, interpolation=PP.interpolation)
    assert store is not None
    return store


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = prepared.load_rgb

    def counting(path: str) -> Image.Image:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(prepared, "load_rgb", counting)
    return seen


def test_store_round_trip_squares(tmp_path: Path) -> None:
    paths = _photos(tmp_path / "img", SIZES)
    store = _store(paths)
    assert len(store) == len(paths)
    for i, p in enumerate(paths):
        a = store.array(i)
        assert a is not None and a.shape == (36, 36, 3) and a.dtype == np.uint8
        expected = np.asarray(prepared.square(Image.open(p).convert("RGB"), 36, 32))
        np.testing.assert_array_equal(a, expected)
    files = list((tmp_path / "cache" / "prepared").rglob("*.npy"))
    assert len(files) == 1 and not list((tmp_path / "cache").rglob("*.tmp"))


def test_eval_tensors_equal_the_in_memory_path_and_the_predictor(tmp_path: Path) -> None:
    paths = _photos(tmp_path / "img", SIZES)
    records = [Record(path=p, label="a", group=p) for p in paths]
    tf = eval_transform(PP)
    old = ImageDataset(records, [0] * len(records), tf, keep_size=PP.resize_size)
    new = ImageDataset(records, [0] * len(records), tf, keep_size=PP.resize_size, store=_store(paths))
    for i, p in enumerate(paths):
        x_new = new[i][0]
        # exactly the Predictor's input (eval transform of the whole photo)
        assert torch.equal(x_new, tf(Image.open(p).convert("RGB")))
        # and the old in-memory path's, which shrinks photos over 2x the resize size first
        if min(SIZES[i]) <= 2 * PP.resize_size:
            assert torch.equal(x_new, old[i][0])
        else:
            assert (x_new - old[i][0]).abs().mean() < 0.05


def test_only_changed_and_new_files_are_decoded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _photos(tmp_path / "img", SIZES)
    seen = _count_decodes(monkeypatch)
    first = _store(paths)
    assert len(seen) == len(paths)
    seen.clear()
    assert _store(paths) is not None and seen == []  # warm: nothing decoded
    # a new photo content under the same name, with a new mtime
    Image.new("RGB", (48, 48), (250, 10, 10)).save(
        paths[2], format="PNG" if paths[2].endswith("png") else "JPEG"
    )
    st = os.stat(paths[2])
    os.utime(paths[2], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    extra = _photos(tmp_path / "more", [(44, 44)])
    third = _store([*paths, *extra])
    assert sorted(seen) == sorted([paths[2], extra[0]])
    changed = third.array(2)
    assert changed is not None and tuple(changed[18, 18]) == pytest.approx((250, 10, 10), abs=3)
    for i in (0, 1, 3, 4, 5):
        np.testing.assert_array_equal(third.array(i), first.array(i))


def test_broken_file_keeps_the_usual_error(tmp_path: Path) -> None:
    paths = _photos(tmp_path / "img", SIZES[:2])
    broken = tmp_path / "img" / "broken.jpg"
    broken.write_bytes(Path(paths[0]).read_bytes()[:200])  # truncated
    paths.append(str(broken))
    store = _store(paths)
    assert store.array(2) is None and store.array(0) is not None
    ds = ImageDataset(
        [Record(path=p, label="a", group=p) for p in paths], [0, 0, 0], eval_transform(PP), 36, store=store
    )
    ds[0]
    with pytest.raises(ImageError, match="truncated"):
        ds[2]
    only_broken = _store([str(broken)])  # tried again (and again refused): no chunk of zeros
    assert only_broken.array(0) is None
    assert len(list((tmp_path / "cache" / "prepared").rglob("*.npy"))) == 1


def test_opt_out_and_unwritable_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _photos(tmp_path / "img", SIZES[:1])
    monkeypatch.setenv("BEAUTYTUNE_PREPARED", "0")
    assert prepared.prepare_images(paths, 36, crop=32) is None
    monkeypatch.delenv("BEAUTYTUNE_PREPARED")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert prepared.prepare_images(paths, 36, crop=32, root=blocker) is None


def test_loader_workers_open_the_store_themselves(tmp_path: Path) -> None:
    paths = _photos(tmp_path / "img", SIZES)
    store = _store(paths)
    store.image(0)  # the parent has a map open: workers must not depend on it
    copy = pickle.loads(pickle.dumps(store))  # what a spawned worker gets: no map, no pixels
    assert copy._maps == {} and len(pickle.dumps(store)) < 2000
    np.testing.assert_array_equal(copy.array(3), store.array(3))
    records = [Record(path=p, label="a", group=p) for p in paths]
    ds = ImageDataset(records, list(range(len(paths))), train_transform(PP), keep_size=36, store=store)
    xs, ys = zip(*DataLoader(ds, batch_size=3, num_workers=2), strict=True)
    assert torch.cat(ys).tolist() == list(range(len(paths)))
    assert torch.cat(xs).shape == (len(paths), 3, 32, 32)
