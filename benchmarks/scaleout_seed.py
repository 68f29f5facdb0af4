"""Seed a PostgreSQL watchlist fast: 100,000 subjects with faces and fingerprints in about a minute.

Used by ``benchmarks/scaleout_pg.py``; runnable on its own:

    uv run python benchmarks/scaleout_seed.py --subjects 100000 --db fieldcheck_scale_seed

The tables come from the product (``gateway.db.create_all``: the migrations every gateway runs),
the rows go in with PostgreSQL ``COPY`` (column names taken from the SQLModel tables, values
adapted by psycopg), so a seeded database is exactly what a gateway would have written:
``subject``, ``biometric_template`` (current face and finger model ids, so no template is
"stale") and one ``watchlist_change`` per subject, as ``POST /v1/subjects`` + enrolment leave.

The mix (``MIX``) is a national watchlist merged from notices with and without biometrics:
half the subjects have a face only, a third a face and both index fingers (the positions mobile
devices capture), some fingers only, a few full ten-prints. Faces are random unit embeddings,
fingerprints cycle over ``unique_fingers`` synthetic minutiae sets (``matchers.synthetic``,
~2 ms each to make); both compete with real probes the way strangers do (lenient: see
docs/MATCHERS.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from psycopg.types.json import Json  # noqa: E402

from gateway.watchlist.models import (  # noqa: E402
    BiometricTemplate,
    Subject,
    WatchlistChange,
    current_model,
)

# share of subjects, capture set: (face?, finger positions)
MIX: tuple[tuple[float, bool, tuple[int, ...]], ...] = (
    (0.50, True, ()),
    (0.35, True, (2, 7)),
    (0.12, False, (2, 7)),
    (0.03, True, tuple(range(1, 11))),
)
CATEGORIES = ("red", "red", "blue", "yellow", "green", "national_wanted", "deportee", "black")
COUNTRIES = ("MU", "KE", "TZ", "MZ", "MG", "SC", "NA", "AO", "KM")
FORMAT = 1  # bump when the rows written here change, so reused seeds are rebuilt


@dataclass(frozen=True)
class SeedSpec:
    subjects: int
    unique_fingers: int

    def key(self) -> str:
        """Everything a seeded database depends on: a reused seed must match it exactly."""
        from matchers.fingerprint_index import FORMAT_VERSION

        facts = {"format": FORMAT, "subjects": self.subjects,
                 "unique_fingers": self.unique_fingers, "mix": MIX,
                 "models": [current_model("face"), current_model("finger")],
                 "finger_index_format": FORMAT_VERSION}
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def plan(spec: SeedSpec) -> list[tuple[bool, tuple[int, ...]]]:
    """The capture set of each subject, in order (deterministic, shuffled across the mix)."""
    rng = np.random.default_rng(19)
    shares = np.array([m[0] for m in MIX])
    kinds = rng.choice(len(MIX), size=spec.subjects, p=shares / shares.sum())
    return [(MIX[k][1], MIX[k][2]) for k in kinds]


def _copy(cur: psycopg.Cursor, table: object, columns: list[str], rows) -> int:
    name = table.__table__.name  # type: ignore[attr-defined]
    known = set(table.__table__.columns.keys())  # type: ignore[attr-defined]
    unknown = set(columns) - known
    if unknown:  # the product's tables moved: fail loudly instead of seeding the wrong shape
        raise RuntimeError(f"{name} has no columns {sorted(unknown)}")
    n = 0
    with cur.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def seed(conninfo: str, spec: SeedSpec, *, log=print) -> dict:
    """Fill an empty, migrated database (``conninfo``: psycopg) with ``spec``; returns counts."""
    from matchers import synthetic

    rng = np.random.default_rng(11)
    started = time.perf_counter()
    prints = [synthetic.fingerprint_template(rng, position=0).to_iso()
              for _ in range(spec.unique_fingers)]
    log(f"  {spec.unique_fingers:,} synthetic minutiae sets in "
        f"{time.perf_counter() - started:.1f} s")
    subjects = plan(spec)
    faces = synthetic.face_embeddings(rng, sum(1 for face, _ in subjects if face))
    stamp = datetime.now(UTC)
    face_model, finger_model = current_model("face"), current_model("finger")
    json_type = Json

    def subject_rows():
        for i, _ in enumerate(subjects):
            yield (f"sub_{i:08d}", f"Synthetic Subject {i}", json_type([]),
                   CATEGORIES[i % len(CATEGORIES)], COUNTRIES[i % len(COUNTRIES)],
                   stamp, stamp)

    def template_rows():
        f = p = 0
        for i, (face, fingers) in enumerate(subjects):
            if face:
                yield (f"tpl_f_{i:08d}", f"sub_{i:08d}", "face", 0,
                       faces[f].astype("<f4").tobytes(), json_type({}), face_model, stamp)
                f += 1
            for position in fingers:
                yield (f"tpl_p_{i:08d}_{position:02d}", f"sub_{i:08d}", "finger", position,
                       prints[p % len(prints)], json_type({}), finger_model, stamp)
                p += 1

    counts: dict = {}
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        t0 = time.perf_counter()
        counts["subjects"] = _copy(cur, Subject, ["id", "name", "aliases", "category",
                                                  "originating_country", "created_at",
                                                  "updated_at"], subject_rows())
        counts["templates"] = _copy(cur, BiometricTemplate, [
            "id", "subject_id", "modality", "position", "data", "quality", "model", "created_at",
        ], template_rows())
        counts["changes"] = _copy(cur, WatchlistChange, ["subject_id", "op", "at"],
                                  ((f"sub_{i:08d}", "upsert", stamp)
                                   for i in range(len(subjects))))
        conn.commit()
        cur.execute("ANALYZE")
        log(f"  COPY of {counts['subjects']:,} subjects, {counts['templates']:,} templates in "
            f"{time.perf_counter() - t0:.1f} s")
    counts["faces"] = sum(1 for face, _ in subjects if face)
    counts["fingerprints"] = sum(len(fingers) for _, fingers in subjects)
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


def main() -> None:
    from gateway.db import create_all, make_engine

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--unique-fingers", type=int, default=10_000)
    ap.add_argument("--db", default="fieldcheck_scale_seed", help="database (re)created here")
    args = ap.parse_args()
    admin = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}"')
        conn.execute(f'CREATE DATABASE "{args.db}"')
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.db}")
    create_all(engine)
    engine.dispose()
    counts = seed(f"host=127.0.0.1 port=5432 user=postgres dbname={args.db}",
                  SeedSpec(args.subjects, args.unique_fingers))
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
