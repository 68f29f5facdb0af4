"""Scenario files (TOML): what the fleet does, validated strictly.

Every table has a fixed set of keys: an unknown key (a typo such as ``checks_per_devise``) is
refused with its dotted name instead of being silently ignored, and impossible values (negative
durations, shares outside 0..1, a fault window that ends before it starts) are refused with the
key that holds them. Example (``scenarios/outage_20_devices.toml`` has a complete one)::

    name = "port-louis-morning"
    duration_s = 300
    seed = 1

    [gateway]
    url = "http://127.0.0.1:8000"
    admin_token_env = "FIELDCHECK_ADMIN_TOKEN"

    [central]
    admin_url = "http://127.0.0.1:8700"       # the central stub, for /admin/faults

    [fleet]
    devices = { multipart = 5, ansi-nist = 5, mosip-sbi = 5, seek-avenger = 5 }
    checks_per_device_per_min = 4

    [population]
    identities = 40
    enrolled_share = 0.5
    faces = "../shared/data/faces/lfw"

    [captures]
    modalities = { finger = 0.4, face = 0.2, both = 0.4 }
    quality = { good = 0.9, poor = 0.1 }
    document_share = 0.2

    [[faults]]
    kind = "central_outage"
    start_s = 120
    end_s = 180
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ADAPTERS = ("multipart", "ansi-nist", "mosip-sbi", "seek-avenger")
MODALITIES = ("finger", "face", "both")
QUALITIES = ("good", "poor")
FAULT_KINDS = ("central_outage", "central_slow", "central_errors", "gateway_unreachable")


class ScenarioError(ValueError):
    """A scenario that cannot run; ``key`` is the dotted name of the offending setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True)
class FaultWindow:
    """A network fault between ``start_s`` and ``end_s`` seconds after the start of the run.

    central_outage / central_slow / central_errors are set on the central stub through
    ``/admin/faults``; gateway_unreachable cuts the link of a share of the devices (no coverage).
    """

    kind: str
    start_s: float
    end_s: float
    latency_ms: int = 0
    error_rate: float = 0.0
    device_share: float = 1.0


@dataclass(frozen=True)
class DeviceBehaviour:
    """How a handheld retries when the gateway cannot be reached (it keeps the capture)."""

    timeout_s: float = 30.0
    max_attempts: int = 12
    backoff_s: float = 0.5
    backoff_max_s: float = 15.0
    grace_s: float = 60.0  # after the last capture, how long devices keep trying to deliver


@dataclass(frozen=True)
class Scenario:
    name: str = "scenario"
    duration_s: float = 60.0
    seed: int = 0
    gateway_url: str = "http://127.0.0.1:8000"
    admin_token: str | None = None
    central_admin_url: str | None = None
    devices: dict[str, int] = field(default_factory=lambda: {"multipart": 1})
    checks_per_device_per_min: float = 6.0
    max_checks: int | None = None
    identities: int = 10
    enrolled_share: float = 0.5
    fingers_per_subject: int = 2
    faces_dir: Path | None = None
    modalities: dict[str, float] = field(default_factory=lambda: {"finger": 1.0})
    quality: dict[str, float] = field(default_factory=lambda: {"good": 1.0})
    document_share: float = 0.0
    faults: tuple[FaultWindow, ...] = ()
    device: DeviceBehaviour = field(default_factory=DeviceBehaviour)
    upstream_drain_s: float = 60.0  # after the run, wait this long for the central queue to empty

    @property
    def device_count(self) -> int:
        return sum(self.devices.values())


_SCHEMA: dict[str, Any] = {
    "name": str,
    "duration_s": float,
    "seed": int,
    "gateway": {"url": str, "admin_token": str, "admin_token_env": str},
    "central": {"admin_url": str},
    "fleet": {"devices": dict, "checks_per_device_per_min": float, "max_checks": int},
    "population": {
        "identities": int,
        "enrolled_share": float,
        "fingers_per_subject": int,
        "faces": str,
    },
    "captures": {"modalities": dict, "quality": dict, "document_share": float},
    "device": {
        "timeout_s": float,
        "max_attempts": int,
        "backoff_s": float,
        "backoff_max_s": float,
        "grace_s": float,
    },
    "report": {"upstream_drain_s": float},
    "faults": list,
}
_FAULT_KEYS = {
    "kind": str,
    "start_s": float,
    "end_s": float,
    "latency_ms": int,
    "error_rate": float,
    "device_share": float,
}


