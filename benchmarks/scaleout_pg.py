"""Scale-out on PostgreSQL: three gateway processes on one database, one central stub.

    uv run python benchmarks/scaleout_pg.py --subjects 100000 --json

Measures, on real ``fieldcheck serve`` processes over loopback:
- cache convergence: a subject enrolled on gateway A (face photo) is searched on B and C until
  their checks find it; seconds from A's enrol answer to B's and C's first hit (and to their
  /readyz reporting A's watchlist version);
- queue drain with three workers: central down while checks arrive on all three gateways, then
  back; seconds to empty the shared outbox, and central's received / unique / duplicate counts;
- throughput: the same closed-loop device load against one gateway, then spread over three;
- the database's share of a check: PostgreSQL's own ``pg_stat_database.active_time`` (time the
  server spent executing statements for this database) and commits, per check, against the
  check's latency, so scaling on machines with more cores can be projected honestly.

The watchlist is bulk-inserted (synthetic faces + fingerprints); gateway A builds the cache
once, stops (saving it), and B and C start from copies of that save (same database, so the save
is valid for them) instead of three cold builds on two cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from gateway.bench import _fill_bulk, _percentile  # noqa: E402
from gateway.db import create_all, make_engine  # noqa: E402
from tests.conftest import shared_data_dir  # noqa: E402
from tests.upstream.procs import Gateway, Stub  # noqa: E402

PG = "host=127.0.0.1 port=5432 user=postgres dbname=test"
console = Console(stderr=True)


def _pg_stats() -> tuple[float, int]:
    with psycopg.connect(PG, autocommit=True) as conn:
        row = conn.execute("SELECT active_time, xact_commit FROM pg_stat_database "
                           "WHERE datname = current_database()").fetchone()
    assert row is not None
    return float(row[0] or 0.0), int(row[1])


def _closed_loop(urls: list[str], tokens: list[str], files: dict, seconds: float,
                 clients: int) -> dict:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def run(i: int) -> None:
        nonlocal errors
        url, token = urls[i % len(urls)], tokens[i % len(tokens)]
        with httpx.Client(base_url=url, timeout=120,
                          headers={"Authorization": f"Bearer {token}"}) as c:
            while time.perf_counter() < stop_at:
                t = time.perf_counter()
                r = c.post("/v1/checks", data={"purpose": "port entry"}, files=files)
                with lock:
                    if r.status_code == 200:
                        latencies.append((time.perf_counter() - t) * 1000)
                    else:
                        errors += 1
                if r.status_code == 503:
                    time.sleep(float(r.headers.get("Retry-After", "1")))

    act0, commits0 = _pg_stats()
    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    act1, commits1 = _pg_stats()
    n = len(latencies)
    db_ms = (act1 - act0) / n if n else float("nan")
    mean = statistics.fmean(latencies) if latencies else float("nan")
    return {
        "gateways": len(urls), "clients": clients, "seconds": round(wall, 1),
        "checks": n, "non_200": errors, "checks_per_s": round(n / wall, 2),
        "p50_ms": round(_percentile(latencies, 50)), "p95_ms": round(_percentile(latencies, 95)),
        "db_active_ms_per_check": round(db_ms, 2),
        "db_commits_per_check": round((commits1 - commits0) / n, 2) if n else None,
        "db_share_of_check_latency": round(db_ms / mean, 4) if n else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--unique-fingers", type=int, default=3000)
    ap.add_argument("--convergence-rounds", type=int, default=5)
    ap.add_argument("--backlog", type=int, default=300, help="checks queued during the outage")
    ap.add_argument("--load-s", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    data = shared_data_dir()
    lfw = data / "faces" / "lfw"
    fvc = data / "fingerprints" / "fvc2002_db1_b"
    if not lfw.is_dir() or not fvc.is_dir():
        raise SystemExit(f"needs LFW and FVC under {data}")
    tmp = Path(tempfile.mkdtemp(prefix="fc-scaleout-"))
    schema = "fc_scale_" + uuid.uuid4().hex[:8]
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = ("postgresql+psycopg://postgres@127.0.0.1:5432/test"
           f"?options=-csearch_path%3D{schema}")
    gateways: list[Gateway] = []
    stub = None
    report: dict = {"benchmark": "scaleout_pg", "subjects": args.subjects}
    try:
        engine = make_engine(url)
        create_all(engine)
        console.print(f"bulk-inserting {args.subjects:,} subjects into PostgreSQL ...")
        t0 = time.perf_counter()
        _fill_bulk(engine, args.subjects, args.subjects, args.unique_fingers)
        report["fill_s"] = round(time.perf_counter() - t0, 1)
        engine.dispose()
        stub = Stub(tmp / "central", subjects=300, documents=500)
        # One image key for all three (docs/DEPLOYMENT.md): images sealed on A open on B and C.
        import base64
        import os

        key = base64.b64encode(os.urandom(32)).decode()
        settings = {"FIELDCHECK_DATABASE_URL": url, "FIELDCHECK_UPSTREAM_POLICY": "all",
                    "FIELDCHECK_IMAGE_KEYS": f"bench1:{key}"}
        for name in ("a", "b", "c"):
            (tmp / name).mkdir()
        console.print("gateway A: building the cache from the database ...")
        t0 = time.perf_counter()
        first = Gateway(tmp / "a", stub.url, **settings)
        report["cold_start_s"] = round(time.perf_counter() - t0, 1)
        first.stop()  # graceful stop saves the cache
        for name in ("b", "c"):
            shutil.copytree(tmp / "a" / "index", tmp / name / "index", dirs_exist_ok=True)
        console.print("starting gateways A, B, C ...")
        t0 = time.perf_counter()
        gateways = [Gateway(tmp / name, stub.url, **settings) for name in ("a", "b", "c")]
        report["warm_start_three_s"] = round(time.perf_counter() - t0, 1)
        a = gateways[0]
        devices = [g.device() for g in gateways]

        # 1. convergence
        people = sorted(p for p in lfw.iterdir() if p.is_dir())[: args.convergence_rounds]
        rounds = []
        for person in people:
            photos = sorted(person.glob("*.jpg"))
            sid = a.admin.post("/v1/subjects", json={"name": person.name,
                                                     "category": "red"}).json()["id"]
            enrolled = None
            for photo in photos:
                r = a.admin.post(f"/v1/subjects/{sid}/faces",
                                 files={"image": ("e.jpg", photo.read_bytes())})
                if r.status_code == 201:
                    enrolled = photo
                    break
            if enrolled is None:
                continue
            done_at = time.perf_counter()
            version = a.admin.get("/readyz").json()["watchlist"]["version"]
            probe = next(p for p in photos if p != enrolled).read_bytes()
            found: dict[str, float] = {}
            version_seen: dict[str, float] = {}
            while len(found) < 2 and time.perf_counter() - done_at < 60:
                for name, g, dev in (("b", gateways[1], devices[1]), ("c", gateways[2], devices[2])):
                    if name not in version_seen:
                        v = g.admin.get("/readyz").json()["watchlist"]["version"]
                        if v >= version:
                            version_seen[name] = time.perf_counter() - done_at
                    if name in found:
                        continue
                    r = dev.post("/v1/checks", data={"purpose": "port entry"},
                                 files={"face": ("p.jpg", probe, "image/jpeg")})
                    if r.status_code == 200 and any(
                            c["subject_id"] == sid for c in r.json().get("candidates", [])):
                        found[name] = time.perf_counter() - done_at
                time.sleep(0.1)
            rounds.append({"subject": sid, "version_seen_s": version_seen, "searchable_s": found})
        worst = max((s for r in rounds for s in r["searchable_s"].values()), default=None)
        report["convergence"] = {
            "rounds": rounds,
            "worst_searchable_s": round(worst, 2) if worst is not None else None,
            "all_found": all(len(r["searchable_s"]) == 2 for r in rounds),
            "target": "searchable on the others within 5 s",
        }

        # 2. drain with three workers after an outage
        stub.faults(outage=True)
        tif = (fvc / "101_2.tif").read_bytes()
        files = {"finger_2": ("f.tif", tif, "image/tiff")}
        sent = 0
        for i in range(args.backlog):
            r = devices[i % 3].post("/v1/checks", data={"purpose": "port entry"}, files=files)
            sent += r.status_code == 200
        httpx.delete(stub.url + "/admin/deliveries", timeout=10)
        stub.faults(outage=False)
        t0 = time.perf_counter()
        deadline = t0 + 600
        while time.perf_counter() < deadline:
            if all(g.status()["queue_depth"] == 0 for g in gateways):
                break
            time.sleep(0.25)
        drain_s = time.perf_counter() - t0
        report["drain"] = {"checks_queued": sent, "drain_s": round(drain_s, 1),
                           "per_s": round(sent / drain_s, 1), "central": stub.deliveries()}

        # 3. throughput one vs three, and the database's share
        tokens = [d.headers["Authorization"].split()[1] for d in devices]
        both = {"face": ("p.jpg", (lfw / people[0].name / f"{people[0].name}_0002.jpg")
                         .read_bytes(), "image/jpeg"),
                "finger_2": ("f2.tif", tif, "image/tiff"),
                "finger_7": ("f7.tif", (fvc / "102_2.tif").read_bytes(), "image/tiff")}
        console.print(f"closed-loop load, {args.clients} clients, {args.load_s:g} s: one gateway")
        one = _closed_loop([a.url], tokens[:1], both, args.load_s, args.clients)
        console.print("... and three gateways")
        three = _closed_loop([g.url for g in gateways], tokens, both, args.load_s, args.clients)
        report["throughput"] = {"one_gateway": one, "three_gateways": three,
                                "ratio_three_to_one": round(three["checks_per_s"]
                                                            / max(one["checks_per_s"], 1e-9), 2)}
    finally:
        for g in gateways:
            g.stop()
        if stub is not None:
            stub.stop()
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    table = Table(title=f"three gateways on one PostgreSQL, {args.subjects:,} subjects")
    table.add_column("measure")
    table.add_column("value", justify="right")
    conv = report["convergence"]
    table.add_row("enrolled on A, searchable on B/C (worst of rounds)", f"{conv['worst_searchable_s']} s")
    d = report["drain"]
    table.add_row("outage backlog drained by 3 workers", f"{d['checks_queued']} in {d['drain_s']} s")
    table.add_row("central received / unique / duplicates",
                  f"{d['central'].get('received')} / {d['central'].get('unique')} / "
                  f"{d['central'].get('duplicates')}")
    t = report["throughput"]
    for label, key in (("one gateway", "one_gateway"), ("three gateways", "three_gateways")):
        r = t[key]
        table.add_row(f"{label}: checks/s, p95", f"{r['checks_per_s']} /s, {r['p95_ms']} ms")
        table.add_row(f"{label}: DB active ms per check (share)",
                      f"{r['db_active_ms_per_check']} ({r['db_share_of_check_latency']:.1%})")
    Console().print(table)
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
