"""Files ConvLens ships: sample images (see ``assets/README.md`` for their licences)."""

from __future__ import annotations

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
SAMPLES_DIR = ASSETS_DIR / "samples"
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def sample_images() -> dict[str, Path]:
    """Sample images by display name ("cat", "coffee", ...), sorted by name."""
    files = sorted(p for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
    return {p.stem.replace("_", " "): p for p in files}
