"""``fieldcheck bench load``: what one gateway carries, measured with virtual devices over loopback.

A real ``fieldcheck serve`` process is started on a temporary SQLite file whose watchlist holds
``subjects`` synthetic subjects plus real enrolled people (LFW faces, FVC prints) whose other
photos and impressions are the probes. Then ``devices`` of the simulator's virtual devices
(``simulator.devices.VirtualDevice``, multipart format: each its own outbox sent in order, retries
after Retry-After or its backoff, whichever is longer) get checks at a stepped offered rate (open
loop: arrivals are Poisson at the step's rate over the fleet, whatever the answers do), a mix of
face / two fingers / face + two fingers / document-only checks, built from the real probes. A
refused check stays in its device's outbox until answered (devices keep trying up to 15 minutes
after the last step), so every check is eventually answered or counted lost.

Per step: offered and answered rates, latency p50/p95/p99 of the admitted attempt (what the
officer waits once the gateway takes the check) and end to end (including waits for retries),
503 rejections, errors, and the gateway's CPU and memory sampled every second from /proc.
The knee (the sustained rate) is the highest offered rate whose step, and every lower one, kept
the admitted p95 within ``--p95-target-s``, answered at least 90% of what it offered and refused
at most 10% of its checks; the overload verdict reads the first step at twice the knee or more
and says whether its admitted p95 held ``--overload-p95-target-s`` (3 s). A 503 counts as a
refusal only when it is admission's (at capacity, with Retry-After); any other 503 is an error.
JSON (``--json``) + a table + a PNG plot.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from gateway.bench import (
    ADMIN,
    _fill_synthetic,
    _free_port,
    _percentile,
    _shared_data,
    enrol_real_people,
    wait_ready,
)
from gateway.checks.admission import default_in_flight
from gateway.extraction import default_processes
from gateway.settings import Settings
from simulator.devices import (
    AT_CAPACITY_REASON,
    PORTS,
    CheckRecord,
    DeviceProfile,
    PlannedCheck,
    VirtualDevice,
)
from simulator.scenario import DeviceBehaviour

KINDS = ("face", "two_fingers", "face_two_fingers", "document")
DEFAULT_MIX = "face=0.3,two_fingers=0.2,face_two_fingers=0.4,document=0.1"
TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n"
       "L898902C36UTO7408122F1204159ZE184226B<<<<<10")


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in KINDS:
            raise ValueError(f"unknown check kind {name!r} in --mix: use {', '.join(KINDS)}")
        mix[name] = float(weight)
    if sum(mix.values()) <= 0:
        raise ValueError("--mix weights must add up to more than 0")
    return mix


class _Sampler(threading.Thread):
    """CPU share (of one core) and resident memory of a process tree, once a second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True, name="load-sampler")
        self.pid = pid
        self.samples: list[dict] = []
        self.stop = threading.Event()
        self._tick = os.sysconf("SC_CLK_TCK")

    def _tree(self) -> list[int]:
        pids, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            pids.append(p)
            try:
                for task in os.listdir(f"/proc/{p}/task"):
                    with open(f"/proc/{p}/task/{task}/children") as f:
                        todo.extend(int(c) for c in f.read().split())
            except OSError:
                continue
        return pids

    def _read(self) -> tuple[float, int]:
        cpu, rss = 0.0, 0
        for p in self._tree():
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / self._tick
                with open(f"/proc/{p}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss += int(line.split()[1]) * 1024
            except (OSError, IndexError, ValueError):
                continue
        return cpu, rss

    def run(self) -> None:
        t0 = time.perf_counter()
        last_cpu, last_t = self._read()[0], t0
        while not self.stop.wait(1.0):
            cpu, rss = self._read()
            now = time.perf_counter()
            self.samples.append({
                "t_s": round(now - t0, 1),
                "cpu_percent": round(100 * (cpu - last_cpu) / max(now - last_t, 1e-6), 1),
                "rss_mb": round(rss / 2**20, 1),
            })
            last_cpu, last_t = cpu, now


class _LoadDevice(VirtualDevice):
    """The simulator's handheld: its own outbox sent in order, a retry after Retry-After (or
    its backoff, whichever is longer) for every refusal, its timeouts. It sends the bench's real
    probes (other photos and impressions of enrolled people) rather than synthetic captures, so
    the gateway pays real matching costs, under the purpose of a real check."""

    def request_of(self, plan: PlannedCheck, start_wall: datetime) -> dict[str, Any]:
        request = super().request_of(plan, start_wall)
        request["data"]["purpose"] = "port entry"
        return request


# The outbox keeps a check until the gateway answers it (a refusal at capacity is not a reason
# to give up): only the drain deadline ends the retries.
BEHAVIOUR = DeviceBehaviour(timeout_s=120.0, max_attempts=1_000_000, backoff_s=0.5,
                            backoff_max_s=15.0)


def _png(tiff: bytes) -> bytes:
    """FVC's TIFF as the PNG a multipart device sends (lossless; 500 ppi either way)."""
    pixels = cv2.imdecode(np.frombuffer(tiff, np.uint8), cv2.IMREAD_GRAYSCALE)
    ok, png = (False, None) if pixels is None else cv2.imencode(".png", pixels)
    if not ok or png is None:  # pragma: no cover - FVC's prints decode and encode
        raise ValueError("could not re-encode an FVC print as PNG")
    return png.tobytes()


def _plan(seq: int, kind: str, probe: dict, device: str, captured_t: float) -> PlannedCheck:
    fingers = ([(2, probe["finger_2_png"]), (7, probe["finger_7_png"])]
               if kind in ("two_fingers", "face_two_fingers") else [])
    return PlannedCheck(
        seq=seq, device=device, person_index=0, expected_subject=probe["subject"],
        modality=kind, quality="good", fingers=fingers,
        face=probe["face"] if kind in ("face", "face_two_fingers") else None,
        mrz=TD3.split("\n") if kind == "document" else None, captured_t=captured_t,
    )


@dataclass
class _Sent:
    """One check of the load: its step, kind, and the simulator's record of what happened."""

    step: int
    kind: str
    record: CheckRecord


def _faults(record: CheckRecord) -> list[str]:
    """Attempts that failed for another reason than admission's refusal (timeouts, transport
    errors, other 5xx), sent again by the device; and the answer itself when it was an error."""
    retried = [e.split(" ", 1)[1] for e in record.attempt_log if AT_CAPACITY_REASON not in e]
    return retried + ([f"HTTP {record.http_status}"] if record.status == "error" else [])


def _step_report(step: int, rate: float, sent: list[_Sent], step_s: float) -> dict:
    mine = [c for c in sent if c.step == step]
    answered = [c for c in mine if c.record.status in ("acknowledged", "error")]
    ok = [c for c in answered if c.record.status == "acknowledged"]
    admitted = [c.record.latency_ms for c in ok if c.record.latency_ms is not None]
    e2e = [(c.record.acked_t - c.record.plan.captured_t) * 1000 for c in ok
           if c.record.acked_t is not None]
    faults = [f for c in mine for f in _faults(c.record)]
    return {
        "offered_per_s": rate,
        "sent": len(mine),
        "answered": len(answered),
        "answered_per_s": round(len(answered) / step_s, 2),
        "rejections_503": sum(c.record.refusals for c in mine),
        "checks_rejected_at_least_once": sum(1 for c in mine if c.record.refusals),
        "errors": len(faults),
        # What the errors were (a refused probe photo is a 422 of the probe set, not a fault).
        "error_statuses": dict(Counter(faults)),
        "error_samples": sorted({str(c.record.error) for c in mine if c.record.error})[:3],
        "admitted_p50_ms": round(_percentile(admitted, 50), 0),
        "admitted_p95_ms": round(_percentile(admitted, 95), 0),
        "admitted_p99_ms": round(_percentile(admitted, 99), 0),
        "end_to_end_p95_ms": round(_percentile(e2e, 95), 0),
        "by_kind_p95_ms": {
            k: round(_percentile([c.record.latency_ms for c in ok
                                  if c.kind == k and c.record.latency_ms], 95), 0)
            for k in KINDS if any(c.kind == k for c in ok)
        },
    }


def knee_of(steps: list[dict], p95_target_s: float) -> float | None:
    """The sustained rate: the highest offered rate whose step, and every lower one, kept the
    admitted p95 within ``p95_target_s``, answered at least 90% of what it offered and refused
    (503) at most 10% of its checks. A step carried only by refusing checks is not sustained,
    however fast its admitted few were; None when the lowest step already fails."""
    knee = None
    for s in sorted(steps, key=lambda s: s["offered_per_s"]):
        if not (s["sent"] and s["admitted_p95_ms"] <= p95_target_s * 1000
                and s["answered"] >= 0.9 * s["sent"]
                and s["checks_rejected_at_least_once"] <= 0.1 * s["sent"]):
            break
        knee = s["offered_per_s"]
    return knee


def overload_verdict(steps: list[dict], knee: float | None, p95_s: float) -> dict | None:
    """The lowest step offering at least twice the knee (what issue 19 asks to hold: admitted
    p95 within ``p95_s`` while the rest get 503 + Retry-After), or None when no step did."""
    if knee is None:
        return None
    over = sorted((s for s in steps if s["offered_per_s"] >= 2 * knee - 1e-9),
                  key=lambda s: s["offered_per_s"])
    if not over:
        return None
    s = over[0]
    return {"offered_per_s": s["offered_per_s"], "times_knee": round(s["offered_per_s"] / knee, 2),
            "admitted_p95_ms": s["admitted_p95_ms"], "rejections_503": s["rejections_503"],
            "within_target": s["admitted_p95_ms"] <= p95_s * 1000,
            "all_steps_beyond_within_target": all(o["admitted_p95_ms"] <= p95_s * 1000
                                                  for o in over)}


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = report["steps"]
    rates = [s["offered_per_s"] for s in steps]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key, label in (("admitted_p50_ms", "p50"), ("admitted_p95_ms", "p95"),
                       ("admitted_p99_ms", "p99"), ("end_to_end_p95_ms", "p95 end to end")):
        ax1.plot(rates, [s[key] / 1000 for s in steps], marker="o", label=label)
    ax1.axhline(report["p95_target_s"], color="grey", linestyle="--", linewidth=0.8)
    overload = report.get("overload_p95_target_s")
    if overload:
        ax1.axhline(overload, color="grey", linestyle=":", linewidth=0.8)
    if report.get("knee_offered_per_s"):
        ax1.axvline(report["knee_offered_per_s"], color="grey", linewidth=0.8)
    # log scale: the admitted p95 (seconds) and the end-to-end time with the devices' backlog
    # (minutes, past the knee) both stay readable
    ax1.set_yscale("log")
    ax1.set_xlabel("offered checks/s (vertical line: the knee)")
    ax1.set_ylabel("latency (s, log; dashed: knee target, dotted: overload target)")
    ax1b = ax1.twinx()
    ax1b.bar(rates, [s["rejections_503"] for s in steps], width=0.1, alpha=0.3, color="red",
             label="503s")
    ax1b.set_ylabel("503 answers")
    ax1.legend(loc="upper left")
    ax1.set_title("latency and rejections by offered load")
    samples = report["gateway_samples"]
    ax2.plot([s["t_s"] for s in samples], [s["cpu_percent"] for s in samples], label="CPU %")
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("CPU % of one core")
    ax2b = ax2.twinx()
    ax2b.plot([s["t_s"] for s in samples], [s["rss_mb"] for s in samples], color="green",
              label="RSS MB")
    ax2b.set_ylabel("RSS MB")
    ax2.set_title("gateway process tree over time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_load_bench(*, devices: int, subjects: int, rates: list[float], step_s: float,
                   mix: dict[str, float], p95_target_s: float, extra_env: dict[str, str],
                   overload_p95_s: float = 3.0,
                   out_dir: Path | None, json_out: bool, seed: int = 3) -> dict:
    console = Console(stderr=True)
    tmp = Path(tempfile.mkdtemp(prefix="fieldcheck-load-"))
    settings = Settings(data_dir=tmp, admin_token=ADMIN)
    data = _shared_data(settings)
    lfw, fvc = data / "faces" / "lfw", data / "fingerprints" / "fvc2002_db1_b"
    if not lfw.is_dir() or not fvc.is_dir():
        raise SystemExit(f"bench load needs real probes: LFW and FVC under {data}")
    from gateway import db

    engine = db.make_engine(settings.effective_database_url)
    db.create_all(engine)
    console.print(f"filling the watchlist with {subjects:,} synthetic subjects ...")
    _fill_synthetic(engine, subjects)
    engine.dispose()

    port = _free_port()
    env = {**os.environ, "FIELDCHECK_DATA_DIR": str(tmp), "FIELDCHECK_ADMIN_TOKEN": ADMIN,
           **extra_env}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli import app; app()", "serve", "--port", str(port),
         "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        console.print("starting the gateway ...")
        wait_ready(base, alive=lambda: proc.poll() is None)
        admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"},
                             timeout=120)
        console.print("enrolling real people for the probes ...")
        probes = enrol_real_people(admin, lfw, fvc, people=10)
        for probe in probes:  # a multipart device sends PNG
            probe["finger_2_png"], probe["finger_7_png"] = (
                _png(probe["finger_2"]), _png(probe["finger_7"]))
        tokens = [admin.post("/v1/tokens", json={"role": "device", "name": f"LOAD-{i:03d}"})
                  .json()["token"] for i in range(devices)]
        sampler = _Sampler(proc.pid)
        sampler.start()
        rng = random.Random(seed)
        total_s = step_s * len(rates)
        # Devices keep retrying after the last step until every check is answered (each leaves
        # once its outbox is empty); only a check still unanswered after this is lost.
        drain_s = 900.0
        t0 = time.perf_counter()
        start_wall = datetime.now(UTC)
        ports = sorted(PORTS)
        fleet = [
            _LoadDevice(DeviceProfile(adapter="multipart", serial=f"LOAD-{i:03d}",
                                      port=ports[i % len(ports)],
                                      clock_offset_s=0.0, clock_drift_ppm=0.0,
                                      operator_id=f"OFFICER-{i:03d}"),
                        tok, base, BEHAVIOUR, clock=lambda: time.perf_counter() - t0,
                        link_down=lambda _t: False)
            for i, tok in enumerate(tokens)
        ]
        failed: list[BaseException] = []

        def send(device: _LoadDevice) -> None:
            try:
                device.run_sender(start_wall, total_s + drain_s)
            except BaseException as exc:  # a broken device must fail the bench, not look "lost"
                failed.append(exc)
                raise

        threads = [threading.Thread(target=send, args=(d,), daemon=True, name=f"load-device-{i}")
                   for i, d in enumerate(fleet)]
        for thread in threads:
            thread.start()
        kinds, weights = list(mix), list(mix.values())
        sent: list[_Sent] = []
        for step, rate in enumerate(rates):
            console.print(f"step {step + 1}/{len(rates)}: {rate:g} checks/s for {step_s:g} s")
            end = time.perf_counter() + step_s
            t = time.perf_counter()
            while True:
                t += rng.expovariate(rate)
                if t >= end:
                    break
                time.sleep(max(0.0, t - time.perf_counter()))
                # Arrivals are Poisson over the fleet; each lands in one device's outbox.
                device = fleet[rng.randrange(len(fleet))]
                kind = rng.choices(kinds, weights)[0]
                plan = _plan(len(sent), kind, probes[rng.randrange(len(probes))],
                             device.profile.serial, t - t0)
                sent.append(_Sent(step, kind, CheckRecord(plan)))
                device.enqueue(sent[-1].record)
            time.sleep(max(0.0, end - time.perf_counter()))
        for device in fleet:
            device.close()
        steps_done = time.perf_counter()
        for thread in threads:
            thread.join(max(1.0, t0 + total_s + drain_s + 5 - time.perf_counter()))
        if failed:
            raise RuntimeError(f"a virtual device failed: {failed[0]!r}") from failed[0]
        drained_s = time.perf_counter() - steps_done
        sampler.stop.set()
        sampler.join(3)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    steps = [_step_report(i, r, sent, step_s) for i, r in enumerate(rates)]
    knee = knee_of(steps, p95_target_s)
    over = overload_verdict(steps, knee, overload_p95_s)
    lost = sum(1 for c in sent if c.record.status not in ("acknowledged", "error"))
    report = {
        "benchmark": "load",
        "devices": devices, "synthetic_subjects": subjects, "mix": mix, "step_s": step_s,
        "settings": {k: v for k, v in extra_env.items() if k.startswith("FIELDCHECK_CHECKS")},
        # what the gateway ran with (its default when not set: half its worker processes)
        "checks_in_flight": int(extra_env.get("FIELDCHECK_CHECKS_IN_FLIGHT")
                                or default_in_flight(default_processes())),
        "overload_p95_target_s": overload_p95_s,
        "cpu_count": os.cpu_count(),
        "p95_target_s": p95_target_s,
        "steps": steps,
        "knee_offered_per_s": knee,
        "overload": over,
        "checks_sent": len(sent),
        "checks_lost": lost,
        "answered_within_s_after_last_step": round(drained_s, 1),
        "gateway_peak_rss_mb": max((s["rss_mb"] for s in sampler.samples), default=None),
        "gateway_samples": sampler.samples,
    }
    table = Table(title=f"bench load: {devices} devices, {subjects:,} synthetic subjects, "
                        f"{step_s:g} s per step")
    for col in ("offered/s", "answered/s", "sent", "503s", "errors", "p50 ms", "p95 ms",
                "p99 ms", "e2e p95 ms"):
        table.add_column(col, justify="right")
    for s in steps:
        table.add_row(f"{s['offered_per_s']:g}", f"{s['answered_per_s']:g}", str(s["sent"]),
                      str(s["rejections_503"]), str(s["errors"]), f"{s['admitted_p50_ms']:.0f}",
                      f"{s['admitted_p95_ms']:.0f}", f"{s['admitted_p99_ms']:.0f}",
                      f"{s['end_to_end_p95_ms']:.0f}")
    Console().print(table)
    console.print(f"knee (p95 <= {p95_target_s:g} s, >= 90% answered, <= 10% refused, and every "
                  f"lower step too): {knee if knee is not None else 'below the lowest step'} "
                  f"checks/s; lost {lost} of {len(sent)}")
    if over is not None:
        console.print(f"at {over['offered_per_s']:g}/s ({over['times_knee']:g}x the knee): admitted "
                      f"p95 {over['admitted_p95_ms']:.0f} ms, {over['rejections_503']} 503s; "
                      f"within {overload_p95_s:g} s: {over['within_target']}")
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "load.json").write_text(json.dumps(report, indent=2))
        _plot(report, out_dir / "load.png")
        console.print(f"report and plot in {out_dir}")
    if json_out:
        print(json.dumps(report))
    return report
