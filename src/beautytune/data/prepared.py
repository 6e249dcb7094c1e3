"""Prepared-data store: every photo decoded and resized once, kept as uint8 on disk.

Training used to keep each decoded photo in a dict in memory, which grows with the
catalogue. Here each photo is decoded (:func:`~beautytune.data.images.load_rgb`), put
through the optional face step, resized so its short side is ``size`` (the processor's
``resize_size``, i.e. the input size plus timm's crop margin) and centre-cropped to a
``size`` x ``size`` square, and its bytes go into a ``.npy`` chunk under
``cache_root()/prepared/<settings key>/``. The square is cut so that the eval transform's
centre crop of it is exactly the centre crop of the whole resized photo: evaluation sees
the very pixels it saw before; training's random resized crop works on the square.

An SQLite index maps each file's fingerprint (path, size, mtime) to its chunk and slot, so
a later build decodes only new or changed files and writes them into one new chunk. A
chunk is written to a temporary name with plain file writes (its pages never count as the
builder's memory) and renamed into place before the index names it, so concurrent or
killed builds never leave a slot that points at a half-written file. Reading memory-maps
the chunks lazily in each process (DataLoader workers included).

``BEAUTYTUNE_PREPARED=0`` turns the store off (photos are decoded into memory, as before);
a cache folder that cannot be written does the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from beautytune.data.cache import cache_root, file_fingerprint
from beautytune.data.images import ImageError, load_rgb

#: raise when what a slot holds changes, so older stores are never read as new ones
VERSION = 1

#: files decoded per batch of the build (what is held in memory at once is this many squares)
_BATCH = 256

#: builds with at least this many files to decode show a progress bar (when asked to "auto")
_PROGRESS_FROM = 1000


def enabled() -> bool:
    """False when ``BEAUTYTUNE_PREPARED`` is ``0``, ``off`` or ``false``."""
    return os.environ.get("BEAUTYTUNE_PREPARED", "1").strip().lower() not in ("0", "off", "false", "no")


def square(image: Image.Image, size: int, crop: int, interpolation: str = "bicubic") -> Image.Image:
    """``image`` resized (short side ``size``, as timm's eval Resize) and cut to a square.

    The square's offset is chosen so that centre-cropping it to ``crop`` gives exactly the
    centre crop torchvision's ``CenterCrop(crop)`` takes of the whole resized image.
    """
    import torchvision.transforms.functional as F
    from timm.data.transforms import str_to_interp_mode

    im = F.resize(image, size, interpolation=str_to_interp_mode(interpolation))
    w, h = im.size  # the short side is now ``size``
    left = _offset(w, size, crop)
    top = _offset(h, size, crop)
    return im.crop((left, top, left + size, top + size))


def _offset(length: int, size: int, crop: int) -> int:
    """Where the ``size`` window starts so its centred ``crop`` is the whole's centred crop."""
    if length == size:
        return 0
    crop = min(crop, size)
    off = round((length - crop) / 2.0) - round((size - crop) / 2.0)  # torchvision's rounding
    return min(max(off, 0), length - size)


class PreparedImages:
    """The squares of a list of files: ``image(i)`` is file i's square, or None when the
    file could not be prepared (the caller then decodes it itself and gets its error)."""

    def __init__(self, folder: Path, size: int, chunks: list[str], chunk_of: np.ndarray, slot: np.ndarray):
        self.folder = folder
        self.size = size
        self.chunks = chunks
        self.chunk_of = chunk_of  # int32 per file, -1 = not in the store
        self.slot = slot  # int64 per file
        self._maps: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.slot)

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers (spawned) open their own maps; a pickled memmap would copy the data
        state = self.__dict__.copy()
        state["_maps"] = {}
        return state

    def _map(self, c: int) -> np.ndarray:
        m = self._maps.get(c)
        if m is None:
            m = self._maps[c] = np.load(self.folder / self.chunks[c], mmap_mode="r", allow_pickle=False)
        return m

    def array(self, i: int) -> np.ndarray | None:
        """File i's (size, size, 3) uint8 square (a view of the memory map), or None."""
        c = int(self.chunk_of[i])
        return None if c < 0 else self._map(c)[int(self.slot[i])]

    def image(self, i: int) -> Image.Image | None:
        a = self.array(i)
        return None if a is None else Image.fromarray(np.ascontiguousarray(a), "RGB")


def settings_key(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps({"version": VERSION, **settings}, sort_keys=True).encode()).hexdigest()[
        :16
    ]


def prepare_images(
    paths: Sequence[str],
    size: int,
    *,
    crop: int,
    interpolation: str = "bicubic",
    prepare: Callable[[Image.Image, str], Image.Image] | None = None,
    settings: dict[str, Any] | None = None,
    progress: bool | None = None,
    threads: int | None = None,
    root: Path | None = None,
) -> PreparedImages | None:
    """The store's squares for ``paths``, decoding only files it does not hold yet.

    ``settings`` names everything ``prepare`` (the face step) depends on; it keys the store
    with ``size``, ``crop`` and ``interpolation``. Returns None when the store is turned off
    or its folder cannot be used (callers then decode into memory). ``progress=None``
    shows a bar on a terminal when many files need decoding.
    """
    if not enabled():
        return None
    key = {"size": size, "crop": crop, "interpolation": interpolation, "prepare": settings or {}}
    folder = (root or cache_root()) / "prepared" / settings_key(key)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _Index(folder / "index.sqlite", key) as index:
            return _build(index, folder, list(paths), size, crop, interpolation, prepare, progress, threads)
    except (OSError, sqlite3.Error):
        return None


