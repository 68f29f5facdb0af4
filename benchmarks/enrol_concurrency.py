"""Enrolment under concurrency: NCB clients enrolling faces while devices check, on one real
``fieldcheck serve`` process (default settings: SQLite, bundled central stub and its feed).

    uv run python benchmarks/enrol_concurrency.py [--seconds 60] [--devices 2] [--import-records 0]
        [--database-url postgresql+psycopg://...] [--json]

Phases, one after the other on the same gateway: one enrolling client, then two, each with
``--devices`` devices sending finger (+ every other one a face) checks and a /healthz prober
every 100 ms. Reports face enrolments per second, check latency while enrolling, /healthz
distribution and worst case, and every 5xx seen; then the time SIGTERM took to stop it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.gateway.enrol_load import Load, serve_gateway, table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--import-records", type=int, default=0,
                        help="also run one bulk import job of N LFW records in phase 2")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--source", type=Path, default=None,
                        help="run the gateway from another checkout's sources (e.g. the code "
                        "before a change, for a before/after comparison); same environment")
    parser.add_argument("--json", action="store_true", help="JSON only")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="fc-enrol-"))
    env = {"PYTHONPATH": str(args.source.resolve())} if args.source else {}
    gateway = serve_gateway(data_dir, database_url=args.database_url, env=env)
    phases: list[tuple[str, dict]] = []
    try:
        load = Load(gateway.url)
        phases.append(("1 enrolling client", load.run(
            args.seconds, enrollers=1, devices=args.devices)))
        phases.append(("2 enrolling clients", load.run(
            args.seconds, enrollers=2, devices=args.devices,
            import_records=args.import_records)))
    finally:
        stop_s = gateway.stop()
    report = {
        "database": "postgresql" if args.database_url else "sqlite",
        "source": str(args.source or Path(__file__).resolve().parents[1]),
        "phases": dict(phases),
        "sigterm_to_exit_s": round(stop_s, 2),
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "log": str(gateway.log),
    }
    print(json.dumps(report, indent=2))
    if not args.json:
        print()
        print(table(phases))
        print(f"SIGTERM to exit: {stop_s:.1f} s; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
