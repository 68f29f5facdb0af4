"""Run a scenario: seed the watchlist, drive the fleet, apply faults, collect what happened.

Talks to the gateway only over HTTP, like any device. The run:

1. checks the gateway answers ``/readyz`` (``GatewayUnreachable`` otherwise, a clear message),
2. builds the population and enrols the enrolled share (subjects, faces, fingerprints),
3. issues one device token per virtual device,
4. starts, per device, a capture thread (Poisson arrivals at the scenario's rate) and a sender
   thread (outbox with retries), a fault scheduler and an upstream sampler,
5. after ``duration_s`` stops capturing, lets devices deliver for ``grace_s``, waits for the
   central queue to drain and reads back each check's final central status.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np

from simulator import faces as face_lib
from simulator.devices import (
    PORTS,
    CheckRecord,
    DeviceProfile,
    PlannedCheck,
    VirtualDevice,
    td3_mrz,
)
from simulator.population import Person, build_population
from simulator.scenario import Scenario

log = logging.getLogger(__name__)


class GatewayUnreachable(RuntimeError):
    """The gateway did not answer at the start of a run."""


class SimulationError(RuntimeError):
    """The gateway refused something the simulator needs (a token, a subject)."""


@dataclass
class RunResult:
    scenario: Scenario
    started_at: datetime
    records: list[CheckRecord]
    upstream_samples: list[dict[str, Any]]
    fault_log: list[dict[str, Any]]
    enrolment: dict[str, Any]
    wall_s: float
    devices: list[dict[str, Any]] = field(default_factory=list)


def check_gateway(url: str, timeout: float = 5.0) -> None:
    try:
        r = httpx.get(f"{url}/readyz", timeout=timeout)
    except httpx.HTTPError as exc:
        raise GatewayUnreachable(
            f"the gateway at {url} is unreachable ({type(exc).__name__}: {exc}); "
            "start it with `fieldcheck serve` or fix --gateway"
        ) from exc
    if r.status_code != 200:
        raise GatewayUnreachable(
            f"the gateway at {url} is not ready (GET /readyz -> {r.status_code}: {r.text[:200]})"
        )


def _raise_for(r: httpx.Response, what: str) -> dict[str, Any]:
    if r.status_code >= 400:
        raise SimulationError(f"{what} refused: HTTP {r.status_code} {r.text[:300]}")
    return r.json()


def seed_watchlist(
    admin: httpx.Client, people: list[Person], run_tag: str,
    on_step: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Enrol the enrolled share; returns counts of what the gateway accepted and refused."""
    stats = {"subjects": 0, "faces": 0, "fingers": 0, "refused": []}
    enrolled = sum(1 for p in people if p.enrolled)
    for person in people:
        if not person.enrolled:
            continue
        if on_step is not None:
            on_step("enrolling the watchlist", stats["subjects"], enrolled)
        body = _raise_for(
            admin.post(
                "/v1/subjects",
                json={
                    "name": person.name,
                    "category": person.category,
                    "external_ref": f"SIM-{run_tag}-{person.index:05d}",
                },
            ),
            "POST /v1/subjects",
        )
        person.subject_id = body["id"]
        stats["subjects"] += 1
        if person.face_enrol is not None:
            r = admin.post(
                f"/v1/subjects/{person.subject_id}/faces",
                files={"image": (person.face_enrol.name, person.face_enrol.read_bytes())},
            )
            if r.status_code == 201:
                person.enrolled_modalities.add("face")
                stats["faces"] += 1
            else:
                stats["refused"].append({"person": person.name, "face": r.status_code})
        for finger in person.fingers:
            r = admin.post(
                f"/v1/subjects/{person.subject_id}/fingerprints",
                files={"image": ("finger.png", finger.enrol_png, "image/png")},
                data={"position": str(finger.position), "ppi": "500"},
            )
            if r.status_code == 201:
                person.enrolled_modalities.add("finger")
                stats["fingers"] += 1
            else:
                stats["refused"].append(
                    {"person": person.name, "finger": finger.position, "status": r.status_code}
                )
    if on_step is not None:
        on_step("enrolling the watchlist", stats["subjects"], enrolled)
    return stats


