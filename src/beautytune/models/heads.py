"""Classification heads put on top of a backbone's pooled features."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn


def build_head(
    in_features: int, num_classes: int, hidden: tuple[int, ...] = (), dropout: float = 0.0
) -> nn.Sequential:
    """Linear head (``hidden=()``) or an MLP; the final layer is always ``fc``.

    A fixed name for the last layer lets the features strategy write its fitted
    linear classifier into it and export treat every head alike.
    """
    layers: list[tuple[str, nn.Module]] = []
    width = in_features
    for i, h in enumerate(hidden):
        if dropout > 0:
            layers.append((f"drop{i}", nn.Dropout(dropout)))
        layers.append((f"hidden{i}", nn.Linear(width, h)))
        layers.append((f"act{i}", nn.GELU()))
        width = h
    if dropout > 0:
        layers.append(("drop", nn.Dropout(dropout)))
    layers.append(("fc", nn.Linear(width, num_classes)))
    return nn.Sequential(OrderedDict(layers))
