"""Virtual handhelds: one per adapter kind, each with its own token, serial, GPS track and clock.

A device turns a planned check into the bytes its real counterpart would send (multipart form,
ANSI/NIST-ITL transaction, MOSIP SBI capture response, SEEK Avenger-style JSON) and delivers it
like a handheld on a weak network: a capture is kept in the device's outbox until the gateway
acknowledges it; connection failures, timeouts, 429 and 5xx answers are retried with exponential
backoff and jitter; a 4xx answer is final (the capture itself is wrong). Each delivery records
its attempts, so the report can tell a late check (acknowledged after retries) from a lost one
(never acknowledged).
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from device_adapters.capture import Capture, DeviceInfo, FaceImage, FingerImage
from device_adapters.mosip_sbi import EMPTY_HASH, chain_hash
from device_adapters.mrz import parse_mrz
from gateway.checks.admission import refused_at_capacity
from simulator.scenario import DeviceBehaviour

# Ports of the deployment countries (lat, lon): each device patrols around one of them.
PORTS = {
    "Port Louis": (-20.16, 57.50),
    "Mombasa": (-4.05, 39.67),
    "Dar es Salaam": (-6.82, 39.29),
    "Maputo": (-25.97, 32.57),
    "Luanda": (-8.80, 13.23),
    "Walvis Bay": (-22.95, 14.50),
    "Victoria": (-4.62, 55.45),
    "Toamasina": (-18.15, 49.40),
    "Moroni": (-11.70, 43.25),
}
MODELS = {
    "multipart": ("FieldCheck Web", "1.0"),
    "ansi-nist": ("Crossmatch-like MX", "2.3.0"),
    "mosip-sbi": ("MOSIP SBI L1", "0.9.5"),
    "seek-avenger": ("SEEK Avenger", "4.2.1"),
}
SBI_SUBTYPES = {2: "Right IndexFinger", 7: "Left IndexFinger"}
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
AT_CAPACITY_REASON = "at capacity"  # attempt_log: admission's refusal, not a fault


@dataclass
class PlannedCheck:
    """One capture on a device, with the truth the report will compare the answer to."""

    seq: int
    device: str
    person_index: int
    expected_subject: str | None  # None: a stranger (or nothing of them is enrolled)
    modality: str
    quality: str
    fingers: list[tuple[int, bytes]]  # (position, PNG)
    face: bytes | None
    mrz: list[str] | None
    captured_t: float  # seconds since the start of the run (simulator clock)


@dataclass
class CheckRecord:
    """What happened to one planned check."""

    plan: PlannedCheck
    attempts: int = 0
    status: str = "pending"  # acknowledged | error | lost
    http_status: int | None = None
    error: str | None = None
    acked_t: float | None = None
    latency_ms: float | None = None  # of the attempt that was acknowledged
    check_id: str | None = None
    decision: str | None = None
    top_subject: str | None = None
    upstream_status: str | None = None
    retry_after_s: float | None = None  # the gateway's Retry-After on the last refusal
    refusals: int = 0  # answers "at capacity" (admission's 503 + Retry-After), sent again
    attempt_log: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeviceProfile:
    adapter: str
    serial: str
    port: str
    clock_offset_s: float
    clock_drift_ppm: float
    operator_id: str


def mrz_check_digit(text: str) -> str:
    weights = (7, 3, 1)
    total = 0
    for i, ch in enumerate(text):
        value = int(ch) if ch.isdigit() else (ord(ch) - 55 if ch.isalpha() else 0)
        total += value * weights[i % 3]
    return str(total % 10)


def td3_mrz(
    surname: str, given: str, number: str, nationality: str, birth: str, sex: str, expiry: str
) -> list[str]:
    """Two 44-character ICAO 9303 TD3 lines with valid check digits (dates YYMMDD)."""

    def clean(s: str) -> str:
        return "".join(c if c.isalnum() else "<" for c in s.upper())

    line1 = f"P<{nationality}{clean(surname)}<<{clean(given)}".ljust(44, "<")[:44]
    num = clean(number).ljust(9, "<")[:9]
    personal = "<" * 14
    body = (
        num
        + mrz_check_digit(num)
        + nationality
        + birth
        + mrz_check_digit(birth)
        + sex
        + expiry
        + mrz_check_digit(expiry)
        + personal
        + mrz_check_digit(personal)
    )
    composite = body[0:10] + body[13:20] + body[21:43]
    return [line1, body + mrz_check_digit(composite)]


class VirtualDevice:
    """One handheld: encodes checks in its adapter's format and delivers them with retries.

    ``link_down(t)`` says whether the device has no coverage at run time ``t``; then nothing is
    sent and the capture waits in the outbox. Thread-safety: ``enqueue`` may be called from
    another thread than ``run_sender``.
    """

    def __init__(
        self,
        profile: DeviceProfile,
        token: str,
        gateway_url: str,
        behaviour: DeviceBehaviour,
        clock: Any,
        link_down: Any,
    ) -> None:
        self.profile = profile
        self.token = token
        self.behaviour = behaviour
        self.clock = clock  # () -> seconds since run start
        self.link_down = link_down  # (t) -> bool
        self.outbox: deque[CheckRecord] = deque()
        self.records: list[CheckRecord] = []
        self.cv = threading.Condition()
        self.closed = False
        self.client = httpx.Client(
            base_url=gateway_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(behaviour.timeout_s, connect=min(5.0, behaviour.timeout_s)),
        )

    # -- position and clock ------------------------------------------------------------

    def position(self, t: float) -> tuple[float, float]:
        """A slow patrol loop of about 1 km around the device's port."""
        lat0, lon0 = PORTS[self.profile.port]
        phase = (zlib.crc32(self.profile.serial.encode()) % 360) * math.pi / 180
        a = 2 * math.pi * t / 900.0 + phase
        return lat0 + 0.005 * math.sin(a), lon0 + 0.005 * math.sin(2 * a) / 2

    def device_time(self, t: float, start_wall: datetime) -> datetime:
        """The device's own clock: offset and drift, as cheap handhelds have."""
        skew = self.profile.clock_offset_s + t * self.profile.clock_drift_ppm * 1e-6
        return start_wall + timedelta(seconds=t + skew)

    # -- encoding -----------------------------------------------------------------------

    def capture_of(self, plan: PlannedCheck, start_wall: datetime) -> Capture:
        lat, lon = self.position(plan.captured_t)
        model, firmware = MODELS[self.profile.adapter]
        return Capture(
            fingers=[
                FingerImage(position=pos, image=png, ppi=500, source_format="png")
                for pos, png in plan.fingers
            ],
            faces=[FaceImage(image=plan.face, source_format="jpeg")] if plan.face else [],
            document=parse_mrz(plan.mrz) if plan.mrz else None,
            device=DeviceInfo(
                serial=self.profile.serial,
                model=model,
                firmware=firmware,
                operator_id=self.profile.operator_id,
                latitude=lat,
                longitude=lon,
                captured_at=self.device_time(plan.captured_t, start_wall),
            ),
            # Simulated traffic is checked under the purpose meant for it, so a real deployment
            # can tell (and not forward) it.
            purpose="training",
        )

    def request_of(self, plan: PlannedCheck, start_wall: datetime) -> dict[str, Any]:
        """httpx request arguments for this device's format."""
        kind = self.profile.adapter
        capture = self.capture_of(plan, start_wall)
        if kind == "multipart":
            files = [
                (f"finger_{pos}", (f"finger_{pos}.png", png, "image/png"))
                for pos, png in plan.fingers
            ]
            if plan.face:
                files.append(("face", ("face.jpg", plan.face, "image/jpeg")))
            data = {
                "ppi": "500",
                "device_id": self.profile.serial,
                "purpose": capture.purpose or "",
                "operator_id": self.profile.operator_id,
            }
            if plan.mrz:
                data["mrz"] = "\n".join(plan.mrz)
            return {"url": "/v1/checks", "files": files, "data": data}
        if kind == "ansi-nist":
            from device_adapters.ansi_nist import write_transaction

            body = write_transaction(
                capture, tcn=f"{self.profile.serial}-{plan.seq}", finger_compression="wsq"
            )
            return {
                "url": "/v1/adapters/ansi-nist/checks",
                "content": body,
                "headers": {"Content-Type": "application/x-ansi-nist"},
            }
        if kind == "mosip-sbi":
            body = json.dumps(self._sbi(capture, plan)).encode()
            return {
                # SBI's own "purpose" says Registration/Auth (a capture mode), not why the
                # person is checked: the check's purpose goes in the URL.
                "url": f"/v1/adapters/mosip-sbi/checks?purpose={quote(capture.purpose or '')}",
                "content": body,
                "headers": {"Content-Type": "application/json"},
            }
        body = json.dumps(self._seek(capture)).encode()
        return {
            "url": "/v1/adapters/seek-avenger/checks",
            "content": body,
            "headers": {"Content-Type": "application/json"},
        }

    def _sbi(self, capture: Capture, plan: PlannedCheck) -> dict[str, Any]:
        # RCAPTURE-style response: unsigned JWS (alg none: this simulator has no device key)
        # and the capture hash chain that the adapter always verifies.
        def b64url(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        digital_id = b64url(
            json.dumps(
                {
                    "serialNo": self.profile.serial,
                    "make": "Simulated",
                    "model": "SBI",
                    "type": "Finger",
                }
            ).encode()
        )
        stamp = capture.device.captured_at or datetime.now(UTC)
        items = [("Finger", SBI_SUBTYPES.get(pos, "UNKNOWN"), png) for pos, png in plan.fingers]
        if plan.face:
            items.append(("Face", "", plan.face))
        previous = EMPTY_HASH
        biometrics = []
        for bio_type, sub_type, value in items:
            payload = {
                "digitalId": digital_id,
                "deviceCode": self.profile.serial,
                "deviceServiceVersion": "0.9.5",
                "bioType": bio_type,
                "bioSubType": sub_type,
                "purpose": "Registration",
                "env": "Staging",
                "bioValue": b64url(value),
                "transactionId": f"{self.profile.serial}-{plan.seq}",
                "timestamp": stamp.astimezone(UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "requestedScore": "40",
                "qualityScore": "70",
            }
            # MOSIP's rule (raw digest bytes), the one the adapter verifies.
            previous = chain_hash(previous, value)
            header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            data = f"{header}.{b64url(json.dumps(payload).encode())}."
            biometrics.append(
                {
                    "specVersion": "0.9.5",
                    "data": data,
                    "hash": previous,
                    "sessionKey": "",
                    "thumbprint": "",
                    "error": {"errorCode": "0", "errorInfo": "Success"},
                }
            )
        doc: dict[str, Any] = {"biometrics": biometrics}
        if plan.mrz:
            doc["mrz"] = plan.mrz
        return doc

    def _seek(self, capture: Capture) -> dict[str, Any]:
        dev = capture.device
        doc: dict[str, Any] = {
            "schema": "seek-avenger/1",
            "device": {
                "serial": dev.serial,
                "model": dev.model,
                "firmware": dev.firmware,
                "operatorId": dev.operator_id,
            },
            "location": {"lat": dev.latitude, "lon": dev.longitude},
            "capturedAt": (dev.captured_at or datetime.now(UTC))
            .astimezone(UTC)
            .isoformat()
            .replace("+00:00", "Z"),
            "purpose": capture.purpose,
            "fingers": [
                {
                    "position": f.position,
                    "format": "png",
                    "ppi": 500,
                    "image": base64.b64encode(f.image or b"").decode(),
                }
                for f in capture.fingers
            ],
        }
        if capture.faces:
            doc["face"] = {
                "format": "jpeg",
                "image": base64.b64encode(capture.faces[0].image).decode(),
            }
        if capture.document:
            doc["mrz"] = capture.document.mrz_lines
        return doc

    # -- delivery -----------------------------------------------------------------------

    def enqueue(self, record: CheckRecord) -> None:
        with self.cv:
            self.records.append(record)
            self.outbox.append(record)
            self.cv.notify()

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify()

    def run_sender(self, start_wall: datetime, deadline_t: float) -> None:
        """Deliver the outbox in order until closed and empty, or until ``deadline_t``."""
        try:
            while True:
                with self.cv:
                    while not self.outbox and not self.closed:
                        self.cv.wait(timeout=0.5)
                    if not self.outbox:
                        return
                    record = self.outbox[0]
                self._deliver(record, start_wall, deadline_t)
                with self.cv:
                    self.outbox.popleft()
                if self.clock() >= deadline_t:
                    break
        finally:
            with self.cv:
                for record in self.outbox:
                    if record.status == "pending":
                        record.status, record.error = "lost", "deadline reached in the outbox"
            self.client.close()

    def _deliver(self, record: CheckRecord, start_wall: datetime, deadline_t: float) -> None:
        request = self.request_of(record.plan, start_wall)
        b = self.behaviour
        while True:
            if self.clock() >= deadline_t:
                record.status, record.error = "lost", "not acknowledged before the deadline"
                return
            record.attempts += 1
            t0 = self.clock()
            retry, reason = self._attempt(record, request, t0)
            if not retry:
                return
            record.attempt_log.append(f"{t0:.1f}s {reason}")
            if record.attempts >= b.max_attempts:
                record.status, record.error = "lost", f"gave up after {record.attempts} attempts"
                return
            # Exponential backoff with jitter, so a fleet does not hammer a recovering gateway.
            delay = min(b.backoff_max_s, b.backoff_s * 2 ** (record.attempts - 1))
            delay *= (
                0.5
                + zlib.crc32(f"{self.profile.serial}:{record.plan.seq}:{record.attempts}".encode())
                % 1000
                / 1000
            )
            if record.retry_after_s is not None:  # a gateway at capacity says when to come back
                delay = max(delay, record.retry_after_s)
                record.retry_after_s = None
            time.sleep(max(0.0, min(delay, deadline_t - self.clock())))

    def _attempt(self, record: CheckRecord, request: dict[str, Any], t0: float) -> tuple[bool, str]:
        if self.link_down(t0):
            time.sleep(0.05)  # the radio notices quickly that there is no coverage
            return True, "no coverage"
        start = time.perf_counter()
        try:
            response = self.client.post(**request)
        except httpx.TimeoutException:
            return True, "timeout"
        except httpx.TransportError as exc:
            return True, f"transport: {type(exc).__name__}"
        elapsed_ms = 1000 * (time.perf_counter() - start)
        record.http_status = response.status_code
        if response.status_code in RETRYABLE_STATUS:
            try:
                record.retry_after_s = float(response.headers.get("Retry-After", ""))
            except ValueError:
                record.retry_after_s = None
            if refused_at_capacity(response.status_code, response.headers, response.content):
                record.refusals += 1
                return True, f"HTTP {response.status_code} {AT_CAPACITY_REASON}"
            return True, f"HTTP {response.status_code}"
        if response.status_code >= 400:
            record.status = "error"
            try:
                body = response.json()
                record.error = str(body.get("detail") or body.get("title") or body)[:300]
            except ValueError:
                record.error = response.text[:300]
            return False, "error"
        body = response.json()
        record.status = "acknowledged"
        record.acked_t = self.clock()
        record.latency_ms = elapsed_ms
        record.check_id = body.get("check_id")
        record.decision = body.get("decision")
        candidates = body.get("candidates") or []
        record.top_subject = candidates[0].get("subject_id") if candidates else None
        record.upstream_status = (body.get("upstream") or {}).get("status")
        return False, "ok"
