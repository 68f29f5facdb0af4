"""The simulated population: who is on the watchlist, who is a stranger, and their captures.

Each person has synthetic fingers (right and left index, positions 2 and 7) and, when the tester
gives a face folder, the photos of one identity of it. Half (``enrolled_share``) are enrolled on
the gateway's watchlist; the others are strangers whose checks must come back "no hit". Finger
masters are grown once per person in worker processes; the enrolment impression and a small pool
of probe impressions per quality are rendered there and shipped back as PNG bytes, so the fleet
holds only bytes, not masters.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulator import faces as face_lib
from simulator import synth

FINGER_POSITIONS = (2, 7)  # mobile checks usually take the two index fingers
PROBES_PER_QUALITY = 3
CATEGORIES = ("red", "yellow", "blue", "green", "orange", "national_wanted", "deportee")


@dataclass
class SimFinger:
    position: int
    enrol_png: bytes
    probes: dict[str, list[bytes]]  # quality -> PNG impressions


@dataclass
class Person:
    index: int
    name: str
    enrolled: bool
    category: str
    fingers: list[SimFinger] = field(default_factory=list)
    face_enrol: Path | None = None
    face_probes: tuple[Path, ...] = ()
    subject_id: str | None = None  # set once seeded on the gateway
    enrolled_modalities: set[str] = field(default_factory=set)  # "finger", "face" accepted

    @property
    def has_face(self) -> bool:
        return self.face_enrol is not None


def _finger_job(job: tuple[int, int, int]) -> tuple[int, bytes, dict[str, list[bytes]]]:
    seed, number, position = job
    rng = synth.finger_rng(seed, number)
    master = synth.generate_master(rng)
    enrol = synth.render_impression(master, synth.enrolment_impression_params(rng), rng)
    probes = {
        q: [
            synth.encode(synth.render_impression(master, synth.field_probe_params(rng, q), rng))
            for _ in range(PROBES_PER_QUALITY)
        ]
        for q in ("good", "poor")
    }
    return position, synth.encode(enrol), probes


def build_population(
    *,
    identities: int,
    enrolled_share: float,
    fingers_per_subject: int,
    faces_dir: Path | None,
    seed: int,
    workers: int = 2,
    on_step: Callable[[str, int, int], None] | None = None,
) -> list[Person]:
    """People with fingers (and faces when a folder is given); the first share is enrolled.

    ``on_step(phase, done, total)`` reports progress (generating prints takes minutes)."""
    rng = np.random.default_rng([seed, 99])
    face_ids = face_lib.load_face_folder(faces_dir) if faces_dir else []
    if face_ids:
        identities = min(identities, len(face_ids))
    n_enrolled = round(identities * enrolled_share)
    people = []
    for i in range(identities):
        face = face_ids[i] if face_ids else None
        name = face.name.replace("_", " ") if face else f"Synthetic Person {i + 1:04d}"
        person = Person(
            index=i, name=name, enrolled=i < n_enrolled, category=str(rng.choice(CATEGORIES))
        )
        if face is not None:
            enrol, probes = face_lib.split_enrol_probe(face)
            person.face_enrol = enrol
            # An identity with one photo is probed with a varied copy of it.
            person.face_probes = probes or (enrol,)
        people.append(person)
    positions = FINGER_POSITIONS[:fingers_per_subject]
    jobs = [
        (seed, 1 + i * len(positions) + k, pos)
        for i in range(identities)
        for k, pos in enumerate(positions)
    ]
    results = []
    step = on_step or (lambda _phase, _done, _total: None)
    step("synthetic fingerprints", 0, len(jobs))
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            for result in pool.map(_finger_job, jobs):
                results.append(result)
                step("synthetic fingerprints", len(results), len(jobs))
    else:
        for job in jobs:
            results.append(_finger_job(job))
            step("synthetic fingerprints", len(results), len(jobs))
    for job, (position, enrol_png, probes) in zip(jobs, results, strict=True):
        person = people[(job[1] - 1) // len(positions)]
        person.fingers.append(SimFinger(position, enrol_png, probes))
    return people
