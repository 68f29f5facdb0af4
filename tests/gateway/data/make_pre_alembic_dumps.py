"""Write the pre-migration databases the migration tests start from (run once, on the code of
commit 6302ca6, the last main before Alembic; the dumps are committed beside this file):

    git worktree add --detach /tmp/fc-old 6302ca6
    cd /tmp/fc-old && PYTHONPATH=. python <this file> <folder of the dumps>

A real gateway of that code makes the database (its own create_all and start-up: country,
bootstrap admin token), then its API creates a device token and a subject, and its models store
a face and a finger template; the audit trail records all of it. The SQLite file is dumped with
``iterdump`` and the PostgreSQL schema with ``pg_dump --inserts``, its schema name removed so a
test can load it into a fresh schema of its own.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
from sqlmodel import Session

from gateway.watchlist.models import BiometricTemplate, current_model
from tests.conftest import PG_URL, LiveGateway
from tests.gateway.test_persistence import _face, _finger

SUBJECT = {"name": "Old Record", "category": "red", "aliases": ["O. Record"],
           "external_ref": "legacy-001", "nationality": "MU"}


def populate(data_dir: Path, **overrides: object) -> None:
    with LiveGateway(data_dir, **overrides) as gw:
        with gw.client() as c:
            c.post("/v1/tokens", json={"role": "device", "name": "SEEK-LEGACY"}).raise_for_status()
            r = c.post("/v1/subjects", json=SUBJECT)
            r.raise_for_status()
            subject_id = r.json()["id"]
        with Session(gw.runtime.engine) as s:
            s.add(BiometricTemplate(id="tpl_legacy_face", subject_id=subject_id, modality="face", position=0,
                                    data=_face(1), quality={}, model=current_model("face")))
            s.add(BiometricTemplate(id="tpl_legacy_finger", subject_id=subject_id, modality="finger", position=2,
                                    data=_finger(1, 2), quality={},
                                    model=current_model("finger")))
            s.commit()


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        populate(Path(tmp) / "sqlite")
        conn = sqlite3.connect(Path(tmp) / "sqlite" / "fieldcheck.db")
        (out / "pre_alembic_sqlite.sql").write_text("\n".join(conn.iterdump()) + "\n")
        conn.close()

        schema = "fc_dump_" + uuid.uuid4().hex[:8]
        dsn = "host=127.0.0.1 port=5432 user=postgres dbname=test"
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f"CREATE SCHEMA {schema}")
        try:
            populate(Path(tmp) / "pg",
                     database_url=f"{PG_URL}?options=-csearch_path%3D{schema}")
            dump = subprocess.run(
                ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-n", schema,
                 "--no-owner", "--no-privileges", "--inserts"],
                check=True, capture_output=True, text=True).stdout
        finally:
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute(f"DROP SCHEMA {schema} CASCADE")
        kept = [line for line in dump.splitlines()
                if not line.startswith(("SET ", "SELECT pg_catalog.set_config", "\\"))
                and f"SCHEMA {schema}" not in line]
        text = re.sub(rf"\b{schema}\.", "", "\n".join(kept)).replace(schema, "<schema>")
        (out / "pre_alembic_postgresql.sql").write_text(text + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
