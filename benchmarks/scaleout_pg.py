"""Scale-out on PostgreSQL: three gateway processes on one database, one central stub.

    nice -n 15 uv run python benchmarks/scaleout_pg.py --subjects 100000 --reuse --json

Measures, on real ``fieldcheck serve`` processes over loopback:
- cache convergence: a subject enrolled on gateway A (face photo) is searched on B and C until
  their checks find it; seconds from A's enrol answer to B's and C's first hit (and to their
  /readyz reporting A's watchlist version). The probe is the enrolled photo itself, so a miss
  can only be a cache that has not caught up, never the face matcher;
- queue drain with three workers: central down while checks arrive on all three gateways, then
  back; seconds to empty the shared outbox, and central's received / unique / duplicate counts;
- throughput: the same closed-loop device load against one gateway, then spread over three;
- the database's share of a check: PostgreSQL's own ``pg_stat_database.active_time`` (time the
  server spent executing statements for the benchmark's database, which nothing else uses) and
  commits, per check, against the check's latency; and the gateways' own CPU per check, so
  scaling on machines with more cores can be projected honestly;
- memory: each gateway's process tree (serve + its workers) sampled every second from /proc:
  peak RSS, and peak PSS (RSS with pages shared between processes — the memory-mapped saved
  indexes — divided among them, so the three PSS add up to what the machine really holds).

Seeding and start-up, which dominate at 100k subjects, are done once and kept (``--reuse``):
1. ``benchmarks/scaleout_seed.py`` COPYs the watchlist into a database of its own
   (``fieldcheck_scale_seed``; realistic face/finger mix, see ``MIX`` there);
2. each run gets a fresh copy of it (``CREATE DATABASE fieldcheck_scale_run TEMPLATE ...``, a
   file copy taking seconds), so runs do not see each other's enrolments and checks;
3. the first run starts gateway A cold (building its cache from the database: the product's
   cold start, timed), stops it (the graceful stop saves the cache) and keeps that save next to
   the seed; every run then starts A, B and C warm from hard links to that save (same database
   URL, so the save is valid for all three; the files are memory-mapped read-only, so the three
   share one copy in the page cache).
``--reuse`` reuses the seed and the save when they were made for the same subjects, mix,
models and index format (``SeedSpec.key``); otherwise (or without ``--reuse``) it seeds again.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from scaleout_seed import SeedSpec, seed  # noqa: E402

from gateway.bench import _percentile  # noqa: E402
from gateway.db import create_all, make_engine  # noqa: E402
from tests.upstream.procs import ADMIN, FAST_LINK, Proc, Stub, free_port, wait_http  # noqa: E402

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
# The two databases (``--database`` prefix): the seed, and the copy each run works on.
SEED_DB = RUN_DB = RUN_URL = RUN_PG = ""


def use_databases(prefix: str) -> None:
    global SEED_DB, RUN_DB, RUN_URL, RUN_PG
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", prefix):
        raise SystemExit("--database: lower-case letters, digits and _ only")
    SEED_DB, RUN_DB = f"{prefix}_seed", f"{prefix}_run"
    RUN_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{RUN_DB}"
    RUN_PG = f"host=127.0.0.1 port=5432 user=postgres dbname={RUN_DB}"


console = Console(stderr=True)


def shared_data_dir() -> Path:
    """FIELDCHECK_SHARED_DATA_DIR, else ../shared/data beside the project.

    Not imported from tests.conftest: importing it sets the tests' FIELDCHECK_EXTRACT_PROCESSES=0
    in this process, which the gateways started here would inherit (extraction on threads
    instead of the product's worker processes).
    """
    env = os.environ.get("FIELDCHECK_SHARED_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


# --- processes ------------------------------------------------------------------------------
class BenchGateway(Proc):
    """A ``fieldcheck serve`` process that may take many minutes to start (a cold cache build)
    and to stop (the graceful stop saves the cache)."""

    def __init__(self, data_dir: Path, upstream_url: str, *, ready_timeout_s: float,
                 **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"gateway-{self.port}.log"
        env = {"FIELDCHECK_DATA_DIR": str(data_dir), "FIELDCHECK_ADMIN_TOKEN": ADMIN,
               "FIELDCHECK_UPSTREAM_URL": upstream_url, **FAST_LINK, **settings}
        started = time.perf_counter()
        super().__init__(["fieldcheck", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                         env, self.log_path)
        self.pgid = self.proc.pid  # start_new_session: uv and the Python it runs share it
        wait_http(self.url + "/readyz", timeout_s=ready_timeout_s, proc=self.proc)
        self.ready_s = time.perf_counter() - started
        self.admin = httpx.Client(base_url=self.url, timeout=120,
                                  headers={"Authorization": f"Bearer {ADMIN}"})

    def device(self) -> httpx.Client:
        r = self.admin.post("/v1/tokens", json={"role": "device",
                                                "name": "dev-" + uuid.uuid4().hex[:6]})
        r.raise_for_status()
        return httpx.Client(base_url=self.url, timeout=120,
                            headers={"Authorization": f"Bearer {r.json()['token']}"})

    def status(self) -> dict[str, Any]:
        return self.admin.get("/v1/upstream/status").json()

    def cache_log(self) -> str:
        """The gateway's own line about how its cache was loaded (saved or rebuilt)."""
        text = self.log_path.read_text(errors="replace")
        lines = [ln for ln in text.splitlines() if "watchlist cache loaded" in ln
                 or "rebuilding" in ln]
        return " | ".join(ln[-240:] for ln in lines)

    def stop_timed(self, timeout_s: float = 900.0) -> float:
        started = time.perf_counter()
        self.admin.close()
        if self.proc.poll() is None:
            os.killpg(self.pgid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._out.close()
        return time.perf_counter() - started


def _tree(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        m = re.search(r"^Pss:\s+(\d+) kB", Path(f"/proc/{pid}/smaps_rollup").read_text(), re.M)
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


def tree_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of a process tree's live processes."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in _tree(pgid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


class MemorySampler(threading.Thread):
    """Peak RSS and PSS (MB) of each gateway's process tree, sampled every second."""

    def __init__(self, gateways: dict[str, BenchGateway]) -> None:
        super().__init__(daemon=True)
        self.gateways = gateways
        self.peak: dict[str, dict[str, float]] = {
            name: {"rss_mb": 0.0, "pss_mb": 0.0, "hwm_mb": 0.0} for name in gateways}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(1.0):
            self.sample()

    def sample(self) -> None:
        for name, g in self.gateways.items():
            pids = _tree(g.pgid)
            rss = sum(_status_kb(p, "VmRSS") for p in pids) / 1024
            pss = sum(_pss_kb(p) for p in pids) / 1024
            hwm = max((_status_kb(p, "VmHWM") for p in pids), default=0) / 1024
            peak = self.peak[name]
            peak["rss_mb"] = round(max(peak["rss_mb"], rss))
            peak["pss_mb"] = round(max(peak["pss_mb"], pss))
            peak["hwm_mb"] = round(max(peak["hwm_mb"], hwm))

    def stop(self) -> dict[str, dict[str, float]]:
        self._stop_event.set()
        self.join(timeout=5)
        self.sample()
        return self.peak


# --- the seeded database and the saved cache -------------------------------------------------
def _admin_sql(*statements: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def _database_exists(name: str) -> bool:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (name,)).fetchone() is not None


def fresh_run_database() -> float:
    """Drop the run database and copy it again from the seed; seconds taken."""
    started = time.perf_counter()
    _admin_sql(f'DROP DATABASE IF EXISTS "{RUN_DB}" WITH (FORCE)',
               f'CREATE DATABASE "{RUN_DB}" TEMPLATE "{SEED_DB}"')
    return time.perf_counter() - started


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link every file of ``src`` under ``dst`` (copy across file systems)."""
    for f in src.rglob("*"):
        target = dst / f.relative_to(src)
        if f.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)


def prepare_seed(spec: SeedSpec, seed_dir: Path, *, reuse: bool, stub_url: str,
                 settings: dict[str, str]) -> dict:
    """A seeded database and a saved cache made from it: reused when they fit ``spec``."""
    meta_path = seed_dir / "seed.json"
    if reuse and meta_path.is_file() and _database_exists(SEED_DB) \
            and (seed_dir / "index" / "meta.json").is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == spec.key() and meta.get("database") == SEED_DB:
            console.print(f"reusing the seeded database {SEED_DB} and its saved cache "
                          f"(seeded {meta['seeded_at']})")
            return {**meta, "reused": True}
        console.print("the seeded database was made for other subjects, mix or models: "
                      "seeding again")
    shutil.rmtree(seed_dir, ignore_errors=True)
    seed_dir.mkdir(parents=True)
    _admin_sql(f'DROP DATABASE IF EXISTS "{RUN_DB}" WITH (FORCE)',
               f'DROP DATABASE IF EXISTS "{SEED_DB}" WITH (FORCE)',
               f'CREATE DATABASE "{SEED_DB}"')
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{SEED_DB}")
    t0 = time.perf_counter()
    create_all(engine)  # the product's migrations, as a gateway runs them
    engine.dispose()
    console.print(f"seeding {spec.subjects:,} subjects into {SEED_DB} (COPY) ...")
    counts = seed(f"host=127.0.0.1 port=5432 user=postgres dbname={SEED_DB}", spec,
                  log=console.print)
    seed_s = time.perf_counter() - t0
    copy_s = fresh_run_database()
    console.print("cold start: gateway building its cache from the database ...")
    folder = seed_dir / "cold"
    folder.mkdir()
    cold = BenchGateway(folder, stub_url, ready_timeout_s=7200, **settings)
    cold_log = cold.cache_log()
    cold_cpu_s = tree_cpu_s(cold.pgid)  # wall time depends on the machine's other load
    sampler = MemorySampler({"cold": cold})
    sampler.sample()
    cold_memory = sampler.peak["cold"]
    save_s = cold.stop_timed()
    if not (folder / "index" / "meta.json").is_file():
        raise SystemExit(f"the cold gateway saved no cache; see {cold.log_path}")
    (folder / "index").rename(seed_dir / "index")
    index_mb = sum(f.stat().st_size for f in (seed_dir / "index").rglob("*") if f.is_file())
    meta = {
        "key": spec.key(), "database": SEED_DB, "subjects": spec.subjects, "unique_fingers": spec.unique_fingers,
        "counts": counts, "seeded_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seed_s": round(seed_s, 1), "template_copy_s": round(copy_s, 1),
        "cold_start_s": round(cold.ready_s, 1), "cold_start_cpu_s": round(cold_cpu_s, 1),
        "cold_cache_log": cold_log,
        "cold_memory_after_start_mb": cold_memory,
        "stop_with_save_s": round(save_s, 1), "saved_index_mb": round(index_mb / 2**20),
        "load_at_cold_start": os.getloadavg()[0],
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    return {**meta, "reused": False}


# --- measurements ---------------------------------------------------------------------------
def _pg_stats() -> tuple[float, int]:
    with psycopg.connect(RUN_PG, autocommit=True) as conn:
        row = conn.execute("SELECT active_time, xact_commit FROM pg_stat_database "
                           "WHERE datname = current_database()").fetchone()
    assert row is not None
    return float(row[0] or 0.0), int(row[1])


def _closed_loop(gateways: list[BenchGateway], tokens: list[str], files: dict, seconds: float,
                 clients: int) -> dict:
    latencies: list[float] = []
    errors: dict[int, int] = {}
    lock = threading.Lock()
    stop_at = 0.0

    def run(i: int) -> None:
        url, token = gateways[i % len(gateways)].url, tokens[i % len(tokens)]
        with httpx.Client(base_url=url, timeout=120,
                          headers={"Authorization": f"Bearer {token}"}) as c:
            while time.perf_counter() < stop_at:
                t = time.perf_counter()
                r = c.post("/v1/checks", data={"purpose": "port entry"}, files=files)
                with lock:
                    if r.status_code == 200:
                        latencies.append((time.perf_counter() - t) * 1000)
                    else:
                        errors[r.status_code] = errors.get(r.status_code, 0) + 1
                if r.status_code == 503:
                    time.sleep(float(r.headers.get("Retry-After", "1")))

    idle = _idle_baseline(gateways)
    act0, commits0 = _pg_stats()
    cpu0 = sum(tree_cpu_s(g.pgid) for g in gateways)
    started = time.perf_counter()
    stop_at = started + seconds
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    cpu1 = sum(tree_cpu_s(g.pgid) for g in gateways)
    time.sleep(1.5)
    act1, commits1 = _pg_stats()
    n = len(latencies)
    span = wall + 1.5  # the statistics window includes the flush wait after the load
    # The gateways' background work (delivery polls, cache syncs) runs with or without checks:
    # measured idle just before, and taken out so the per-check numbers are the checks' own.
    db_ms = (act1 - act0 - idle["db_active_ms_per_s"] * span) / n if n else float("nan")
    commits = (commits1 - commits0 - idle["commits_per_s"] * span) / n if n else float("nan")
    gross_ms = (act1 - act0) / n if n else float("nan")
    cpu = (cpu1 - cpu0 - idle["gateway_cpu_per_s"] * wall) / n if n else float("nan")
    if not n:
        raise SystemExit(f"no check answered 200 in {wall:.0f} s (statuses {errors}): "
                         f"see the gateway logs under {gateways[0].log_path.parent.parent}")
    mean = statistics.fmean(latencies)
    return {
        "gateways": len(gateways), "clients": clients, "seconds": round(wall, 1),
        "checks": n, "non_200": errors, "checks_per_s": round(n / wall, 2),
        "p50_ms": round(_percentile(latencies, 50)), "p95_ms": round(_percentile(latencies, 95)),
        "mean_ms": round(mean),
        "idle_baseline": idle,
        "gateway_cpu_s_per_check": round(cpu, 2),
        "db_active_ms_per_check": round(db_ms, 2),
        "db_active_ms_per_check_with_background": round(gross_ms, 2),
        "db_commits_per_check": round(commits, 1),
        "db_share_of_check_latency": round(db_ms / mean, 4) if n else None,
        "db_share_of_gateway_cpu": round(db_ms / 1000 / cpu, 4) if n else None,
    }


def _idle_baseline(gateways: list[BenchGateway], seconds: float = 10.0) -> dict[str, float]:
    """Database time, commits and gateway CPU per second with no checks running."""
    time.sleep(1.5)  # PostgreSQL flushes backend statistics about once a second
    act0, commits0 = _pg_stats()
    cpu0 = sum(tree_cpu_s(g.pgid) for g in gateways)
    time.sleep(seconds)
    cpu1 = sum(tree_cpu_s(g.pgid) for g in gateways)
    time.sleep(1.5)
    act1, commits1 = _pg_stats()
    span = seconds + 1.5
    return {"db_active_ms_per_s": round((act1 - act0) / span, 3),
            "commits_per_s": round((commits1 - commits0) / span, 2),
            "gateway_cpu_per_s": round((cpu1 - cpu0) / seconds, 3)}


def measure_convergence(gateways: list[BenchGateway], devices: list[httpx.Client], lfw: Path,
                        rounds: int) -> dict:
    a = gateways[0]
    people = sorted(p for p in lfw.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= 2)
    results = []
    for person in people[:rounds]:
        sid = a.admin.post("/v1/subjects", json={"name": person.name,
                                                 "category": "red"}).json()["id"]
        enrolled = None
        for photo in sorted(person.glob("*.jpg")):
            r = a.admin.post(f"/v1/subjects/{sid}/faces",
                             files={"image": ("e.jpg", photo.read_bytes())})
            if r.status_code == 201:
                enrolled = photo
                break
        if enrolled is None:
            continue
        done_at = time.perf_counter()
        version = a.admin.get("/readyz").json()["watchlist"]["version"]
        probe = enrolled.read_bytes()
        found: dict[str, float] = {}
        version_seen: dict[str, float] = {}
        while len(found) < 2 and time.perf_counter() - done_at < 60:
            for name, g, dev in (("b", gateways[1], devices[1]), ("c", gateways[2], devices[2])):
                if name not in version_seen:
                    v = g.admin.get("/readyz").json()["watchlist"]["version"]
                    if v >= version:
                        version_seen[name] = round(time.perf_counter() - done_at, 2)
                if name in found:
                    continue
                r = dev.post("/v1/checks", data={"purpose": "port entry"},
                             files={"face": ("p.jpg", probe, "image/jpeg")})
                if r.status_code == 200 and any(
                        c["subject_id"] == sid for c in r.json().get("candidates", [])):
                    found[name] = round(time.perf_counter() - done_at, 2)
            time.sleep(0.1)
        results.append({"subject": sid, "version_seen_s": version_seen, "searchable_s": found})
    worst = max((s for r in results for s in r["searchable_s"].values()), default=None)
    return {"rounds": results, "worst_searchable_s": worst,
            "all_found": bool(results) and all(len(r["searchable_s"]) == 2 for r in results),
            "target": "searchable on the others within 5 s"}


def measure_drain(gateways: list[BenchGateway], devices: list[httpx.Client], stub: Stub,
                  finger: bytes, backlog: int) -> dict:
    stub.faults(outage=True)
    files = {"finger_2": ("f.tif", finger, "image/tiff")}
    sent = [0, 0, 0]

    def send(i: int) -> None:  # one device per gateway, all three at once
        for _ in range(i, backlog, 3):
            r = devices[i].post("/v1/checks", data={"purpose": "port entry"}, files=files)
            sent[i] += r.status_code == 200

    threads = [threading.Thread(target=send, args=(i,)) for i in range(3)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue_s = time.perf_counter() - t0
    depth_before = gateways[0].status()["queue_depth"]
    httpx.delete(stub.url + "/admin/deliveries", timeout=10)
    stub.faults(outage=False)
    t0 = time.perf_counter()
    deadline = t0 + 1200
    depths: list[tuple[float, int]] = []  # steady drain, or stalls (breaker, backoff)?
    # Each gateway's circuit breaker doubled its pause with every failed trial during the
    # outage (up to 120 s), so the first delivery after central is back waits for the next
    # trial: that wait is the breaker's, the rest is the workers' drain.
    first_s: float | None = None
    while time.perf_counter() < deadline:
        depth = [g.status()["queue_depth"] for g in gateways]
        now = time.perf_counter() - t0
        if first_s is None and stub.deliveries().get("received", 0):
            first_s = now
        if not depths or now - depths[-1][0] >= 2.0:
            depths.append((round(now, 1), max(depth)))
        if not any(depth):
            break
        time.sleep(0.25)
    drain_s = time.perf_counter() - t0
    time.sleep(2)  # late duplicates, if any, would arrive now
    total = sum(sent)
    return {"checks_queued": total, "per_gateway": sent, "queue_depth_at_restore": depth_before,
            "sending_s": round(queue_s, 1), "drain_s": round(drain_s, 1),
            "first_delivery_after_restore_s": round(first_s, 1) if first_s is not None else None,
            "drain_after_first_delivery_s": (round(drain_s - first_s, 1)
                                             if first_s is not None else None),
            "per_s": round(total / drain_s, 1), "central": stub.deliveries(),
            "queue_depth_every_2s": depths}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--unique-fingers", type=int, default=10_000,
                    help="synthetic minutiae sets the seeded fingerprints cycle over")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the seeded database and saved cache when they fit")
    ap.add_argument("--seed-dir", type=Path,
                    default=Path.home() / ".cache" / "fieldcheck" / "scaleout")
    ap.add_argument("--convergence-rounds", type=int, default=5)
    ap.add_argument("--backlog", type=int, default=200, help="checks queued during the outage")
    ap.add_argument("--load-s", type=float, default=40.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--database", default="fieldcheck_scale",
                    help="prefix of the two databases made here: PREFIX_seed and PREFIX_run")
    ap.add_argument("--seed-only", action="store_true",
                    help="stop after seeding and the cold start (the slow, reusable part)")
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep the run folder (gateway and stub logs) after a finished run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    data = shared_data_dir()
    lfw = data / "faces" / "lfw"
    fvc = data / "fingerprints" / "fvc2002_db1_b"
    if not lfw.is_dir() or not fvc.is_dir():
        raise SystemExit(f"needs LFW and FVC under {data}")
    spec = SeedSpec(args.subjects, args.unique_fingers)
    use_databases(args.database)
    # One image key for all three (docs/DEPLOYMENT.md): images sealed on A open on B and C.
    key = base64.b64encode(os.urandom(32)).decode()
    settings = {"FIELDCHECK_DATABASE_URL": RUN_URL, "FIELDCHECK_UPSTREAM_POLICY": "all",
                "FIELDCHECK_IMAGE_KEYS": f"bench1:{key}",
                # the production poll interval: the tests' 0.2 s would multiply idle queries
                "FIELDCHECK_UPSTREAM_IDLE_POLL_S": "1"}
    report: dict = {"benchmark": "scaleout_pg", "subjects": args.subjects,
                    "load_at_start": os.getloadavg()[0]}
    args.seed_dir.mkdir(parents=True, exist_ok=True)
    # Next to the seed (same file system, so the saved cache can be hard-linked), not inside it:
    # seeding again empties the seed folder.
    run_dir = args.seed_dir.with_name(f"{args.seed_dir.name}-run-{uuid.uuid4().hex[:6]}")
    run_dir.mkdir()
    gateways: list[BenchGateway] = []
    sampler: MemorySampler | None = None
    finished = False
    stub = Stub(run_dir / "central", subjects=300, documents=500)
    try:
        report["seed"] = prepare_seed(spec, args.seed_dir, reuse=args.reuse,
                                      stub_url=stub.url, settings=settings)
        if args.seed_only:
            return
        report["fresh_database_copy_s"] = round(fresh_run_database(), 1)
        for name in ("a", "b", "c"):
            _link_tree(args.seed_dir / "index", run_dir / name / "index")
        console.print("starting gateways A, B, C from the saved cache ...")
        t0 = time.perf_counter()
        gateways = [BenchGateway(run_dir / name, stub.url, ready_timeout_s=3600, **settings)
                    for name in ("a", "b", "c")]
        report["warm_start"] = {
            "three_in_turn_s": round(time.perf_counter() - t0, 1),
            "each_s": [round(g.ready_s, 1) for g in gateways],
            "cache": [g.cache_log() for g in gateways],
            "all_from_saved_cache": all("loaded from" in g.cache_log() for g in gateways),
        }
        sampler = MemorySampler(dict(zip("abc", gateways, strict=True)))
        sampler.sample()
        report["memory_after_start_mb"] = {k: dict(v) for k, v in sampler.peak.items()}
        sampler.start()
        devices = [g.device() for g in gateways]

        console.print("convergence: enrol on A, search on B and C ...")
        report["convergence"] = measure_convergence(gateways, devices, lfw,
                                                    args.convergence_rounds)
        console.print(f"drain: {args.backlog} checks during a central outage ...")
        tif = (fvc / "101_2.tif").read_bytes()
        report["drain"] = measure_drain(gateways, devices, stub, tif, args.backlog)

        tokens = [d.headers["Authorization"].split()[1] for d in devices]
        person = sorted(p for p in lfw.iterdir() if p.is_dir())[0]
        both = {"face": ("p.jpg", sorted(person.glob("*.jpg"))[-1].read_bytes(), "image/jpeg"),
                "finger_2": ("f2.tif", tif, "image/tiff"),
                "finger_7": ("f7.tif", (fvc / "102_2.tif").read_bytes(), "image/tiff")}
        console.print(f"closed-loop load, {args.clients} clients, {args.load_s:g} s: one gateway")
        one = _closed_loop(gateways[:1], tokens[:1], both, args.load_s, args.clients)
        console.print("... and three gateways")
        three = _closed_loop(gateways, tokens, both, args.load_s, args.clients)
        report["throughput"] = {"one_gateway": one, "three_gateways": three,
                                "ratio_three_to_one": round(three["checks_per_s"]
                                                            / max(one["checks_per_s"], 1e-9), 2)}
        report["memory_peak_mb"] = sampler.stop()
        sampler = None
        report["load_at_end"] = os.getloadavg()[0]
        finished = True
    finally:
        if sampler is not None:
            sampler.stop()
        for g in gateways:
            g.stop_timed(timeout_s=120)
        stub.stop()
        if (finished or args.seed_only) and not args.keep_logs:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            console.print(f"the gateways' and the stub's logs are in {run_dir}")
        if not args.seed_only:
            _admin_sql(f'DROP DATABASE IF EXISTS "{RUN_DB}" WITH (FORCE)')
    (args.seed_dir / "last-run.json").write_text(json.dumps(report, indent=1))
    print_table(report)
    if args.json:
        print(json.dumps(report))


def print_table(report: dict) -> None:
    table = Table(title=f"three gateways on one PostgreSQL, {report['subjects']:,} subjects")
    table.add_column("measure")
    table.add_column("value", justify="right")
    s = report["seed"]
    c = s["counts"]
    table.add_row("seeded (COPY): subjects / faces / fingerprints",
                  f"{c['subjects']:,} / {c['faces']:,} / {c['fingerprints']:,}")
    table.add_row("seeding / cold start (cache built) / stop with save",
                  f"{s['seed_s']} / {s['cold_start_s']} / {s['stop_with_save_s']} s"
                  + (" (reused)" if s["reused"] else ""))
    w = report["warm_start"]
    table.add_row("warm start A, B, C from the saved cache",
                  f"{', '.join(str(x) for x in w['each_s'])} s"
                  + ("" if w["all_from_saved_cache"] else " (NOT all from the save)"))
    conv = report["convergence"]
    table.add_row("enrolled on A, searchable on B/C (worst of rounds)",
                  f"{conv['worst_searchable_s']} s" + ("" if conv["all_found"] else " (misses)"))
    d = report["drain"]
    table.add_row("outage backlog drained by 3 workers", f"{d['checks_queued']} in {d['drain_s']} s")
    table.add_row("... first delivery after central is back (breaker) / then drained in",
                  f"{d['first_delivery_after_restore_s']} / {d['drain_after_first_delivery_s']} s")
    table.add_row("central received / unique / duplicates",
                  f"{d['central'].get('received')} / {d['central'].get('unique')} / "
                  f"{d['central'].get('duplicates')}")
    t = report["throughput"]
    for label, key in (("one gateway", "one_gateway"), ("three gateways", "three_gateways")):
        r = t[key]
        table.add_row(f"{label}: checks/s, p95", f"{r['checks_per_s']} /s, {r['p95_ms']} ms")
        table.add_row(f"{label}: gateway CPU s per check", f"{r['gateway_cpu_s_per_check']}")
        table.add_row(f"{label}: DB active ms per check (share of latency)",
                      f"{r['db_active_ms_per_check']} ({r['db_share_of_check_latency']:.1%})")
    for name, peak in report["memory_peak_mb"].items():
        table.add_row(f"gateway {name.upper()}: peak RSS / PSS of its processes",
                      f"{peak['rss_mb']:,.0f} / {peak['pss_mb']:,.0f} MB")
    Console().print(table)


if __name__ == "__main__":
    main()
