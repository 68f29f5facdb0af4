"""Central link benchmark: drain rate of a backlog, and local decision latency (p95) with central
healthy vs central answering in 5 s.

    uv run python benchmarks/upstream_drain.py drain --backlog 10000
    uv run python benchmarks/upstream_drain.py latency --checks 40

``drain``: the stub runs as a subprocess; a backlog of checks with their outbox items is written
to a fresh gateway database (as the check route would, one transaction each but in bulk), then
the real UpstreamService drains it over loopback HTTP. Reports items/s, central's de-duplication
counts, and the drain limit used (set high so the link, not the limiter, is measured).

``latency``: a gateway subprocess (``fieldcheck serve``) with the stub as central; the same real
fingerprint checks are timed with central healthy and with the stub's latency at 5000 ms.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session, select  # noqa: E402

from gateway.checks.models import Check  # noqa: E402
from gateway.db import create_all, make_engine  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.upstream.service import UpstreamService  # noqa: E402
from gateway.upstream.settings import UpstreamSettings  # noqa: E402
from gateway.upstream.stub.seed import synthetic_subject  # noqa: E402
from tests.upstream.procs import Gateway, Stub, finger_check  # noqa: E402


def drain(backlog: int, drain_per_s: float, workers: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="fc-drain-"))
    stub = Stub(tmp / "central", subjects=1000, documents=1000)
    try:
        engine = make_engine(f"sqlite:///{tmp / 'gw' / 'fieldcheck.db'}")
        create_all(engine)
        upstream = UpstreamSettings(drain_per_s=drain_per_s, workers=workers, batch=16,
                                    feed_interval_s=3600)
        service = UpstreamService(
            settings=Settings(data_dir=tmp / "gw", upstream_url=stub.url),
            upstream=upstream, engine=engine,
        )
        probe = synthetic_subject(1, 7)  # every 10th check is a central hit
        started = time.perf_counter()
        with Session(engine) as session:
            from device_adapters.capture import Capture
            from gateway.upstream.port import ProbeTemplates

            for n in range(backlog):
                faces = [probe.face_b64] if n % 10 == 0 else []
                check = Check(id=f"chk_bench_{n:06d}", token_id="tok_bench",
                              local_decision="no_hit", decision="no_hit", response={})
                templates = {"faces": faces,
                             "fingers": probe.fingers_b64()[:1] if n % 10 else []}
                if not faces and n % 10:
                    templates["fingers"] = [{"position": 2, "iso_19794_2": "Rk1SACAyMAAAAAA="}]
                session.add(check)
                service.on_check(session, check, Capture(purpose="training"),
                                 ProbeTemplates.from_payload(templates))
            session.commit()
        enqueue_s = time.perf_counter() - started
        started = time.perf_counter()
        service.start()
        while service.storage.stats(now=time.time()).depth > 0:
            time.sleep(0.2)
        drain_s = time.perf_counter() - started
        service.stop()
        with Session(engine) as session:
            upgraded = len(session.exec(select(Check.id).where(Check.decision == "hit")).all())
        return {
            "backlog": backlog, "workers": workers, "drain_limit_per_s": drain_per_s,
            "enqueue_s": round(enqueue_s, 2), "drain_s": round(drain_s, 2),
            "drain_rate_per_s": round(backlog / drain_s, 1),
            "central": stub.deliveries(), "upgraded_to_hit": upgraded,
            "dead_letters": service.storage.stats(now=time.time()).dead,
        }
    finally:
        stub.stop()


def latency(checks: int, prints_dir: Path) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="fc-lat-"))
    stub = Stub(tmp / "central", subjects=1000, documents=1000)
    (tmp / "gw").mkdir()
    gw = Gateway(tmp / "gw", stub.url, FIELDCHECK_UPSTREAM_READ_TIMEOUT_S="10")
    images = sorted(prints_dir.glob("*.tif"))[:checks]
    out: dict[str, object] = {"checks": len(images)}
    try:
        device = gw.device()
        finger_check(device, images[0])  # warm-up
        for label, latency_ms in (("central_healthy", 0), ("central_5s", 5000)):
            stub.faults(latency_ms=latency_ms)
            times = []
            for image in images:
                t0 = time.perf_counter()
                finger_check(device, image)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            out[label] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
                "max_ms": round(times[-1], 1),
                "queue_depth_after": gw.status()["queue_depth"],
            }
        stub.faults(latency_ms=0)
    finally:
        gw.stop()
        stub.stop()
    return out


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("drain")
    d.add_argument("--backlog", type=int, default=10_000)
    d.add_argument("--drain-per-s", type=float, default=100_000.0)
    d.add_argument("--workers", type=int, default=4)
    lat = sub.add_parser("latency")
    lat.add_argument("--checks", type=int, default=40)
    lat.add_argument("--prints", type=Path,
                     default=Settings().shared_data_dir / "fingerprints" / "fvc2002_db1_b")
    args = parser.parse_args()
    if args.cmd == "drain":
        report = drain(args.backlog, args.drain_per_s, args.workers)
    else:
        report = latency(args.checks, args.prints)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
