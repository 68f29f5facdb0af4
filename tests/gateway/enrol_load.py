"""Concurrent load on a real gateway over loopback: NCB clients enrolling faces, a bulk import
job, devices checking, and a /healthz prober. Shared by the slow stress test
(``test_stress_concurrency.py``) and ``benchmarks/enrol_concurrency.py``.

Everything goes through HTTP like a real NCB or handheld would; the gateway under load is a
``fieldcheck serve`` subprocess (``serve_gateway``), so what is measured is the real process.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.checks.admission import refused_at_capacity

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "fc_enrol_load_admin_Tq7Wm2Zx9Kp4Rv6Ns1Jd"  # strong enough for the start-up check


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServedGateway:
    """A ``uv run fieldcheck serve`` process on its own data dir (bundled central stub)."""

    url: str
    proc: subprocess.Popen
    log: Path

    def stop(self, timeout_s: float = 20.0) -> float:
        """SIGTERM and wait; returns the seconds the process took to exit (killed after
        ``timeout_s``)."""
        started = time.monotonic()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return time.monotonic() - started


def serve_gateway(data_dir: Path, *, database_url: str | None = None,
                  env: dict[str, str] | None = None, ready_timeout_s: float = 180.0
                  ) -> ServedGateway:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, "FIELDCHECK_DATA_DIR": str(data_dir),
                "FIELDCHECK_ADMIN_TOKEN": ADMIN, **(env or {})}
    if database_url:
        full_env["FIELDCHECK_DATABASE_URL"] = database_url
    log = data_dir / "serve.log"
    out = log.open("ab")
    proc = subprocess.Popen(
        ["uv", "run", "fieldcheck", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    out.close()
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return ServedGateway(url, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError(f"gateway not ready within {ready_timeout_s} s; see {log}")


def admission_refusal(r: httpx.Response) -> bool:
    """Admission's back-pressure (503 + Retry-After, at capacity). Every other 503 (the database
    busy or failing, the gateway stopping) stays a server error for these tests."""
    return refused_at_capacity(r.status_code, r.headers, r.content)


@dataclass
class Samples:
    """Latencies (seconds) and status codes of one kind of request."""

    latencies: list[float] = field(default_factory=list)
    at: list[float] = field(default_factory=list)  # wall-clock start of each request
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # first few 5xx / transport failures
    lock: threading.Lock = field(default_factory=threading.Lock)

    refused: int = 0  # checks refused by admission (503 + Retry-After), sent again

    def add(self, seconds: float, status: int | str, detail: str = "",
            refused: bool = False) -> None:
        with self.lock:
            if refused:
                self.refused += 1  # not answered: no latency sample, sent again by the caller
                return
            self.latencies.append(seconds)
            self.at.append(time.time() - seconds)
            self.statuses[str(status)] += 1
            if (not isinstance(status, int) or status >= 500) and len(self.errors) < 5:
                self.errors.append(f"{status}: {detail[:300]}")

    def summary(self, duration_s: float) -> dict[str, Any]:
        lat = sorted(self.latencies)
        ok = sum(n for s, n in self.statuses.items() if s.isdigit() and int(s) < 400)

        def q(p: float) -> float | None:
            if not lat:
                return None
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1)

        return {
            "count": len(lat), "ok": ok, "per_s": round(ok / duration_s, 3) if duration_s else 0,
            "p50_ms": q(0.50), "p95_ms": q(0.95), "p99_ms": q(0.99),
            "max_ms": round(lat[-1] * 1000, 1) if lat else None,
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
            "statuses": dict(self.statuses),
            "refused_at_capacity": self.refused,
            "server_errors": sum(n for s, n in self.statuses.items()
                                 if not s.isdigit() or int(s) >= 500),
            "errors": list(self.errors),
        }


def shared_data() -> Path:
    env = os.environ.get("FIELDCHECK_SHARED_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def face_photos(limit: int = 400) -> list[bytes]:
    lfw = shared_data() / "faces" / "lfw"
    return [p.read_bytes() for p in sorted(lfw.glob("*/*.jpg"))[:limit]]


def finger_prints(limit: int = 40) -> list[bytes]:
    fvc = shared_data() / "fingerprints" / "fvc2002_db1_b"
    return [p.read_bytes() for p in sorted(fvc.glob("*_1.tif"))[:limit]]


class Load:
    """Runs the load threads against ``url`` for a while and collects the samples."""

    def __init__(self, url: str, *, admin_token: str = ADMIN, timeout_s: float = 60.0) -> None:
        self.url = url
        self.admin = admin_token
        self.timeout_s = timeout_s
        self.stop = threading.Event()
        self.enrol = Samples()
        self.subject = Samples()
        self.check = Samples()
        self.healthz = Samples()
        self.imports: list[dict[str, Any]] = []
        self._threads: list[threading.Thread] = []
        self.photos = face_photos()
        self.prints = finger_prints()

    def _client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=self.timeout_s)

    def _timed(self, samples: Samples, client: httpx.Client, method: str, path: str,
               refusable: bool = False, **kwargs: Any) -> httpx.Response | None:
        """One request, timed into ``samples``. ``refusable``: a check, for which admission's
        503 (``admission_refusal``) is back-pressure to retry rather than a server error."""
        started = time.perf_counter()
        try:
            r = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            samples.add(time.perf_counter() - started, type(exc).__name__, str(exc))
            return None
        samples.add(time.perf_counter() - started, r.status_code, r.text,
                    refusable and admission_refusal(r))
        return r

    def device_token(self) -> str:
        with self._client(self.admin) as c:
            r = c.post("/v1/tokens", json={"role": "device", "name": "load-" + uuid.uuid4().hex[:6]})
            r.raise_for_status()
            return str(r.json()["token"])

    # -- the actors ------------------------------------------------------------------------

    def _enroller(self, n: int) -> None:
        with self._client(self.admin) as c:
            i = n
            while not self.stop.is_set():
                r = self._timed(self.subject, c, "POST", "/v1/subjects", json={
                    "name": f"Load Subject {n}-{i}", "category": "red",
                    "external_ref": f"LOAD-{uuid.uuid4().hex[:12]}"})
                if r is None or r.status_code != 201:
                    self.stop.wait(0.2)
                    continue
                sid = r.json()["id"]
                photo = self.photos[i % len(self.photos)]
                self._timed(self.enrol, c, "POST", f"/v1/subjects/{sid}/faces",
                            files={"image": ("face.jpg", photo, "image/jpeg")})
                i += 7

    def _device(self, n: int, token: str) -> None:
        with self._client(token) as c:
            i = n
            while not self.stop.is_set():
                files: dict[str, Any] = {
                    "finger_2": ("p.tif", self.prints[i % len(self.prints)], "image/tiff")}
                if i % 2 == 0:
                    files["face"] = ("f.jpg", self.photos[(i * 13) % len(self.photos)],
                                     "image/jpeg")
                r = self._timed(self.check, c, "POST", "/v1/checks", refusable=True,
                                files=files, data={"purpose": "patrol"})
                if r is not None and admission_refusal(r):
                    # admission's back-pressure: keep the capture and send it again when told,
                    # as a device's outbox does
                    self.stop.wait(float(r.headers["retry-after"]))
                    continue
                i += 1

    def _prober(self, every_s: float) -> None:
        with self._client(None) as c:
            while not self.stop.is_set():
                self._timed(self.healthz, c, "GET", "/healthz")
                self.stop.wait(every_s)

    def _importer(self, records: int) -> None:
        people = sorted((shared_data() / "faces" / "lfw").iterdir())
        subjects = []
        for k in range(records):
            person = people[k % len(people)]
            photo = sorted(person.glob("*.jpg"))[-1]
            subjects.append({"external_ref": f"IMP-{uuid.uuid4().hex[:10]}",
                             "name": person.name.replace("_", " "), "category": "yellow",
                             "faces": [base64.b64encode(photo.read_bytes()).decode()]})
        with self._client(self.admin) as c:
            samples = Samples()
            r = self._timed(samples, c, "POST", "/v1/subjects:batch", json={"subjects": subjects})
            job: dict[str, Any] = {"start_status": r.status_code if r is not None else None,
                                   "start_ms": round(samples.latencies[0] * 1000, 1)}
            if r is not None and r.status_code == 202:
                job_id = r.json()["id"]
                while not self.stop.is_set():
                    g = self._timed(samples, c, "GET", f"/v1/jobs/{job_id}")
                    if g is not None and g.status_code == 200:
                        body = g.json()
                        job.update({k: body[k] for k in ("status", "processed", "imported",
                                                         "rejected", "total")})
                        if body["status"] not in ("queued", "running"):
                            break
                    self.stop.wait(1.0)
                job["poll_statuses"] = dict(samples.statuses)
            self.imports.append(job)

    # -- running ---------------------------------------------------------------------------

    def run(self, seconds: float, *, enrollers: int, devices: int, import_records: int = 0,
            probe_every_s: float = 0.1) -> dict[str, Any]:
        tokens = [self.device_token() for _ in range(devices)]
        self.stop.clear()
        self.enrol, self.subject, self.check, self.healthz = (
            Samples(), Samples(), Samples(), Samples())
        self.imports = []
        actors: list[tuple[Any, tuple[Any, ...]]] = [(self._prober, (probe_every_s,))]
        actors += [(self._enroller, (n,)) for n in range(enrollers)]
        actors += [(self._device, (n, t)) for n, t in enumerate(tokens)]
        if import_records:
            actors.append((self._importer, (import_records,)))
        self._threads = [threading.Thread(target=f, args=a, daemon=True) for f, a in actors]
        started = time.monotonic()
        for t in self._threads:
            t.start()
        self.stop.wait(seconds)
        self.stop.set()
        for t in self._threads:
            t.join(timeout=self.timeout_s + 5)
        duration = time.monotonic() - started
        health = sorted(self.healthz.latencies)
        return {
            "seconds": round(duration, 1), "enrollers": enrollers, "devices": devices,
            "import_records": import_records,
            "face_enrol": self.enrol.summary(duration),
            "subject_create": self.subject.summary(duration),
            "check": self.check.summary(duration),
            "healthz": {**self.healthz.summary(duration),
                        "over_1s": sum(1 for x in health if x > 1.0),
                        "slowest": [
                            {"ms": round(lat * 1000), "at": time.strftime(
                                "%H:%M:%S", time.localtime(at)) + f".{int(at % 1 * 1000):03d}"}
                            for lat, at in sorted(zip(self.healthz.latencies, self.healthz.at,
                                                      strict=True))[-5:]],
                        "over_100ms": sum(1 for x in health if x > 0.1)},
            "imports": self.imports,
        }


def table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """One line per phase: enrolments/s, enrol p95, check p50/p95, /healthz p99/max, 5xx."""
    head = (f"{'phase':<28} {'enrol/s':>8} {'enrol p95':>10} {'check/s':>8} {'chk p50':>8} "
            f"{'chk p95':>8} {'hz p99':>8} {'hz max':>8} {'5xx':>5} {'refused':>7}")
    lines = [head, "-" * len(head)]
    for name, r in rows:
        e, c, h = r["face_enrol"], r["check"], r["healthz"]
        errors = e["server_errors"] + c["server_errors"] + h["server_errors"] + r[
            "subject_create"]["server_errors"]
        lines.append(
            f"{name:<28} {e['per_s']:>8.2f} {e['p95_ms'] or 0:>10.0f} {c['per_s']:>8.2f} "
            f"{c['p50_ms'] or 0:>8.0f} {c['p95_ms'] or 0:>8.0f} {h['p99_ms'] or 0:>8.0f} "
            f"{h['max_ms'] or 0:>8.0f} {errors:>5} {c['refused_at_capacity']:>7}"
        )
    return "\n".join(lines)
