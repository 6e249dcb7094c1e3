"""Faces and their 478 FaceMesh landmarks, from the models the mediapipe wheel ships.

mediapipe 0.10.21's "solutions" API runs the face detector and FaceMesh bundled inside the
wheel (``mediapipe/modules/...tflite``); the newer Tasks API needs a model file downloaded at
run time, so it is not used. Landmarks are returned in pixels of the image given.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

#: FaceMesh with iris refinement: 468 face points + 10 iris points
NUM_LANDMARKS = 478


@dataclass(frozen=True)
class Face:
    #: (478, 2) x, y in pixels
    points: np.ndarray
    #: (478,) relative depth (FaceMesh's z, in units of the image width; smaller is nearer)
    depth: np.ndarray

    @property
    def box(self) -> tuple[float, float, float, float]:
        """left, top, right, bottom of the landmarks, in pixels."""
        x, y = self.points[:, 0], self.points[:, 1]
        return float(x.min()), float(y.min()), float(x.max()), float(y.max())


class FaceMesher:
    """One FaceMesh graph per thread (mediapipe graphs are not thread-safe), reused across
    photos: building the graph costs more than running it."""

    def __init__(self, max_faces: int = 2, min_confidence: float = 0.5) -> None:
        self.max_faces = max_faces
        self.min_confidence = min_confidence
        self._local = threading.local()

    def _mesh(self) -> Any:
        mesh = getattr(self._local, "mesh", None)
        if mesh is None:
            from mediapipe.python.solutions import face_mesh

            mesh = face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=self.max_faces,
                refine_landmarks=True,
                min_detection_confidence=self.min_confidence,
            )
            self._local.mesh = mesh
        return mesh

    def faces(self, rgb: np.ndarray) -> list[Face]:
        """Every face FaceMesh finds in an (H, W, 3) uint8 RGB image, largest first."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        h, w = rgb.shape[:2]
        result = self._mesh().process(np.ascontiguousarray(rgb))
        found = []
        for lm in result.multi_face_landmarks or []:
            xyz = np.array([(p.x, p.y, p.z) for p in lm.landmark], dtype=np.float32)
            found.append(Face(xyz[:, :2] * np.array([w, h], dtype=np.float32), xyz[:, 2]))
        return sorted(found, key=lambda f: -_area(f.box))


def _area(box: tuple[float, float, float, float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])
