"""The synthetic central population, reproducible from a seed.

Tests rebuild a subject's templates with ``synthetic_subject(seed, i)`` and send them as a probe
that central knows and the local watchlist does not. Names are invented; no real person is here.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from matchers import iso19794

SURNAMES = (
    "RAKOTO", "MWANGI", "SILVA", "NAMBALA", "ABDALLAH", "DUPONT", "OTIENO", "RANDRIA", "MUTHONI",
    "FERREIRA", "SAID", "IITULA", "CHARLES", "MOHAMED", "KAMAU", "COSTA", "BEEHARRY", "HOARAU",
)
GIVEN = (
    "JEAN", "AMINA", "JOAO", "GRACE", "ALI", "MARIE", "PETER", "FATUMA", "ANTONIO", "ZAINAB",
    "DAVID", "NADIA", "JOSEPH", "HERY", "ROSA", "OMAR", "LUCIE", "TENDAI",
)
STATES = ("AGO", "COM", "KEN", "MDG", "MUS", "MOZ", "NAM", "SYC", "TZA", "FRA", "GBR", "IND")
CATEGORIES = ("red", "red", "yellow", "blue", "green", "orange", "national_wanted")
FINGER_POSITIONS = (2, 7)


@dataclass(frozen=True)
class SyntheticSubject:
    subject_id: str
    surname: str
    given_names: str
    birth_date: str
    nationality: str
    category: str
    face: np.ndarray  # unit float32 (128,)
    fingers: dict[int, bytes]  # position -> ISO/IEC 19794-2 record

    @property
    def face_b64(self) -> str:
        return base64.b64encode(self.face.astype("<f4").tobytes()).decode()

    def fingers_b64(self) -> list[dict[str, object]]:
        return [
            {"position": p, "iso_19794_2": base64.b64encode(t).decode()}
            for p, t in self.fingers.items()
        ]


def synthetic_subject(seed: int, index: int) -> SyntheticSubject:
    rng = np.random.default_rng([seed, index])
    face = rng.standard_normal(128).astype(np.float32)
    face /= np.linalg.norm(face)
    fingers: dict[int, bytes] = {}
    for position in FINGER_POSITIONS:
        n = int(rng.integers(45, 65))
        minutiae = np.column_stack([
            rng.uniform(20, 380, n), rng.uniform(20, 480, n), rng.uniform(0, 2 * np.pi, n),
            rng.uniform(0.4, 1.0, n),
        ]).astype(np.float32)
        fingers[position] = iso19794.encode(minutiae, width=400, height=500, position=position)
    year = int(rng.integers(1950, 2005))
    return SyntheticSubject(
        subject_id=f"C{seed % 1000:03d}-{index:06d}",
        surname=SURNAMES[int(rng.integers(len(SURNAMES)))],
        given_names=GIVEN[int(rng.integers(len(GIVEN)))],
        birth_date=f"{year:04d}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}",
        nationality=STATES[int(rng.integers(len(STATES)))][:2],
        category=CATEGORIES[int(rng.integers(len(CATEGORIES)))],
        face=face, fingers=fingers,
    )


def synthetic_document(seed: int, index: int) -> dict[str, str]:
    """One stolen or lost travel document of the seeded list."""
    rng = np.random.default_rng([seed, 1_000_000 + index])
    state = STATES[int(rng.integers(len(STATES)))]
    return {
        "document_number": f"{state[0]}{index:08d}",
        "issuing_state": state,
        "status": "stolen" if rng.random() < 0.6 else "lost",
    }