class _Index:
    """fingerprint -> (chunk file, slot) in one SQLite file per store folder."""

    def __init__(self, path: Path, key: dict[str, Any]) -> None:
        self.db = sqlite3.connect(path, timeout=60)
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS slots (fp TEXT PRIMARY KEY, chunk TEXT NOT NULL, slot INTEGER NOT NULL)"
        )
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('settings', ?)", (json.dumps(key),))

    def lookup(self, fps: list[str]) -> Iterator[tuple[str, int] | None]:
        for fp in fps:
            row = self.db.execute("SELECT chunk, slot FROM slots WHERE fp = ?", (fp,)).fetchone()
            yield None if row is None else (str(row[0]), int(row[1]))

    def add(self, rows: list[tuple[str, str, int]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO slots VALUES (?, ?, ?)", rows)

    def __enter__(self) -> _Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.close()


def _build(
    index: _Index,
    folder: Path,
    paths: list[str],
    size: int,
    crop: int,
    interpolation: str,
    prepare: Callable[[Image.Image, str], Image.Image] | None,
    progress: bool | None,
    threads: int | None,
) -> PreparedImages:
    fps = [file_fingerprint(p) for p in paths]
    chunks: list[str] = []
    chunk_ids: dict[str, int] = {}
    chunk_of = np.full(len(paths), -1, dtype=np.int32)
    slot = np.zeros(len(paths), dtype=np.int64)
    todo: list[int] = []
    present: dict[str, bool] = {}
    for i, hit in enumerate(index.lookup(fps)):
        if hit is not None:
            name, s = hit
            if name not in present:  # a deleted chunk file: its files are redone
                present[name] = (folder / name).is_file()
            if present[name]:
                if name not in chunk_ids:
                    chunk_ids[name] = len(chunks)
                    chunks.append(name)
                chunk_of[i], slot[i] = chunk_ids[name], s
                continue
        todo.append(i)
    if todo:
        name, ok = _write_chunk(
            folder, [paths[i] for i in todo], size, crop, interpolation, prepare, progress, threads
        )
        if not ok.any():  # nothing could be decoded: no chunk of zeros is kept
            (folder / name).unlink(missing_ok=True)
            return PreparedImages(folder, size, chunks, chunk_of, slot)
        c = len(chunks)
        chunks.append(name)
        rows = []
        for s, i in enumerate(todo):
            if ok[s]:
                chunk_of[i], slot[i] = c, s
                rows.append((fps[i], name, s))
        index.add(rows)
    return PreparedImages(folder, size, chunks, chunk_of, slot)


def _write_chunk(
    folder: Path,
    paths: list[str],
    size: int,
    crop: int,
    interpolation: str,
    prepare: Callable[[Image.Image, str], Image.Image] | None,
    progress: bool | None,
    threads: int | None,
) -> tuple[str, np.ndarray]:
    """Decode ``paths`` into a new chunk; returns its file name and which slots hold a photo.

    Streams: a batch of squares at a time is in memory, written with plain writes at the
    end of the file; a file that cannot be decoded keeps a zero slot and ``ok=False``.
    """
    name = f"{uuid.uuid4().hex}.npy"
    tmp = folder / f".{name}.tmp"
    ok = np.zeros(len(paths), dtype=bool)
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
        "fortran_order": False,
        "shape": (len(paths), size, size, 3),
    }
    zero = bytes(size * size * 3)

    def one(path: str) -> bytes | None:
        try:
            im = load_rgb(path)
            if prepare is not None:
                im = prepare(im, path)
            return square(im, size, crop, interpolation).tobytes()
        except ImageError:
            return None  # the dataset decodes it again on use and reports the file's error

    # the face step may hold a detector that is not thread-safe: it runs in this thread
    n_threads = 1 if prepare is not None else (threads or min(4, os.cpu_count() or 1))
    bar = _bar(len(paths), progress)
    try:
        with open(tmp, "wb") as fh, ThreadPoolExecutor(n_threads) as pool:
            np.lib.format.write_array_header_1_0(fh, header)
            for start in range(0, len(paths), _BATCH):
                batch = paths[start : start + _BATCH]
                for k, data in enumerate(pool.map(one, batch) if n_threads > 1 else map(one, batch)):
                    ok[start + k] = data is not None
                    fh.write(zero if data is None else data)
                if bar is not None:
                    bar[0].update(bar[1], advance=len(batch))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if bar is not None:
            bar[0].stop()
    return name, ok


def _bar(total: int, progress: bool | None) -> tuple[Any, Any] | None:
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    if not (progress if progress is not None else total >= _PROGRESS_FROM and console.is_terminal):
        return None
    p = Progress(console=console, transient=False)
    task = p.add_task("Preparing images", total=total)
    p.start()
    return p, task
