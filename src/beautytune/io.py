"""Atomic file writes, so an interrupted run never leaves a half-written artefact behind.

Every writer goes through a temporary file in the *same* directory followed by
``os.replace``: on POSIX and Windows that rename is atomic, so readers see either
the old file or the complete new one, never a truncated mix.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

# mkstemp creates 0600 files; artefacts are meant to be shared (served, copied), so a
# new file gets ordinary permissions and an existing file keeps whatever it had.
_DEFAULT_MODE = 0o644


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, creating parent directories as needed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o777 if target.exists() else _DEFAULT_MODE
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        # Never leave ".name.xxxx.tmp" litter behind, whatever interrupted us.
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` atomically (explicit encoding: the locale must not matter)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as strict JSON atomically; numpy values and paths are converted first."""
    text = json.dumps(to_jsonable(obj), indent=indent, ensure_ascii=False, allow_nan=False)
    write_text_atomic(path, text + "\n")


def to_jsonable(obj: Any) -> Any:
    """Recursively convert ``obj`` into plain JSON types.

    numpy scalars/arrays become Python numbers/lists, paths become strings, tuples and
    sets become lists, and non-finite floats become ``None`` because NaN/Infinity are
    not valid JSON and break strict parsers (browsers, jq, other languages).
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [to_jsonable(v) for v in items]
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON")


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_paths(a: str | Path, b: str | Path) -> None:
    """Swap two existing paths in one step, so a reader of ``b`` never finds it missing.

    Linux's ``renameat2(RENAME_EXCHANGE)`` swaps atomically; elsewhere (or on file systems
    without it) ``b`` is moved aside and ``a`` renamed in, which leaves the old ``b`` at
    ``a`` either way and a moment without ``b`` only on those systems.
    """
    import ctypes
    import ctypes.util

    a, b = os.fspath(a), os.fspath(b)
    name = ctypes.util.find_library("c")
    if name and hasattr(os, "uname") and os.uname().sysname == "Linux":
        libc = ctypes.CDLL(name, use_errno=True)
        fn = getattr(libc, "renameat2", None)
        if fn is not None and fn(_AT_FDCWD, a.encode(), _AT_FDCWD, b.encode(), _RENAME_EXCHANGE) == 0:
            return
    aside = f"{a}.old"
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)
