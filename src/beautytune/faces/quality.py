"""Capture quality of a face photo: is there one face, large, lit, sharp and facing the camera?

Every check gives a reason a person can act on ("face too small: 31 px, needs 64"), so the
audit and the report can list the photos that a face or skin model should not judge. The
thresholds are settings, not truths; the defaults pass ordinary phone selfies and web
portraits and stop what the landmarks or the skin pixels cannot be trusted on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from beautytune.faces.landmarks import Face

# landmarks used for the pose: nose tip, the face outline's far left/right, eye outer corners
_NOSE_TIP, _OUTLINE_R, _OUTLINE_L, _EYE_R, _EYE_L, _CHIN, _BROWS_MID = 1, 234, 454, 33, 263, 152, 9


@dataclass(frozen=True)
class QualitySettings:
    min_face_px: int = 64  # the face box's shorter side
    dark_below: float = 50.0  # mean grey level (0-255) of the face box
    bright_above: float = 215.0
    min_contrast: float = 14.0  # grey-level standard deviation in the face box
    max_yaw: float = 0.45  # |left - right| / (left + right) of nose-to-outline distances
    max_roll_deg: float = 25.0  # angle of the line through the eye corners
    min_sharpness: float = 40.0  # variance of the Laplacian, face box 128 px wide, contrast 50
    min_colour: float = 4.0  # mean spread between the RGB channels in the face box


@dataclass
class Quality:
    faces: int
    issues: list[str] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.issues

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "faces": self.faces, "issues": list(self.issues), "measures": self.measures}


def head_pose(face: Face) -> tuple[float, float]:
    """(yaw ratio, roll in degrees): yaw 0 when the nose is midway between the outline's
    sides, ±1 in full profile; roll 0 when the eyes are level."""
    p = face.points
    right = float(np.linalg.norm(p[_NOSE_TIP] - p[_OUTLINE_R]))
    left = float(np.linalg.norm(p[_NOSE_TIP] - p[_OUTLINE_L]))
    yaw = (left - right) / max(left + right, 1e-6)
    dx, dy = p[_EYE_L] - p[_EYE_R]
    roll = math.degrees(math.atan2(float(dy), float(dx)))
    return yaw, roll


def sharpness(grey: np.ndarray) -> float:
    """Variance of the Laplacian of a grey image (higher is sharper)."""
    from scipy.ndimage import laplace

    return float(laplace(grey.astype(np.float64)).var())


def assess(rgb: np.ndarray, faces: list[Face], settings: QualitySettings | None = None) -> Quality:
    """Check one photo (``rgb``: (H, W, 3) uint8) and the faces found in it, largest first."""
    from PIL import Image

    s = settings or QualitySettings()
    q = Quality(len(faces))
    if not faces:
        q.issues.append("no face found")
        return q
    if len(faces) > 1:
        q.issues.append(f"{len(faces)} faces: crop the photo to one person")
    face = faces[0]
    h, w = rgb.shape[:2]
    left, top, right, bottom = face.box
    box = (max(0, int(left)), max(0, int(top)), min(w, math.ceil(right)), min(h, math.ceil(bottom)))
    size = min(box[2] - box[0], box[3] - box[1])
    q.measures["face_px"] = float(size)
    if size < s.min_face_px:
        q.issues.append(f"face too small: {size} px, needs {s.min_face_px}")
    if size < 2:
        return q
    face_rgb = rgb[box[1] : box[3], box[0] : box[2]]
    colour = float((face_rgb.max(axis=2).astype(np.int16) - face_rgb.min(axis=2)).mean())
    q.measures["colour"] = round(colour, 1)
    if colour < s.min_colour:
        q.issues.append("no colour (greyscale photo): skin tone and colour cannot be judged")
    crop = Image.fromarray(face_rgb).convert("L")
    grey = np.asarray(crop, dtype=np.float64)
    mean, std = float(grey.mean()), float(grey.std())
    q.measures.update(brightness=round(mean, 1), contrast=round(std, 1))
    if mean < s.dark_below:
        q.issues.append(f"too dark: mean level {mean:.0f}, needs {s.dark_below:.0f}")
    elif mean > s.bright_above:
        q.issues.append(f"too bright: mean level {mean:.0f}, above {s.bright_above:.0f}")
    if std < s.min_contrast:
        q.issues.append(f"low contrast: {std:.1f}, needs {s.min_contrast:.0f}")
    yaw, roll = head_pose(face)
    q.measures.update(yaw=round(yaw, 3), roll_deg=round(roll, 1))
    if abs(yaw) > s.max_yaw:
        q.issues.append(f"head turned {'left' if yaw > 0 else 'right'} (yaw {yaw:+.2f}): face the camera")
    if abs(roll) > s.max_roll_deg:
        q.issues.append(f"head tilted {roll:+.0f} degrees: hold it level")
    width = 128
    small = crop.resize((width, max(1, round(crop.height * width / crop.width))))
    small_grey = np.asarray(small, dtype=np.float64)
    # at a fixed contrast, so that a dark or flat photo is not also called blurred
    sharp = sharpness((small_grey - small_grey.mean()) / max(float(small_grey.std()), 1.0) * 50.0)
    q.measures["sharpness"] = round(sharp, 1)
    if sharp < s.min_sharpness:
        q.issues.append(f"blurred: sharpness {sharp:.0f}, needs {s.min_sharpness:.0f}")
    return q
