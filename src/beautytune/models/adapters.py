"""Parameter-efficient fine-tuning pieces shared by every backbone: LoRA (peft) and BitFit.

LoRA wraps one submodule (``owner.<attr>``) with ``peft.get_peft_model``: a text encoder's
inner Hugging Face model, or a whole timm image backbone. After training the adapters are
merged into the weights, so a bundle is a plain network that loads without peft.
"""

from __future__ import annotations

from typing import Any, cast

from torch import nn

from beautytune.errors import WeightsError


def linear_targets(module: nn.Module) -> list[str]:
    """Qualified names of every ``nn.Linear`` and ungrouped ``nn.Conv2d`` (peft's LoRA layers).

    Depthwise convolutions (groups > 1) are left out: a rank-r update of a per-channel
    filter is no smaller than the filter.
    """
    names = []
    for name, m in module.named_modules():
        if isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1):
            names.append(name)
    return names


def apply_lora(
    owner: nn.Module, attr: str, targets: list[str], *, r: int = 8, alpha: float = 16, dropout: float = 0.0
) -> list[nn.Parameter]:
    """Wrap ``owner.<attr>`` with LoRA adapters on ``targets``, in place.

    Afterwards only the adapters inside it are trainable (peft freezes the rest); returns them.
    """
    import peft

    inner = getattr(owner, attr)
    if isinstance(inner, peft.PeftModel):
        raise WeightsError("LoRA is already applied to this backbone")
    if not targets:
        raise WeightsError("this backbone has no linear or convolution layers to put LoRA adapters on")
    config = peft.LoraConfig(
        r=r,
        lora_alpha=alpha,  # type: ignore[arg-type]  # peft annotates int; floats work
        target_modules=targets,
        lora_dropout=dropout,
        bias="none",
    )
    wrapped = cast(nn.Module, peft.get_peft_model(cast(Any, inner), config))
    setattr(owner, attr, wrapped)
    return [p for p in wrapped.parameters() if p.requires_grad]


def merge_lora(owner: nn.Module, attr: str) -> None:
    """Fold the adapters into the weights and drop peft, in place: a plain module again.

    The state dict then has exactly the keys it had before ``apply_lora``; all parameters
    are left trainable, as they were before.
    """
    import peft

    inner = getattr(owner, attr)
    if not isinstance(inner, peft.PeftModel):
        return
    merged = cast(nn.Module, inner.merge_and_unload())
    for p in merged.parameters():
        p.requires_grad_(True)
    setattr(owner, attr, merged)


def bitfit_parameters(module: nn.Module) -> list[nn.Parameter]:
    """BitFit's trainable set: every bias and every norm scale/shift.

    That is exactly the 1-d tensors (timm's rule for skipping weight decay), which also
    catches norms with bias=False and layer-scale vectors.
    """
    return [p for p in module.parameters() if p.ndim <= 1]
