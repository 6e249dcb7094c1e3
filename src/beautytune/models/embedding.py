"""An embedding network for verification: backbone -> neck -> unit-length embedding, trained
with an additive angular margin (ArcFace) over the training identities.

The margin loss is pytorch-metric-learning's ``ArcFaceLoss``; its class centres are the
head's ``fc`` parameters, so every loop strategy (head, partial, full, LoRA...) trains it
like any head. At inference only the embedding counts: two photos are one person when the
cosine of their embeddings passes a threshold.
"""

from __future__ import annotations

import torch
from torch import nn

from beautytune.models.network import ImageClassifier

EMBEDDING_DIM = 256


class EmbeddingHead(nn.Module):
    def __init__(self, width: int, num_classes: int, dim: int = EMBEDDING_DIM) -> None:
        from pytorch_metric_learning.losses import ArcFaceLoss

        super().__init__()
        self.neck = nn.Linear(width, dim)
        self.fc = ArcFaceLoss(num_classes, dim, margin=28.6, scale=64)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.neck(features), dim=-1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Scaled cosines to each training identity's centre (no margin): identification
        logits, what validation scores and checkpoints are chosen on."""
        return self.fc.get_logits(self.neck(features))  # type: ignore[no-any-return]

    def loss(self, features: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fc(self.neck(features), y)  # type: ignore[no-any-return]


class EmbeddingClassifier(ImageClassifier):
    head: EmbeddingHead

    def embed(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, EMBEDDING_DIM) unit-length embeddings."""
        return self.head.embed(self.features(pixel_values))

    def training_loss(
        self, inputs: dict[str, torch.Tensor], y: torch.Tensor, loss_fn: nn.Module
    ) -> torch.Tensor:
        return self.head.loss(self.features(**inputs), y)
