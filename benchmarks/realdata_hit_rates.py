"""Hit rates of POST /v1/checks on real data, over loopback, through the whole gateway.

Faces (LFW): the first usable photo of every other identity is enrolled; every other photo of
an enrolled identity is a probe (expect hit/possible on the right subject) and every photo of the
other identities is a stranger probe (expect no_hit). Fingerprints (each FVC set in turn, a fresh
gateway each): impression 1 of every finger enrolled, impressions 2-8 probed.

    uv run python benchmarks/realdata_hit_rates.py [--json] [--faces-only]
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
import threading
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from gateway.app import create_app
from gateway.bench import _free_port, wait_ready
from gateway.settings import Settings

ADMIN = "fc_hitrate_admin_" + secrets.token_urlsafe(24)  # strong: checked at start


class Gateway:
    def __init__(self) -> None:
        self.settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="fc-hitrate-")),
                                 admin_token=ADMIN)
        self.port = _free_port()
        app = create_app(self.settings, start_upstream=False)
        self.server = uvicorn.Server(uvicorn.Config(app, port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> tuple[httpx.Client, httpx.Client]:
        self.thread.start()
        base = f"http://127.0.0.1:{self.port}"
        wait_ready(base)
        admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"},
                             timeout=60)
        token = admin.post("/v1/tokens", json={"role": "device", "name": "hr"}).json()["token"]
        device = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                              timeout=60)
        return admin, device

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def faces(data: Path) -> dict:
    people = sorted(p for p in (data / "faces" / "lfw").iterdir() if p.is_dir())
    enrolled, strangers = people[::2], people[1::2]
    out = {"enrolled_identities": 0, "genuine_probes": 0, "right_subject": 0, "wrong_subject": 0,
           "hits": 0, "possibles": 0, "missed": 0, "stranger_probes": 0, "false_hits": 0,
           "false_possibles": 0, "recaptures": 0}
    with Gateway() as (admin, device):
        ids, used = {}, {}
        for person in enrolled:
            sid = admin.post("/v1/subjects", json={"name": person.name, "category": "red"}).json()["id"]
            for photo in sorted(person.glob("*.jpg")):
                r = admin.post(f"/v1/subjects/{sid}/faces", files={"image": ("e.jpg", photo.read_bytes())})
                if r.status_code == 201:
                    ids[person.name], used[person.name] = sid, photo
                    break
        out["enrolled_identities"] = len(ids)
        for person in enrolled:
            if person.name not in ids:
                continue
            for photo in sorted(person.glob("*.jpg")):
                if photo == used[person.name]:
                    continue
                body = device.post("/v1/checks", files={"face": ("p.jpg", photo.read_bytes())}, data={"purpose": "training"}).json()
                out["genuine_probes"] += 1
                decision = body["decision"]
                out["recaptures"] += decision == "recapture"
                if decision in ("hit", "possible"):
                    right = body["candidates"][0]["subject_id"] == ids[person.name]
                    out["right_subject" if right else "wrong_subject"] += 1
                    out["hits" if decision == "hit" else "possibles"] += right
                else:
                    out["missed"] += 1
        for person in strangers:
            for photo in sorted(person.glob("*.jpg")):
                body = device.post("/v1/checks", files={"face": ("p.jpg", photo.read_bytes())}, data={"purpose": "training"}).json()
                out["stranger_probes"] += 1
                out["false_hits"] += body["decision"] == "hit"
                out["false_possibles"] += body["decision"] == "possible"
    out["genuine_found_rate"] = round(out["right_subject"] / max(1, out["genuine_probes"]), 4)
    out["stranger_alarm_rate"] = round(
        (out["false_hits"] + out["false_possibles"]) / max(1, out["stranger_probes"]), 4)
    return out


def fingerprints(data: Path, name: str) -> dict:
    root = data / "fingerprints" / name
    out = {"set": name, "enrolled": 0, "probes": 0, "right_subject": 0, "hits": 0,
           "possibles": 0, "wrong_subject": 0, "missed": 0, "recaptures": 0}
    with Gateway() as (admin, device):
        ids = {}
        for finger in range(101, 111):
            sid = admin.post("/v1/subjects", json={"name": f"{name} {finger}", "category": "blue"}).json()["id"]
            r = admin.post(f"/v1/subjects/{sid}/fingerprints", data={"position": "2"},
                           files={"image": ("e.tif", (root / f"{finger}_1.tif").read_bytes())})
            if r.status_code == 201:
                ids[finger] = sid
        out["enrolled"] = len(ids)
        for finger, sid in ids.items():
            for imp in range(2, 9):
                body = device.post("/v1/checks", files={"finger_2": ("p.tif", (root / f"{finger}_{imp}.tif").read_bytes())}, data={"purpose": "training"}).json()
                out["probes"] += 1
                d = body["decision"]
                out["recaptures"] += d == "recapture"
                if d in ("hit", "possible"):
                    right = body["candidates"][0]["subject_id"] == sid
                    out["right_subject" if right else "wrong_subject"] += 1
                    out["hits" if d == "hit" else "possibles"] += right
                elif d != "recapture":
                    out["missed"] += 1
    out["found_rate"] = round(out["right_subject"] / max(1, out["probes"]), 4)
    return out


def main() -> None:
    data = Path(os.environ.get("FIELDCHECK_SHARED_DATA_DIR")
                or Path(__file__).resolve().parents[2] / "shared" / "data")
    if not data.is_dir():
        raise SystemExit(f"real data not found at {data}")
    sets = [] if "--faces-only" in sys.argv else [
        "fvc2000_db1_b", "fvc2002_db1_b", "fvc2002_db3_b", "fvc2004_db2_b"]
    report = {"faces_lfw": faces(data), "fingerprints": [fingerprints(data, s) for s in sets]}
    f = report["faces_lfw"]
    table = Table(title="Real-data hit rates through POST /v1/checks")
    for col in ("probe set", "probes", "found (right subject)", "as hit", "as possible",
                "wrong subject", "missed", "recapture", "stranger alarms"):
        table.add_column(col, justify="right" if col != "probe set" else "left")
    table.add_row("LFW faces", str(f["genuine_probes"]), f"{f['genuine_found_rate']:.1%}",
                  str(f["hits"]), str(f["possibles"]), str(f["wrong_subject"]), str(f["missed"]),
                  str(f["recaptures"]),
                  f"{f['false_hits']}+{f['false_possibles']} of {f['stranger_probes']}")
    for fp in report["fingerprints"]:
        table.add_row(fp["set"], str(fp["probes"]), f"{fp['found_rate']:.1%}", str(fp["hits"]),
                      str(fp["possibles"]), str(fp["wrong_subject"]), str(fp["missed"]),
                      str(fp["recaptures"]), "-")
    Console().print(table)
    if "--json" in sys.argv:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
