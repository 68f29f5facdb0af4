"""Face photos for the simulator: a tester's folder of identities, and capture variation.

The folder layout is ``<dir>/<identity>/<photos>`` (JPEG, PNG, PGM...). One photo per identity can
be enrolled; the others are probes, re-captured through ``vary_face`` to look like a handheld's
camera: a different scale, some blur, brightness, JPEG quality and a small rotation. The simulator
never ships faces: testers bring their own (for instance ``../shared/data/faces/lfw``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

FaceQuality = Literal["good", "poor"]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class FaceIdentity:
    """One person of the tester's folder: a name and their photo files (sorted)."""

    name: str
    photos: tuple[Path, ...]


@dataclass(frozen=True)
class FaceVariation:
    """How a probe capture differs from the stored photo."""

    scale: float = 1.0
    blur_sigma: float = 0.0
    brightness: float = 0.0  # added to every channel, -255..255
    contrast: float = 1.0
    jpeg_quality: int = 90
    rotation_deg: float = 0.0


def load_face_folder(folder: Path, min_photos: int = 1) -> list[FaceIdentity]:
    """Identities with at least ``min_photos`` readable-looking photos, sorted by name.

    Raises FileNotFoundError if the folder does not exist and ValueError if it holds no identity.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"face folder {folder} does not exist")
    out = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        photos = tuple(sorted(
            p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        ))
        if len(photos) >= min_photos:
            out.append(FaceIdentity(sub.name, photos))
    if not out:
        raise ValueError(
            f"no identity in {folder}: expected sub-folders <identity>/ with at least "
            f"{min_photos} photo(s) each"
        )
    return out


def random_face_variation(rng: np.random.Generator, quality: FaceQuality = "good") -> FaceVariation:
    """Draw a capture variation; "poor" captures are small, blurred, dark or over-compressed."""
    if quality == "good":
        return FaceVariation(
            scale=float(rng.uniform(0.9, 1.25)),
            blur_sigma=float(rng.uniform(0.0, 0.8)),
            brightness=float(rng.normal(0, 12)),
            contrast=float(rng.uniform(0.9, 1.1)),
            jpeg_quality=int(rng.integers(70, 96)),
            rotation_deg=float(rng.normal(0, 3)),
        )
    return FaceVariation(
        scale=float(rng.uniform(0.25, 0.45)),
        blur_sigma=float(rng.uniform(2.0, 4.0)),
        brightness=float(rng.choice([-1, 1]) * rng.uniform(50, 90)),
        contrast=float(rng.uniform(0.5, 0.8)),
        jpeg_quality=int(rng.integers(8, 25)),
        rotation_deg=float(rng.normal(0, 8)),
    )


def vary_face(image: bytes | np.ndarray, variation: FaceVariation) -> bytes:
    """Apply ``variation`` to an encoded photo (or a BGR/grey array) and return JPEG bytes."""
    if isinstance(image, bytes):
        pixels = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
        if pixels is None:
            raise ValueError("the face photo could not be decoded")
    else:
        pixels = image
    h, w = pixels.shape[:2]
    if variation.rotation_deg:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), variation.rotation_deg, 1.0)
        pixels = cv2.warpAffine(pixels, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    if not math.isclose(variation.scale, 1.0):
        size = (max(8, round(w * variation.scale)), max(8, round(h * variation.scale)))
        interp = cv2.INTER_AREA if variation.scale < 1 else cv2.INTER_CUBIC
        pixels = cv2.resize(pixels, size, interpolation=interp)
    if variation.blur_sigma > 0.05:
        pixels = cv2.GaussianBlur(pixels, (0, 0), variation.blur_sigma)
    pixels = cv2.convertScaleAbs(pixels, alpha=variation.contrast, beta=variation.brightness)
    ok, jpeg = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, variation.jpeg_quality])
    if not ok:  # pragma: no cover - cv2 encodes any uint8 image
        raise ValueError("could not encode the varied face as JPEG")
    return jpeg.tobytes()


def split_enrol_probe(identity: FaceIdentity) -> tuple[Path, tuple[Path, ...]]:
    """The photo to enrol (the first) and the ones to use as probes (the rest)."""
    return identity.photos[0], identity.photos[1:]
