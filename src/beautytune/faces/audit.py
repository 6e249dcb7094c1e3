"""The audit's face check: capture quality of every usable photo, with its reason, and
(``--faces-fallback skip``) photos without a usable face left out of training."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from beautytune.data.images import ImageError, load_rgb
from beautytune.faces.prepare import FaceOptions, faces_of
from beautytune.faces.quality import assess
from beautytune.faces.tone import CATEGORY_NAMES, face_tone

if TYPE_CHECKING:
    from beautytune.data.audit import AuditReport


def check_faces(report: AuditReport, options: FaceOptions, progress: bool = False) -> AuditReport:
    """Adds ``report.face_quality`` (one entry per checked photo) and a summary; with the
    ``skip`` fallback a photo that fails the check becomes an error entry (not trained on)."""
    from beautytune.data.audit import _maybe_progress, _usable_class_counts

    checked: list[dict[str, Any]] = []
    usable = [e for e in report.entries if e.usable]
    for entry in _maybe_progress(usable, progress, "Checking faces"):
        try:
            rgb = np.asarray(load_rgb(entry.path))
        except ImageError:
            continue  # the audit has already judged it
        found = faces_of(rgb, entry.path)
        quality = assess(rgb, found)
        tone = face_tone(rgb, found[0].points) if found else None
        checked.append(
            {"path": entry.path, **quality.to_dict(), "tone": None if tone is None else asdict(tone)}
        )
        if not quality.ok and options.fallback == "skip":
            entry.status = "error"
            entry.reason = "face: " + "; ".join(quality.issues)
            entry.issues.append(entry.reason)
    report.face_quality = checked
    report.class_counts = _usable_class_counts(report.entries)
    counts = list(report.class_counts.values())
    report.imbalance_ratio = round(max(counts) / min(counts), 3) if counts else 0.0
    report.summary["faces"] = {
        "mode": options.mode,
        "fallback": options.fallback,
        "checked": len(checked),
        "with_issues": sum(not q["ok"] for q in checked),
        "no_face": sum(q["faces"] == 0 for q in checked),
        "tones": {
            name: n
            for name in CATEGORY_NAMES
            if (n := sum(q["tone"] is not None and q["tone"]["category"] == name for q in checked))
        },
    }
    if options.fallback == "skip":
        report.summary["usable"] = sum(e.usable for e in report.entries)
    return report


def markdown(report: AuditReport, limit: int = 100) -> list[str]:
    quality = report.face_quality
    if quality is None:
        return []
    s = report.summary["faces"]
    bad = [q for q in quality if not q["ok"]]
    use = (
        "left out of training (`--faces-fallback skip`)"
        if s["fallback"] == "skip"
        else "used whole where no face was found (`--faces-fallback whole`)"
    )
    lines = [
        "## Faces (capture quality)",
        "",
        f"{s['checked']} photos checked for `--faces {s['mode']}`: {len(bad)} with issues, "
        f"{s['no_face']} without a face; those are {use}.",
        "",
        "Skin tone of the faces found (ITA of the cheeks' CIELAB colour, an estimate from the "
        "pixels, not an identity attribute): "
        + (", ".join(f"{name} {n}" for name, n in s.get("tones", {}).items()) or "none"),
        "",
    ]
    if bad:
        lines += ["| file | faces | issues |", "|---|---:|---|"]
        lines += [
            f"| {Path(q['path']).name} | {q['faces']} | {'; '.join(q['issues'])} |" for q in bad[:limit]
        ]
        if len(bad) > limit:
            lines.append(f"\n... {len(bad) - limit} more in audit.json")
    return [*lines, ""]
