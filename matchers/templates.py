"""Templates: the features the matchers compare, with their (de)serialisation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from matchers import iso19794
from matchers.errors import TemplateError
from matchers.params import FACE_EMBEDDING_DIM


@dataclass
class FingerprintTemplate:
    """Minutiae (float32 ``(n, 4)``: x, y, theta rad, quality 0-1) of one 500 ppi impression."""

    minutiae: np.ndarray
    width: int
    height: int
    position: int = 0
    nfiq2: int | None = None  # None: NFIQ 2 could not be computed (unknown, not low)
    # Resolution of the capture before resampling to 500 ppi, and where it came from
    # ("request", "image_header", "default"); not part of the ISO record.
    capture_ppi: int | None = None
    ppi_source: str | None = None
    # ISO type code per minutia (``iso19794.OTHER`` / ``RIDGE_ENDING`` / ``BIFURCATION``) when
    # known: from a device's record or LEADER's type channel; None when not determined (written
    # "other", e.g. the NBIS baseline).
    minutia_types: np.ndarray | None = None
    # The quality byte of a record read from a device (ISO/IEC 19794-2 finger quality): each
    # vendor's own scale (some write NFIQ 1's 1-5), so never read as NFIQ 2. None: 0 (not
    # reported) or not read from a record. Written back into the record when NFIQ 2 is unknown.
    device_quality: int | None = None

    def to_iso(self) -> bytes:
        return iso19794.encode(
            self.minutiae, width=self.width, height=self.height, position=self.position,
            quality=self.nfiq2 if self.nfiq2 is not None else (self.device_quality or 0),
            types=self.minutia_types,
        )

    @classmethod
    def from_iso(cls, record: bytes) -> FingerprintTemplate:
        minutiae, header = iso19794.parse(record)
        return cls(
            minutiae=minutiae, width=header["width"], height=header["height"],
            position=header["position"], device_quality=header["quality"] or None,
            minutia_types=header["types"],
        )


@dataclass
class FaceTemplate:
    """A unit-normalised 128-d SFace embedding and the measured capture quality."""

    embedding: np.ndarray
    quality: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.embedding = normalise_embedding(self.embedding)

    def to_bytes(self) -> bytes:
        return self.embedding.astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> FaceTemplate:
        if len(data) != 4 * FACE_EMBEDDING_DIM:
            raise TemplateError(f"face template must be {4 * FACE_EMBEDDING_DIM} bytes")
        return cls(embedding=np.frombuffer(data, dtype="<f4").copy())


def normalise_embedding(vector: np.ndarray) -> np.ndarray:
    """Validate and L2-normalise an embedding; raises TemplateError on NaN or wrong length."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if v.shape[0] != FACE_EMBEDDING_DIM:
        raise TemplateError(f"embedding has {v.shape[0]} values, expected {FACE_EMBEDDING_DIM}")
    if not np.all(np.isfinite(v)):
        raise TemplateError("embedding contains NaN or infinite values")
    norm = float(np.linalg.norm(v))
    if norm < 1e-6:
        raise TemplateError("embedding is all zeros")
    return v / norm
