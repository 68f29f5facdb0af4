"""``fieldcheck bench check``: latency of POST /v1/checks over loopback with a full cache.

A gateway is started on a temporary SQLite file, its watchlist filled with synthetic subjects
(random unit face embeddings, realistic synthetic minutiae for two index fingers) plus real
enrolled people from ../shared/data (LFW faces, FVC prints) whose other photos and impressions
are the probes. Reports p50/p95/mean per scenario: face only, two fingers, face + two fingers.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from gateway.settings import Settings

ADMIN = "fc_bench_admin_" + secrets.token_urlsafe(24)  # strong: checked at start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shared_data(settings: Settings) -> Path:
    env = os.environ.get("FIELDCHECK_SHARED_DATA_DIR")
    return Path(env) if env else settings.shared_data_dir


def _fill_synthetic(engine, n: int, seed: int = 7, *, fingers: bool = True) -> None:
    from gateway.watchlist.models import (
        BiometricTemplate,
        Subject,
        WatchlistChange,
        current_model,
    )
    from matchers import synthetic
    from matchers.templates import FaceTemplate

    rng = np.random.default_rng(seed)
    faces = synthetic.face_embeddings(rng, n)
    batch = 2000
    with Session(engine) as session:
        for start in range(0, n, batch):
            ids = range(start, min(n, start + batch))
            # Parents flushed first (no ORM relationship orders the inserts), once per batch.
            session.add_all([Subject(id=f"sub_synth_{i:07d}", name=f"Synthetic {i}",
                                     category="blue", originating_country="MU") for i in ids])
            session.flush()
            for i in ids:
                sid = f"sub_synth_{i:07d}"
                session.add(BiometricTemplate(
                    id=f"tpl_sf_{i:07d}", subject_id=sid, modality="face",
                    data=FaceTemplate(faces[i]).to_bytes(), quality={},
                    model=current_model("face")))
                for pos in (2, 7) if fingers else ():
                    tpl = synthetic.fingerprint_template(rng, position=pos)
                    session.add(BiometricTemplate(
                        id=f"tpl_s{pos}_{i:07d}", subject_id=sid, modality="finger",
                        position=pos, data=tpl.to_iso(), quality={},
                        model=current_model("finger")))
            session.commit()
        session.add(WatchlistChange(subject_id="sub_synth_0000000", op="upsert"))
        session.commit()


def wait_ready(base_url: str, *, timeout_s: float = 3600.0, alive=None) -> dict:
    """Poll ``/readyz`` until the gateway answers 200; returns its body.

    ``alive``: optional callable; when it returns False the wait stops (the process died).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise SystemExit("the gateway exited before it was ready")
        try:
            r = httpx.get(base_url + "/readyz", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the gateway at {base_url} was not ready within {timeout_s:.0f} s")


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def enrol_real_people(admin: httpx.Client, lfw: Path, fvc: Path, *, people: int,
                      fingers: bool = True) -> list[dict]:
    """Enrol ``people`` LFW identities (one photo each) with two FVC fingers (impression 1;
    ``fingers=False``: faces only).

    Returns the probes: each identity's other photos with other impressions of its fingers.
    """
    chosen = sorted(p for p in lfw.iterdir() if p.is_dir())[:people]
    probes: list[dict] = []
    for k, person in enumerate(chosen):
        photos = sorted(person.glob("*.jpg"))
        finger_ids = (101 + k % 10, 101 + (k + 1) % 10)
        sid = admin.post("/v1/subjects", json={"name": person.name, "category": "red"}).json()["id"]
        enrolled_face = None
        for photo in photos:
            r = admin.post(f"/v1/subjects/{sid}/faces",
                           files={"image": ("e.jpg", photo.read_bytes())})
            if r.status_code == 201:
                enrolled_face = photo
                break
        for pos, fid in zip((2, 7), finger_ids, strict=True) if fingers else ():
            admin.post(f"/v1/subjects/{sid}/fingerprints", data={"position": str(pos)},
                       files={"image": ("f.tif", (fvc / f"{fid}_1.tif").read_bytes())})
        for j, photo in enumerate(p for p in photos if p != enrolled_face):
            imp = 2 + j % 7
            probes.append({
                "subject": sid, "face": photo.read_bytes(),
                "finger_2": (fvc / f"{finger_ids[0]}_{imp}.tif").read_bytes(),
                "finger_7": (fvc / f"{finger_ids[1]}_{imp}.tif").read_bytes(),
            })
    return probes


SCENARIOS = {
    "face": ("face",),
    "two_fingers": ("finger_2", "finger_7"),
    "face_two_fingers": ("face", "finger_2", "finger_7"),
}


def run_check_bench(*, subjects: int, requests: int, json_out: bool,
                    scenarios: tuple[str, ...] = tuple(SCENARIOS),
                    modes: tuple[int | None, ...] = (None,)) -> dict:
    """``modes``: extraction settings to run in turn on the same watchlist (None: the gateway's
    default, worker processes; 0: threads of the gateway process)."""
    from gateway import db

    console = Console(stderr=True)
    tmp = Path(tempfile.mkdtemp(prefix="fieldcheck-bench-"))
    settings = Settings(data_dir=tmp, admin_token=ADMIN)
    data = _shared_data(settings)
    lfw = data / "faces" / "lfw"
    fvc = data / "fingerprints" / "fvc2002_db1_b"
    if not lfw.is_dir() or not fvc.is_dir():
        raise SystemExit(f"bench check needs real probes: LFW and FVC under {data}")
    engine = db.make_engine(settings.effective_database_url)
    db.create_all(engine)
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown or not scenarios:
        raise SystemExit(f"unknown scenario(s) {unknown}: choose from {', '.join(SCENARIOS)}")
    fingers = any(f.startswith("finger") for s in scenarios for f in SCENARIOS[s])
    t0 = time.perf_counter()
    _fill_synthetic(engine, subjects, fingers=fingers)
    fill_s = time.perf_counter() - t0
    engine.dispose()
    console.print(f"{subjects} synthetic subjects written in {fill_s:.1f} s"
                  + ("" if fingers else " (faces only: no finger scenario asked)"))

    runs: list[dict] = []
    probes: list[dict] = []
    for mode in modes:
        settings_m = settings.model_copy(update={"extract_processes": mode})
        runs.append(_measure_mode(settings_m, mode, scenarios, requests, probes, lfw, fvc,
                                  fingers, console))
    first = runs[0]
    results = first["scenarios"]
    report = {
        "benchmark": "check",
        "synthetic_subjects": subjects,
        "watchlist": first["watchlist"],
        "fill_s": round(fill_s, 1),
        "start_to_ready_s": first["start_to_ready_s"],
        "cpu_count": os.cpu_count(),
        "extraction": first["extraction"],
        "rss_mb": first["rss_mb"],
        "scenarios": results,
        "targets_met": {
            target: results[name]["p95_ms"] <= limit
            for target, name, limit in (("face_two_fingers p95 <= 1000 ms", "face_two_fingers",
                                         1000), ("face p95 <= 150 ms", "face", 150))
            if name in results
        },
        **({"modes": runs} if len(runs) > 1 else {}),
    }
    for run in runs:
        _print_table(run)
    console.print(f"cache filled in {fill_s:.1f} s; gateway ready "
                  f"{first['start_to_ready_s']:.1f} s after start")
    if json_out:
        print(json.dumps(report))
    return report


def _rss_mb(pid: int, field: str = "VmHWM") -> float | None:
    """Peak (VmHWM) or current (VmRSS) resident memory of a process, in MB (Linux)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _measure_mode(settings: Settings, mode: int | None, scenarios: tuple[str, ...],
                  requests: int, probes: list[dict], lfw: Path, fvc: Path, fingers: bool,
                  console: Console) -> dict:
    """Start a gateway with this extraction mode, run every scenario, stop it. ``probes`` is
    filled by the first mode (enrolling the real people) and reused by the next ones."""
    import uvicorn

    from gateway.app import create_app

    port = _free_port()
    app = create_app(settings, start_upstream=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    t0 = time.perf_counter()
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_ready(base)
    start_s = time.perf_counter() - t0
    extraction = app.state.runtime.extraction
    label = (f"{extraction.processes} worker processes" if extraction.uses_processes
             else "threads of the gateway process")
    console.print(f"gateway ready {start_s:.1f} s after start, extraction on {label}")
    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
    created = admin.post("/v1/tokens", json={"role": "device", "name": f"bench-{mode}"})
    device_token = created.json()["token"]
    device = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {device_token}"},
                          timeout=60)
    if not probes:
        probes.extend(enrol_real_people(admin, lfw, fvc, people=10, fingers=fingers))
    results: dict[str, dict] = {}
    for name in scenarios:
        fields = SCENARIOS[name]
        latencies: list[float] = []
        right = 0
        for i in range(requests):
            probe = probes[i % len(probes)]
            files = {f: (f + (".jpg" if f == "face" else ".tif"), probe[f]) for f in fields}
            t = time.perf_counter()
            r = device.post("/v1/checks", files=files, data={"purpose": "training"})
            latencies.append((time.perf_counter() - t) * 1000)
            body = r.json()
            top = body["candidates"][0]["subject_id"] if body.get("candidates") else None
            right += top == probe["subject"]
        results[name] = {
            "requests": requests,
            "p50_ms": round(_percentile(latencies, 50), 1),
            "p95_ms": round(_percentile(latencies, 95), 1),
            "mean_ms": round(statistics.fmean(latencies), 1),
            "max_ms": round(max(latencies), 1),
            "top1_correct": round(right / requests, 3),
        }
        console.print(f"{name}: p50 {results[name]['p50_ms']:.0f} ms, "
                      f"p95 {results[name]['p95_ms']:.0f} ms")
    ready = admin.get("/readyz").json()
    # The gateway runs in this process, whose peak includes the synthetic fill and earlier
    # modes: its resident memory now, after the scenarios; the workers' own peaks.
    rss = {"gateway_now": _rss_mb(os.getpid(), "VmRSS")}
    for i, pid in enumerate(extraction.worker_pids()):
        rss[f"worker_{i}_peak"] = _rss_mb(pid)
    server.should_exit = True
    thread.join(timeout=10)
    admin.close()
    device.close()
    return {"extraction": label, "extract_processes": mode, "watchlist": ready["watchlist"],
            "start_to_ready_s": round(start_s, 1), "rss_mb": rss, "scenarios": results}


def _print_table(run: dict) -> None:
    results = run["scenarios"]
    table = Table(title=f"POST /v1/checks over loopback, {run['watchlist']['subjects']} subjects, "
                        f"extraction on {run['extraction']}")
    for col in ("scenario", "p50 ms", "p95 ms", "mean ms", "max ms", "top-1 correct"):
        table.add_column(col, justify="right" if col != "scenario" else "left")
    for name, row in results.items():
        table.add_row(name, f"{row['p50_ms']:.0f}", f"{row['p95_ms']:.0f}", f"{row['mean_ms']:.0f}",
                      f"{row['max_ms']:.0f}", f"{row['top1_correct']:.0%}")
    Console().print(table)


def _fill_bulk(engine, faces: int, fingerprints: int, unique_fingers: int) -> None:
    """Insert ``faces`` subjects with one face each; the first ``fingerprints`` also get a print.

    Core bulk inserts (no ORM objects) so a million rows take seconds; fingerprints cycle over
    ``unique_fingers`` synthetic minutiae sets (generating each costs milliseconds).
    """
    from gateway.watchlist.models import (
        BiometricTemplate,
        Subject,
        WatchlistChange,
        current_model,
    )
    from matchers import synthetic

    rng = np.random.default_rng(11)
    prints = [
        synthetic.fingerprint_template(rng, position=2).to_iso() for _ in range(unique_fingers)
    ]
    chunk = 20_000
    now = time.time()
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(now, UTC)
    with engine.begin() as conn:
        for start in range(0, faces, chunk):
            n = min(chunk, faces - start)
            emb = synthetic.face_embeddings(rng, n)
            conn.execute(Subject.__table__.insert(), [  # type: ignore[attr-defined]
                {"id": f"sub_{start + i:08d}", "name": f"Synthetic {start + i}", "category": "blue",
                 "originating_country": "MU", "aliases": [], "created_at": stamp,
                 "updated_at": stamp}
                for i in range(n)
            ])
            conn.execute(BiometricTemplate.__table__.insert(), [  # type: ignore[attr-defined]
                {"id": f"tpl_f_{start + i:08d}", "subject_id": f"sub_{start + i:08d}",
                 "modality": "face", "position": 0, "data": emb[i].astype("<f4").tobytes(),
                 "quality": {}, "model": current_model("face"), "created_at": stamp}
                for i in range(n)
            ])
        for start in range(0, fingerprints, chunk):
            n = min(chunk, fingerprints - start)
            conn.execute(BiometricTemplate.__table__.insert(), [  # type: ignore[attr-defined]
                {"id": f"tpl_p_{start + i:08d}", "subject_id": f"sub_{start + i:08d}",
                 "modality": "finger", "position": 2, "data": prints[(start + i) % unique_fingers],
                 "quality": {}, "model": current_model("finger"), "created_at": stamp}
                for i in range(n)
            ])
        conn.execute(WatchlistChange.__table__.insert(),  # type: ignore[attr-defined]
                     [{"subject_id": "sub_00000000", "op": "upsert", "at": stamp}])


def _time_start(data_dir: Path, port: int) -> tuple[float, dict, object]:
    import subprocess
    import sys

    env = {**os.environ, "FIELDCHECK_DATA_DIR": str(data_dir), "FIELDCHECK_ADMIN_TOKEN": ADMIN}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli import app; app()", "serve", "--port", str(port),
         "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    ready = wait_ready(f"http://127.0.0.1:{port}", alive=lambda: proc.poll() is None)
    return time.perf_counter() - started, ready, proc


def _stop(proc) -> float:
    import signal

    started = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=600)
    return time.perf_counter() - started


def run_startup_bench(*, faces: int, fingerprints: int, unique_fingers: int,
                      json_out: bool) -> dict:
    from gateway import db

    tmp = Path(tempfile.mkdtemp(prefix="fieldcheck-startup-"))
    settings = Settings(data_dir=tmp, admin_token=ADMIN)
    engine = db.make_engine(settings.effective_database_url)
    db.create_all(engine)
    t0 = time.perf_counter()
    _fill_bulk(engine, faces, fingerprints, unique_fingers)
    fill_s = time.perf_counter() - t0
    engine.dispose()
    port = _free_port()
    cold_s, cold_ready, proc = _time_start(tmp, port)
    save_s = _stop(proc)  # graceful stop saves the cache
    warm_s, warm_ready, proc = _time_start(tmp, port)
    _stop(proc)
    report = {
        "benchmark": "startup",
        "faces": faces, "fingerprints": fingerprints, "unique_fingerprints": unique_fingers,
        "database_fill_s": round(fill_s, 1),
        "cold_start_to_ready_s": round(cold_s, 1),
        "stop_with_save_s": round(save_s, 1),
        "warm_start_to_ready_s": round(warm_s, 1),
        "watchlist_cold": cold_ready["watchlist"], "watchlist_warm": warm_ready["watchlist"],
        "target": "warm start <= 10 s with 1M faces and 100k fingerprints",
        "target_met": warm_s <= 10.0,
    }
    table = Table(title=f"gateway start with {faces:,} faces and {fingerprints:,} fingerprints")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    for label, key in (("database fill (bulk insert)", "database_fill_s"),
                       ("cold start: build indexes from the database", "cold_start_to_ready_s"),
                       ("graceful stop: save indexes", "stop_with_save_s"),
                       ("warm start: memory-map saved indexes", "warm_start_to_ready_s")):
        table.add_row(label, f"{report[key]:.1f}")
    Console().print(table)
    if json_out:
        print(json.dumps(report))
    return report
