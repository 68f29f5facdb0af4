"""Bulk fingerprint enrolment throughput: prints per minute on this machine's cores.

    uv run python benchmarks/fingerprint_import.py [--workers 2] [--subjects 40] [--prints 4]

Writes a manifest of ``--subjects`` FVC fingers from ../shared/data (``--prints`` impressions
each, enrolled as right index / left index alternately, 500 ppi) and imports it into a fresh
SQLite watchlist with the code of ``fieldcheck watchlist import`` (LEADER + NFIQ 2 in a pool
of ``--workers`` processes). A second run of the same manifest measures the resume (every
subject skipped). Prints a table, then one JSON object on the last line; report the machine's
load with it (printed).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def shared_data() -> Path:
    env = os.environ.get("FIELDCHECK_SHARED_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def write_manifest(folder: Path, subjects: int, prints: int) -> Path:
    root = shared_data() / "fingerprints"
    fingers = [
        (s, f) for s in sorted(p for p in root.iterdir() if p.is_dir()) for f in range(101, 111)
    ][:subjects]
    with (folder / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["external_ref", "name", "category", "fingerprints"])
        writer.writeheader()
        for folder_set, finger in fingers:
            position = 2 + 5 * (finger % 2)
            specs = [f"{position}:{folder_set / f'{finger}_{i}.tif'}" for i in range(1, prints + 1)]
            writer.writerow({"external_ref": f"FVC-{folder_set.name}-{finger}",
                             "name": f"{folder_set.name} {finger}", "category": "red",
                             "fingerprints": ";".join(specs)})
    return folder


def run_import(database: Path, folder: Path, workers: int) -> dict:
    from sqlmodel import Session

    from gateway import db
    from gateway.watchlist import importer

    engine = db.make_engine(f"sqlite:///{database}")
    db.create_all(engine)
    rows = importer.read_folder(folder, allow_outside=True)
    with Session(engine, expire_on_commit=False) as session:
        started = time.perf_counter()
        results = list(importer.run_import(session, rows, actor=None, country="XX",
                                           workers=workers))
        elapsed = time.perf_counter() - started
    engine.dispose()
    summary = importer.summarise(results)
    prints = sum(r.get("fingerprints", 0) for r in results)
    return {**summary, "elapsed_s": round(elapsed, 2), "prints_enrolled": prints,
            "prints_per_minute": round(prints / elapsed * 60, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--subjects", type=int, default=40)
    parser.add_argument("--prints", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_manifest(Path(tmp), args.subjects, args.prints)
        database = Path(tmp) / "watchlist.db"
        first = run_import(database, folder, args.workers)
        resume = run_import(database, folder, args.workers)
    report = {"workers": args.workers, "cores": os.cpu_count(), "import": first,
              "resume": resume, "load_avg": round(os.getloadavg()[0], 2)}
    table = Table("run", "subjects", "prints", "seconds", "prints/min", "skipped",
                  title="Fingerprint bulk import (LEADER + NFIQ 2)")
    for name, r in (("import", first), ("resume", resume)):
        table.add_row(name, str(r.get("imported", 0)), str(r["prints_enrolled"]),
                      str(r["elapsed_s"]), str(r["prints_per_minute"]), str(r.get("skipped", 0)))
    Console(stderr=True).print(table)
    Console(stderr=True).print(f"load average {report['load_avg']} ({report['cores']} cores)")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
