"""Bulk import throughput and enrolment-to-searchable latency on the 75 LFW identities.

    uv run python benchmarks/watchlist_import.py [--workers 2] [--photos 10] [--latency-runs 10]
        [--templates-only]

1. Writes a manifest (one row per identity, ``--photos`` photos each) and imports it into a fresh
   SQLite watchlist with the same code as ``fieldcheck watchlist import`` (reference images kept
   sealed, unless ``--templates-only``): subjects/s, images/s,
   and the summary of refused images. A second run measures the resume (everything skipped).
2. Serves a gateway on that database over loopback; for ``--latency-runs`` identities: delete
   the subject, then time create + enrol one photo + a device check with another photo of the
   same person until the check returns the new subject as a hit.

Prints a table, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ADMIN = "fc_bench_admin_" + secrets.token_urlsafe(24)  # strong: checked at start


def shared_data() -> Path:
    env = os.environ.get("FIELDCHECK_SHARED_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def write_manifest(folder: Path, people: list[Path], photos: int) -> Path:
    with (folder / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["external_ref", "name", "category", "faces"])
        writer.writeheader()
        for p in people:
            writer.writerow(
                {
                    "external_ref": f"LFW-{p.name}",
                    "name": p.name.replace("_", " "),
                    "category": "red",
                    "faces": ";".join(str(x) for x in sorted(p.glob("*.jpg"))[:photos]),
                }
            )
    return folder


def run_import(settings, folder: Path, workers: int,  # type: ignore[no-untyped-def]
               templates_only: bool = False) -> dict:
    from sqlmodel import Session

    from gateway import db
    from gateway.privacy.crypto import Keyring
    from gateway.watchlist import importer

    engine = db.make_engine(settings.effective_database_url)
    db.create_all(engine)
    rows = importer.read_folder(folder, allow_outside=True)  # the manifest names LFW in place
    # As the CLI does: each image kept sealed beside its template.
    keep_images = (None if templates_only else
                   importer.KeepImages.from_settings(Keyring.from_settings(settings), settings))
    with Session(engine, expire_on_commit=False) as session:
        started = time.perf_counter()
        results = list(
            importer.run_import(
                session, rows, actor=None, country=settings.country, workers=workers,
                keep_images=keep_images,
            )
        )
        elapsed = time.perf_counter() - started
    engine.dispose()
    summary = importer.summarise(results)
    images = sum(r.get("faces", 0) + r.get("fingerprints", 0) for r in results)
    return {
        **summary,
        "elapsed_s": round(elapsed, 2),
        "subjects_per_s": round(summary["imported"] / elapsed, 2),
        "images_per_s": round(images / elapsed, 2),
        "images_enrolled": images,
        "reference_images_kept": sum(r.get("reference_images", 0) for r in results),
    }


def serve(settings) -> tuple[uvicorn.Server, threading.Thread, str]:  # type: ignore[no-untyped-def]
    from gateway.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, start_upstream=False),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return server, thread, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("gateway did not start")


def enrol_to_searchable(url: str, people: list[Path], runs: int) -> list[dict]:
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
    device_secret = admin.post("/v1/tokens", json={"role": "device", "name": "bench"}).json()[
        "token"
    ]
    device = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {device_secret}"}, timeout=60
    )
    out = []
    for person in people[:runs]:
        photos = sorted(person.glob("*.jpg"))
        old = admin.get("/v1/subjects", params={"external_ref": f"LFW-{person.name}"}).json()
        for s in old["items"]:
            admin.delete(f"/v1/subjects/{s['id']}", params={"reason": "benchmark re-enrolment"})
        started = time.perf_counter()
        sid = admin.post(
            "/v1/subjects",
            json={"name": person.name, "category": "red", "external_ref": f"LFW-{person.name}"},
        ).json()["id"]
        r = admin.post(
            f"/v1/subjects/{sid}/faces", files={"image": ("a.jpg", photos[0].read_bytes())}
        )
        enrolled = time.perf_counter()
        found = False
        body: dict = {}
        while not found and time.perf_counter() - started < 10:
            body = device.post(
                "/v1/checks", files={"face": ("p.jpg", photos[5].read_bytes())}, data={"purpose": "training"}
            ).json()
            # Found = the new subject is a candidate (hit or possible: one enrolled photo
            # against another photo of the person can land either side of the hit threshold).
            found = any(c["subject_id"] == sid for c in body.get("candidates", []))
        done = time.perf_counter()
        out.append(
            {
                "identity": person.name,
                "enrol_status": r.status_code,
                "found": found,
                "enrol_ms": round((enrolled - started) * 1000, 1),
                "enrol_to_found_ms": round((done - started) * 1000, 1),
                "check_ms": body.get("elapsed_ms"),
                "decision": body.get("decision"),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--latency-runs", type=int, default=10)
    parser.add_argument("--templates-only", action="store_true",
                        help="import without keeping reference images (to measure their cost)")
    args = parser.parse_args()
    lfw = shared_data() / "faces" / "lfw"
    if not lfw.is_dir():
        sys.exit(f"LFW not found at {lfw} (set FIELDCHECK_SHARED_DATA_DIR)")
    people = sorted(p for p in lfw.iterdir() if p.is_dir())
    from gateway.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", admin_token=ADMIN, country="KE")
        folder = write_manifest(Path(tmp), people, args.photos)
        first = run_import(settings, folder, args.workers, args.templates_only)
        resume = run_import(settings, folder, args.workers, args.templates_only)
        server, thread, url = serve(settings)
        try:
            latency = enrol_to_searchable(url, people, args.latency_runs)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    times = [x["enrol_to_found_ms"] for x in latency if x["found"]]
    report = {
        "identities": len(people),
        "photos_per_identity": args.photos,
        "workers": args.workers,
        "cpu_count": os.cpu_count(),
        "import": {
            k: first[k]
            for k in (
                "total",
                "imported",
                "skipped",
                "rejected",
                "elapsed_s",
                "subjects_per_s",
                "images_per_s",
                "images_enrolled",
                "reference_images_kept",
            )
        },
        "refused_images": first["refused_images"],
        "resume": {k: resume[k] for k in ("imported", "skipped", "rejected", "elapsed_s")},
        "enrol_to_searchable_ms": {
            "runs": len(latency),
            "found": len(times),
            "p50": round(statistics.median(times), 1) if times else None,
            "max": max(times) if times else None,
            "under_1s": sum(t < 1000 for t in times),
        },
        "latency_runs": latency,
    }
    table = Table("measure", "value", title="Watchlist bulk import (LFW)")
    imp = report["import"]
    table.add_row("subjects imported / rejected", f"{imp['imported']} / {imp['rejected']}")
    table.add_row(
        "images enrolled / refused", f"{imp['images_enrolled']} / {len(report['refused_images'])}"
    )
    table.add_row("import time", f"{imp['elapsed_s']} s")
    table.add_row(
        "throughput", f"{imp['subjects_per_s']} subjects/s, {imp['images_per_s']} images/s"
    )
    table.add_row("resume (re-run)", f"{resume['skipped']} skipped in {resume['elapsed_s']} s")
    e2s = report["enrol_to_searchable_ms"]
    table.add_row(
        "enrol -> searchable p50 / max",
        f"{e2s['p50']} / {e2s['max']} ms ({e2s['under_1s']}/{e2s['runs']} under 1 s)",
    )
    Console(stderr=True).print(table)
    for r in report["refused_images"]:
        Console(stderr=True).print(f"  refused {r['file']}: {r['reason']}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
