"""Red-team re-run: time and memory of one hostile request of each kind against a real gateway.

    uv run python benchmarks/hostile_requests.py [--json-only] [--skip-slow]

Starts ``fieldcheck serve`` as a subprocess on loopback (its own data dir, bundled central stub),
sends each hostile request of issue 14 once and records the status, the wall time and the
gateway's peak resident memory above its level before the request (``/proc/<pid>/status``
VmRSS sampled every 10 ms). Configuration findings (weak keys, a changed bootstrap token) start
their own gateway. Prints a table and one JSON line. Each case has a time cap: a request still
running at the cap is recorded as ``timeout``.

Run it from the checkout to measure: the gateway code comes from this file's repository.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "fc_bench_" + "A7q9Zx2LmK4pR8sT1vW3yB6nC0dE5fG"  # a strong token (>= 128 bits)
CAP_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A ``fieldcheck serve`` subprocess running this checkout's code."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = (data_dir / f"serve-{self.port}.log").open("ab")
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "FIELDCHECK_DATA_DIR": str(data_dir),
                    "FIELDCHECK_ADMIN_TOKEN": ADMIN, **env}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from gateway.cli import app; "
             "sys.argv[0] = 'fieldcheck'; app()", "serve", "--port", str(self.port)],
            cwd=ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def wait(self, timeout_s: float = 180.0) -> bool:
        """True once /readyz answers 200; False when the process exits first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gateway not ready in time")

    def rss_mb(self) -> float:
        # The Python process itself (no `uv run` wrapper in between).
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def measure(gw: Served, send: Callable[[], httpx.Response]) -> dict[str, Any]:
    """Status, seconds and peak RSS growth (MB) of one request."""
    base = gw.rss_mb()
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.01):
            peak = max(peak, gw.rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    detail = None
    try:
        response = send()
        status: int | str = response.status_code
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            detail = str(response.json().get("detail"))[:100]
    except httpx.TimeoutException:
        status = "timeout"
    except httpx.HTTPError as exc:
        status = f"error: {exc.__class__.__name__}"
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return {"status": status, "seconds": round(elapsed, 3),
            "peak_rss_mb": round(max(peak, gw.rss_mb()) - base, 1), "detail": detail}


# --- hostile payloads ---------------------------------------------------------------------------

def zero_png(side: int) -> bytes:
    """An all-zero greyscale PNG of side x side: compresses to a few tens of KB."""
    raw = zlib.compress((b"\x00" + b"\x00" * side) * side, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def many_parts(n: int) -> tuple[bytes, str]:
    boundary = "fcbench"
    part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nx\r\n")
    return (part * n + f"--{boundary}--\r\n").encode(), f"multipart/form-data; boundary={boundary}"


def zip_bomb_manifest(size_mb: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("manifest.csv", "w", force_zip64=True) as fh:
            fh.write(b"external_ref,name,category\n")
            line = b"A" * 1023 + b"\n"
            for _ in range(size_mb * 1024):
                fh.write(line)
    return buffer.getvalue()


def nested_json(depth: int) -> bytes:
    return b'{"subjects": ' + b"[" * depth + b"]" * depth + b"}"


def start_case(tmp: Path, name: str, **env: str) -> dict[str, Any]:
    gw = Served(tmp / name, **env)
    try:
        started = gw.wait()
    finally:
        gw.stop()
    return {"status": "started" if started else f"refused (exit {gw.proc.returncode})"}


def changed_bootstrap(tmp: Path) -> dict[str, Any]:
    first = "fc_bench_first_" + "Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXc"
    folder = tmp / "bootstrap"
    gw = Served(folder, FIELDCHECK_ADMIN_TOKEN=first)
    gw.wait()
    gw.stop()
    gw = Served(folder)  # now started with ADMIN
    gw.wait()
    try:
        r = httpx.get(gw.url + "/v1/tokens", headers={"Authorization": f"Bearer {first}"})
        return {"status": r.status_code, "old_token_works": r.status_code == 200}
    finally:
        gw.stop()


def run(*, skip_slow: bool) -> list[dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="fc-hostile-"))
    rows: list[dict[str, Any]] = []

    def add(finding: int, case: str, result: dict[str, Any]) -> None:
        rows.append({"finding": finding, "case": case, **result})
        print(f"  {finding:>2} {case}: {result}", file=sys.stderr, flush=True)

    add(1, "start with FIELDCHECK_SNAPSHOT_KEY=a", start_case(tmp, "weak-key",
                                                             FIELDCHECK_SNAPSHOT_KEY="a"))
    add(1, "start with FIELDCHECK_ADMIN_TOKEN=x", start_case(tmp, "weak-admin",
                                                            FIELDCHECK_ADMIN_TOKEN="x"))
    add(1, "old bootstrap token after a change", changed_bootstrap(tmp))

    # A signing key so the changes feed answers (older code ignores the setting).
    gw = Served(tmp / "main",
                FIELDCHECK_SNAPSHOT_SIGNING_KEY="fcsk1_anXbPZf0tRdhDwTGoAC9oTkbM18IgDZgUU6JLLY_RPo")
    gw.wait()
    # Connection: close, so a connection the server dropped after one case cannot fail the next.
    admin = httpx.Client(base_url=gw.url, timeout=CAP_S,
                         headers={"Authorization": f"Bearer {ADMIN}", "Connection": "close"})
    try:
        device_token = admin.post("/v1/tokens", json={"role": "device",
                                                      "name": "=HYPERLINK(\"http://x\")"}
                                  ).json()["token"]
        device = httpx.Client(base_url=gw.url, timeout=CAP_S,
                              headers={"Authorization": f"Bearer {device_token}",
                                       "Connection": "close"})

        body = b'{"name": "Eve", "category": "red", "aliases": ["\\udfff"]}'
        add(2, "POST /v1/subjects alias \"\\udfff\"", measure(gw, lambda: admin.post(
            "/v1/subjects", content=body, headers={"content-type": "application/json"})))
        add(2, "then GET /v1/subjects", measure(gw, lambda: admin.get("/v1/subjects")))
        add(2, "then GET /v1/audit", measure(gw, lambda: admin.get("/v1/audit")))
        seek = {"schema": "seek-avenger/1", "device": {"serial": "SEEK\u0000\udfff"},
                "purpose": "port entry",
                "face": {"format": "png",
                         "image": base64.b64encode(zero_png(64)).decode()}}
        seek_body = json.dumps(seek).encode()
        add(2, "SEEK device.serial with NUL + lone surrogate", measure(gw, lambda: device.post(
            "/v1/adapters/seek-avenger/checks", content=seek_body,
            headers={"content-type": "application/json"})))

        png = zero_png(6300)
        add(3, f"face: 6300x6300 all-zero PNG ({len(png) // 1024} KB)", measure(
            gw, lambda: device.post("/v1/checks", data={"purpose": "port entry"},
                                    files={"face": ("f.png", png, "image/png")})))
        for n in (2_000, 20_000) if not skip_slow else (2_000,):
            data, ctype = many_parts(n)
            add(3, f"multipart with {n} parts ({len(data) // 1024} KB)", measure(
                gw, lambda d=data, c=ctype: device.post(
                    "/v1/checks", content=d, headers={"content-type": c})))

        bomb = zip_bomb_manifest(300 if not skip_slow else 30)
        add(4, f"zip ({len(bomb) // 1024} KB) with a {300 if not skip_slow else 30} MB "
               "manifest.csv", measure(gw, lambda: admin.post(
                   "/v1/subjects:batch", content=bomb,
                   headers={"content-type": "application/zip"})))

        add(6, "check claiming another device's serial", measure(gw, lambda: device.post(
            "/v1/checks", data={"device_id": "=SEEK-OTHER-9", "purpose": "port entry"},
            files={"face": ("f.png", zero_png(64), "image/png")})))
        text = admin.get("/v1/audit.csv").text
        cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
        formula = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
        add(6, "formula cells in /v1/audit.csv", {"status": len(formula),
                                                   "examples": formula[:3]})
        audit = admin.get("/v1/audit", params={"action": "check.create"}).json()
        claimed = [i.get("device_id") for i in audit.get("items", [])]
        add(6, "audit device_id of that check", {"status": claimed[:1]})

        big = str(10**20)
        for path, params in (
            ("/v1/subjects", {"offset": big}), ("/v1/audit", {"offset": big}),
            ("/v1/reviews", {"offset": big}), ("/v1/upstream/dead-letters", {"offset": big}),
            ("/v1/watchlist/changes", {"since": big}), ("/v1/jobs", {"limit": big}),
            (f"/v1/upstream/dead-letters/{big}/requeue", None),
        ):
            if path.endswith("requeue"):
                add(8, f"POST {path}", measure(gw, lambda p=path: admin.post(p)))
            else:
                add(8, f"GET {path} {params}", measure(
                    gw, lambda p=path, q=params: admin.get(p, params=q)))
        add(8, "GET /v1/upstream/dead-letters", measure(
            gw, lambda: admin.get("/v1/upstream/dead-letters")))
        for label, value in (("without time zone", "2030-01-01T00:00:00"),
                             ("at 9999-12-31T23:59:59-12:00", "9999-12-31T23:59:59-12:00")):
            add(8, f"expires_at {label}", measure(gw, lambda v=value: admin.post(
                "/v1/subjects", json={"name": "Tz", "category": "red", "expires_at": v})))
        add(8, "subjects:batch JSON nested 100,000 deep", measure(gw, lambda: admin.post(
            "/v1/subjects:batch", content=nested_json(100_000),
            headers={"content-type": "application/json"})))
        add(8, "subjects:batch \"faces\": 5", measure(gw, lambda: admin.post(
            "/v1/subjects:batch", json={"subjects": [{"external_ref": "R1", "name": "A",
                                                      "category": "red", "faces": 5}]})))
        face = base64.b64encode(zero_png(64)).decode()
        add(8, "subjects:batch fingerprint position 10**20", measure(gw, lambda: admin.post(
            "/v1/subjects:batch", json={"subjects": [{"external_ref": "R2", "name": "B",
                                                      "category": "red", "fingerprints": [
                                                          {"position": 10**20, "image": face}]}]})))
    finally:
        admin.close()
        gw.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-slow", action="store_true",
                        help="smaller multipart and zip cases (the unhardened code takes minutes)")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    rows = run(skip_slow=args.skip_slow)
    if not args.json_only:
        print(f"\n{'#':>2}  {'case':<58} {'status':<24} {'s':>8} {'+MB':>8}")
        for row in rows:
            print(f"{row['finding']:>2}  {row['case'][:58]:<58} {str(row['status'])[:24]:<24} "
                  f"{row.get('seconds', ''):>8} {row.get('peak_rss_mb', ''):>8}")
    print(json.dumps({"load_before": load, "load_after": os.getloadavg(), "cases": rows}))


if __name__ == "__main__":
    main()