def _check_keys(table: dict[str, Any], schema: dict[str, Any], prefix: str) -> None:
    for key, value in table.items():
        name = f"{prefix}{key}"
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ScenarioError(name, f"unknown key (known here: {known})")
        kind = schema[key]
        if isinstance(kind, dict):
            if not isinstance(value, dict):
                raise ScenarioError(name, "must be a table")
            _check_keys(value, kind, f"{name}.")
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ScenarioError(name, "must be a number")
            if not math.isfinite(value):
                raise ScenarioError(name, "must be a finite number")
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ScenarioError(name, "must be an integer")
        elif not isinstance(value, kind):
            raise ScenarioError(name, f"must be a {kind.__name__}")


def _positive(key: str, value: float, *, zero_ok: bool = False) -> float:
    if value < 0 or (value == 0 and not zero_ok):
        raise ScenarioError(key, f"must be {'>= 0' if zero_ok else '> 0'}, got {value}")
    return value


def _share(key: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ScenarioError(key, f"must be between 0 and 1, got {value}")
    return float(value)


def _mix(key: str, table: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for name, value in table.items():
        if name not in allowed:
            raise ScenarioError(f"{key}.{name}", f"unknown key (known here: {', '.join(allowed)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScenarioError(f"{key}.{name}", "must be a number")
        out[name] = _share(f"{key}.{name}", float(value))
    total = sum(out.values())
    if not out or not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ScenarioError(key, f"shares must add up to 1, got {total:g}")
    return out


def _devices(table: dict[str, Any]) -> dict[str, int]:
    out = {}
    for name, count in table.items():
        key = f"fleet.devices.{name}"
        if name not in ADAPTERS:
            raise ScenarioError(key, f"unknown device kind (known: {', '.join(ADAPTERS)})")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0 or count > 1000:
            raise ScenarioError(key, f"must be an integer 0..1000, got {count!r}")
        if count:
            out[name] = count
    if not out:
        raise ScenarioError("fleet.devices", "at least one device is needed")
    return out


def _fault(index: int, raw: Any, duration: float) -> FaultWindow:
    prefix = f"faults[{index}]."
    if not isinstance(raw, dict):
        raise ScenarioError(f"faults[{index}]", "must be a table ([[faults]])")
    _check_keys(raw, _FAULT_KEYS, prefix)
    for required in ("kind", "start_s", "end_s"):
        if required not in raw:
            raise ScenarioError(prefix + required, "is required")
    if raw["kind"] not in FAULT_KINDS:
        raise ScenarioError(
            prefix + "kind", f"unknown fault {raw['kind']!r} (known: {', '.join(FAULT_KINDS)})"
        )
    start = _positive(prefix + "start_s", float(raw["start_s"]), zero_ok=True)
    end = float(raw["end_s"])
    if end <= start:
        raise ScenarioError(prefix + "end_s", f"must be after start_s ({start:g}), got {end:g}")
    if start >= duration:
        raise ScenarioError(prefix + "start_s", f"starts after the run ends ({duration:g} s)")
    latency = int(raw.get("latency_ms", 0))
    if not 0 <= latency <= 600_000:
        raise ScenarioError(prefix + "latency_ms", f"must be 0..600000, got {latency}")
    if raw["kind"] == "central_slow" and latency == 0:
        raise ScenarioError(prefix + "latency_ms", "central_slow needs latency_ms > 0")
    error_rate = _share(prefix + "error_rate", float(raw.get("error_rate", 0.0)))
    if raw["kind"] == "central_errors" and error_rate == 0:
        raise ScenarioError(prefix + "error_rate", "central_errors needs error_rate > 0")
    return FaultWindow(
        kind=raw["kind"],
        start_s=start,
        end_s=end,
        latency_ms=latency,
        error_rate=error_rate,
        device_share=_share(prefix + "device_share", float(raw.get("device_share", 1.0))),
    )


def parse_scenario(doc: dict[str, Any], *, base_dir: Path | None = None) -> Scenario:
    """Validate a decoded scenario document. Raises ScenarioError naming the offending key."""
    _check_keys(doc, _SCHEMA, "")
    gateway = doc.get("gateway", {})
    central = doc.get("central", {})
    fleet = doc.get("fleet", {})
    population = doc.get("population", {})
    captures = doc.get("captures", {})
    device = doc.get("device", {})
    duration = _positive("duration_s", float(doc.get("duration_s", 60.0)))
    if duration > 7 * 24 * 3600:
        raise ScenarioError("duration_s", "must be at most a week")

    url = gateway.get("url", "http://127.0.0.1:8000")
    if not url.startswith(("http://", "https://")):
        raise ScenarioError("gateway.url", f"must be an http(s) URL, got {url!r}")
    if "admin_token" in gateway and "admin_token_env" in gateway:
        raise ScenarioError("gateway.admin_token", "give admin_token or admin_token_env, not both")
    token = gateway.get("admin_token")
    if "admin_token_env" in gateway:
        token = os.environ.get(gateway["admin_token_env"])
        if not token:
            raise ScenarioError(
                "gateway.admin_token_env",
                f"environment variable {gateway['admin_token_env']} is not set",
            )
    central_url = central.get("admin_url")
    if central_url is not None and not central_url.startswith(("http://", "https://")):
        raise ScenarioError("central.admin_url", f"must be an http(s) URL, got {central_url!r}")

    faces = population.get("faces")
    faces_dir = None
    if faces is not None:
        faces_dir = Path(os.path.expandvars(os.path.expanduser(faces)))
        if not faces_dir.is_absolute() and base_dir is not None:
            faces_dir = base_dir / faces_dir
        if not faces_dir.is_dir():
            raise ScenarioError("population.faces", f"folder {faces_dir} does not exist")
    identities = int(population.get("identities", 10))
    if not 1 <= identities <= 100_000:
        raise ScenarioError("population.identities", f"must be 1..100000, got {identities}")
    fingers = int(population.get("fingers_per_subject", 2))
    if not 1 <= fingers <= 2:
        raise ScenarioError("population.fingers_per_subject", f"must be 1 or 2, got {fingers}")
    modalities = _mix(
        "captures.modalities", captures.get("modalities", {"finger": 1.0}), MODALITIES
    )
    if faces_dir is None and (modalities.get("face", 0) or modalities.get("both", 0)):
        raise ScenarioError(
            "captures.modalities",
            "face captures need population.faces (a folder of <identity>/photos)",
        )
    max_checks = fleet.get("max_checks")
    if max_checks is not None and max_checks < 1:
        raise ScenarioError("fleet.max_checks", f"must be >= 1, got {max_checks}")
    faults = tuple(_fault(i, f, duration) for i, f in enumerate(doc.get("faults", [])))
    if central_url is None and any(f.kind.startswith("central_") for f in faults):
        raise ScenarioError(
            "central.admin_url", "central faults need the central stub's URL to set them"
        )
    behaviour = DeviceBehaviour(
        timeout_s=_positive("device.timeout_s", float(device.get("timeout_s", 30.0))),
        max_attempts=int(_positive("device.max_attempts", int(device.get("max_attempts", 12)))),
        backoff_s=_positive("device.backoff_s", float(device.get("backoff_s", 0.5))),
        backoff_max_s=_positive("device.backoff_max_s", float(device.get("backoff_max_s", 15.0))),
        grace_s=_positive("device.grace_s", float(device.get("grace_s", 60.0)), zero_ok=True),
    )
    return Scenario(
        name=str(doc.get("name", "scenario")),
        duration_s=duration,
        seed=int(doc.get("seed", 0)),
        gateway_url=url.rstrip("/"),
        admin_token=token,
        central_admin_url=central_url.rstrip("/") if central_url else None,
        devices=_devices(fleet.get("devices", {"multipart": 1})),
        checks_per_device_per_min=_positive(
            "fleet.checks_per_device_per_min", float(fleet.get("checks_per_device_per_min", 6.0))
        ),
        max_checks=max_checks,
        identities=identities,
        enrolled_share=_share(
            "population.enrolled_share", float(population.get("enrolled_share", 0.5))
        ),
        fingers_per_subject=fingers,
        faces_dir=faces_dir,
        modalities=modalities,
        quality=_mix("captures.quality", captures.get("quality", {"good": 1.0}), QUALITIES),
        document_share=_share(
            "captures.document_share", float(captures.get("document_share", 0.0))
        ),
        faults=faults,
        device=behaviour,
        upstream_drain_s=_positive(
            "report.upstream_drain_s",
            float(doc.get("report", {}).get("upstream_drain_s", 60.0)),
            zero_ok=True,
        ),
    )


def load_scenario(path: Path) -> Scenario:
    """Read and validate a TOML scenario file (relative face folders are relative to it)."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError("(file)", f"{path} is not valid TOML: {exc}") from exc
    return parse_scenario(doc, base_dir=path.parent)