class Fleet:
    """One run of a scenario (not reusable)."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        workers: int = 2,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        on_prepare: Callable[[str, int, int], None] | None = None,
    ) -> None:
        if not scenario.admin_token:
            raise SimulationError("an admin token is needed (gateway.admin_token[_env] or --token)")
        self.s = scenario
        self.workers = workers
        self.on_progress = on_progress
        self.on_prepare = on_prepare  # (phase, done, total) while building and enrolling
        self.rng = np.random.default_rng([scenario.seed, 7])
        self.t0 = 0.0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.seq = 0
        self.upstream_samples: list[dict[str, Any]] = []
        self.fault_log: list[dict[str, Any]] = []
        self.admin = httpx.Client(
            base_url=scenario.gateway_url,
            timeout=60,
            headers={"Authorization": f"Bearer {scenario.admin_token}"},
        )

    def clock(self) -> float:
        return time.monotonic() - self.t0

    # -- set-up ------------------------------------------------------------------------

    def _devices(self, run_tag: str) -> list[VirtualDevice]:
        out = []
        ports = list(PORTS)
        n = 0
        for kind, count in self.s.devices.items():
            for k in range(count):
                serial = f"SIM-{kind.upper().replace('-', '')}-{run_tag}-{k + 1:03d}"
                token = _raise_for(
                    self.admin.post("/v1/tokens", json={"role": "device", "name": serial}),
                    "POST /v1/tokens",
                )["token"]
                profile = DeviceProfile(
                    adapter=kind,
                    serial=serial,
                    port=ports[n % len(ports)],
                    clock_offset_s=float(self.rng.normal(0, 20)),
                    clock_drift_ppm=float(self.rng.normal(0, 30)),
                    operator_id=f"OFF-{n + 1:04d}",
                )
                index = n
                out.append(
                    VirtualDevice(
                        profile,
                        token,
                        self.s.gateway_url,
                        self.s.device,
                        self.clock,
                        lambda t, i=index: self._link_down(i, t),
                    )
                )
                n += 1
        return out

    def _link_down(self, device_index: int, t: float) -> bool:
        for f in self.s.faults:
            if f.kind == "gateway_unreachable" and f.start_s <= t < f.end_s:
                # A stable pseudo-random subset of devices loses coverage.
                share = (zlib.crc32(f"{device_index}".encode()) % 1000) / 1000
                if share < f.device_share:
                    return True
        return False

    # -- planning ----------------------------------------------------------------------

    def _plan(
        self, device: VirtualDevice, people: list[Person], rng: np.random.Generator
    ) -> PlannedCheck:
        person = people[int(rng.integers(0, len(people)))]
        if self.s.enrolled_share > 0 and any(p.enrolled for p in people):
            # Choose enrolled vs stranger by the scenario's share, not by the population size.
            pool = [p for p in people if p.enrolled == (rng.random() < self.s.enrolled_share)]
            person = pool[int(rng.integers(0, len(pool)))] if pool else person
        mods = list(self.s.modalities)
        modality = mods[int(rng.choice(len(mods), p=[self.s.modalities[m] for m in mods]))]
        if not person.has_face:
            modality = "finger"
        quals = list(self.s.quality)
        quality = quals[int(rng.choice(len(quals), p=[self.s.quality[q] for q in quals]))]
        fingers = []
        if modality in ("finger", "both"):
            for f in person.fingers:
                pool_q = f.probes[quality]
                fingers.append((f.position, pool_q[int(rng.integers(0, len(pool_q)))]))
        face = None
        if modality in ("face", "both") and person.face_probes:
            photo = person.face_probes[int(rng.integers(0, len(person.face_probes)))]
            face = face_lib.vary_face(
                photo.read_bytes(), face_lib.random_face_variation(rng, quality)
            )  # type: ignore[arg-type]
        used = {"finger"} if fingers else set()
        used |= {"face"} if face else set()
        expected = person.subject_id if person.enrolled_modalities & used else None
        mrz = None
        if rng.random() < self.s.document_share:
            surname, _, given = person.name.partition(" ")
            mrz = td3_mrz(
                given or "X",
                surname,
                f"S{int(rng.integers(10**7, 10**8))}",
                "MUS",
                "800101",
                "M",
                "300101",
            )
        with self.lock:
            self.seq += 1
            seq = self.seq
        return PlannedCheck(
            seq=seq,
            device=device.profile.serial,
            person_index=person.index,
            expected_subject=expected,
            modality=modality,
            quality=quality,
            fingers=fingers,
            face=face,
            mrz=mrz,
            captured_t=self.clock(),
        )

    def _capture_loop(
        self, device: VirtualDevice, index: int, people: list[Person], budget: list[int]
    ) -> None:
        rng = np.random.default_rng([self.s.seed, 1000 + index])
        rate = self.s.checks_per_device_per_min / 60.0
        next_t = self.clock() + float(rng.exponential(1 / rate))
        while not self.stop.is_set():
            wait = next_t - self.clock()
            if wait > 0 and self.stop.wait(min(wait, 0.5)):
                break
            if self.clock() < next_t:
                continue
            if self.clock() >= self.s.duration_s:
                break
            with self.lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            device.enqueue(CheckRecord(plan=self._plan(device, people, rng)))
            next_t += float(rng.exponential(1 / rate))
        device.close()

    # -- faults and sampling ----------------------------------------------------------------

    def _set_faults(self, body: dict[str, Any], note: str) -> None:
        url = self.s.central_admin_url
        entry = {"t": round(self.clock(), 2), "note": note, "faults": body, "ok": False}
        try:
            r = httpx.post(f"{url}/admin/faults", json=body, timeout=5)
            entry["ok"] = r.status_code == 200
            if not entry["ok"]:
                entry["error"] = f"HTTP {r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
        self.fault_log.append(entry)

    def _fault_loop(self) -> None:
        clear = {"outage": False, "latency_ms": 0, "error_rate": 0.0}
        events: list[tuple[float, dict[str, Any], str]] = []
        for f in self.s.faults:
            if f.kind == "gateway_unreachable":
                events += [
                    (f.start_s, {}, f"gateway unreachable for {f.device_share:.0%} of devices"),
                    (f.end_s, {}, "gateway reachable again"),
                ]
                continue
            on = {
                "central_outage": {"outage": True},
                "central_slow": {"latency_ms": f.latency_ms},
                "central_errors": {"error_rate": f.error_rate},
            }[f.kind]
            events += [(f.start_s, on, f"{f.kind} start"), (f.end_s, clear, f"{f.kind} end")]
        events.sort(key=lambda e: e[0])
        for at, body, note in events:
            if self.stop.wait(max(0.0, at - self.clock())):
                break
            if body:
                self._set_faults(body, note)
            else:
                self.fault_log.append({"t": round(self.clock(), 2), "note": note, "ok": True})
        if any(f.kind != "gateway_unreachable" for f in self.s.faults):
            # Never leave the stub broken for whoever uses it next.
            self._set_faults(clear, "cleared at the end of the run")

    def _sample_upstream(self) -> dict[str, Any] | None:
        try:
            r = self.admin.get("/v1/upstream/status", timeout=5)
        except httpx.HTTPError:
            return None
        if r.status_code != 200:
            return None
        body = r.json()
        sample = {
            "t": round(self.clock(), 2),
            "queue_depth": body.get("queue_depth"),
            "in_flight": body.get("in_flight"),
            "link": body.get("link"),
            "circuit": body.get("circuit"),
            "dead_letters": body.get("dead_letters"),
            "delivered_total": body.get("delivered_total"),
        }
        self.upstream_samples.append(sample)
        return sample

    def _sampler_loop(self, devices: list[VirtualDevice]) -> None:
        while not self.sampler_stop.wait(1.0):
            sample = self._sample_upstream()
            if self.on_progress:
                recs = [r for d in devices for r in d.records]
                self.on_progress(
                    {
                        "t": self.clock(),
                        "sent": len(recs),
                        "acknowledged": sum(r.status == "acknowledged" for r in recs),
                        "errors": sum(r.status == "error" for r in recs),
                        "outbox": sum(len(d.outbox) for d in devices),
                        "queue_depth": (sample or {}).get("queue_depth"),
                        "duration_s": self.s.duration_s,
                    }
                )

    # -- the run -------------------------------------------------------------------------

    def run(self) -> RunResult:
        check_gateway(self.s.gateway_url)
        started = datetime.now(UTC)
        run_tag = started.strftime("%H%M%S")
        people = build_population(
            identities=self.s.identities,
            enrolled_share=self.s.enrolled_share,
            fingers_per_subject=self.s.fingers_per_subject,
            faces_dir=self.s.faces_dir,
            seed=self.s.seed,
            workers=self.workers,
            on_step=self.on_prepare,
        )
        enrolment = seed_watchlist(self.admin, people, run_tag, on_step=self.on_prepare)
        devices = self._devices(run_tag)
        budget = [self.s.max_checks if self.s.max_checks is not None else 10**12]
        self.t0 = time.monotonic()
        wall0 = time.perf_counter()
        self.sampler_stop = threading.Event()
        deadline = self.s.duration_s + self.s.device.grace_s
        threads = [
            threading.Thread(target=self._fault_loop, daemon=True),
            threading.Thread(target=self._sampler_loop, args=(devices,), daemon=True),
        ]
        for i, d in enumerate(devices):
            threads.append(
                threading.Thread(
                    target=self._capture_loop, args=(d, i, people, budget), daemon=True
                )
            )
            threads.append(
                threading.Thread(target=d.run_sender, args=(started, deadline), daemon=True)
            )
        for t in threads:
            t.start()
        senders = threads[3::2]
        captures = threads[2::2]
        for t in captures:
            t.join()
        for t in senders:
            t.join()
        self.stop.set()
        threads[0].join(timeout=10)
        self._drain_upstream()
        self.sampler_stop.set()
        threads[1].join(timeout=10)
        records = [r for d in devices for r in d.records]
        self._final_upstream(records, devices)
        self.admin.close()
        return RunResult(
            scenario=self.s,
            started_at=started,
            records=records,
            upstream_samples=self.upstream_samples,
            fault_log=self.fault_log,
            enrolment=enrolment,
            wall_s=time.perf_counter() - wall0,
            devices=[
                {
                    "serial": d.profile.serial,
                    "adapter": d.profile.adapter,
                    "port": d.profile.port,
                    "clock_offset_s": round(d.profile.clock_offset_s, 1),
                    "checks": len(d.records),
                }
                for d in devices
            ],
        )

    def _drain_upstream(self) -> None:
        """Wait (at most upstream_drain_s) for the gateway's central queue to empty."""
        end = time.monotonic() + self.s.upstream_drain_s
        while time.monotonic() < end:
            sample = self._sample_upstream()
            if sample is None or not sample.get("queue_depth"):
                return
            time.sleep(1.0)

    def _final_upstream(self, records: list[CheckRecord], devices: list[VirtualDevice]) -> None:
        tokens = {d.profile.serial: d.token for d in devices}
        with httpx.Client(base_url=self.s.gateway_url, timeout=30) as client:
            for r in records:
                if r.check_id is None:
                    continue
                try:
                    resp = client.get(
                        f"/v1/checks/{r.check_id}",
                        headers={"Authorization": f"Bearer {tokens[r.plan.device]}"},
                    )
                except httpx.HTTPError:
                    continue
                if resp.status_code == 200:
                    r.upstream_status = (resp.json().get("upstream") or {}).get("status")
