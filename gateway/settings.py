"""Deployment settings: one nested pydantic-settings object, environment prefix ``FIELDCHECK_``.

``Settings`` holds the central link's settings in ``settings.upstream`` (``UpstreamSettings``,
environment prefix ``FIELDCHECK_UPSTREAM_``; ``FIELDCHECK_UPSTREAM_URL`` and ``_TOKEN`` stay main
settings). Building ``Settings()`` therefore validates both at once: ``fieldcheck serve`` refuses a
malformed or unsafe value in its preflight (``gateway.cliconfig.load_settings``), before anything
starts, and a test or embedding program injects its own with
``create_app(Settings(upstream=UpstreamSettings(...)))``. Rules that need both halves (a
forwarding policy naming purposes the gateway accepts) are checked here too.

Algorithm constants are not here: they live in ``matchers.params``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.upstream.settings import UpstreamSettings, policy_purposes


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIELDCHECK_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("./fieldcheck-data"), description="SQLite file, keys, indexes")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/fieldcheck.db"
    )
    admin_token: str | None = Field(
        None, description="bootstrap admin token; generated and printed once when unset"
    )
    max_upload_mb: float = Field(20.0, gt=0, description="largest request body accepted")
    extract_budget_s: float = Field(
        60.0, gt=0, description="most seconds one check's feature extraction may take (422); "
        "an ordinary capture takes under 2 s, but a loaded 2-core device can take 20"
    )
    country: str = Field("MU", description="ISO 3166 alpha-2 country of this gateway")
    snapshot_signing_key: str | None = Field(
        None, description="Ed25519 private key (fcsk1_...) of a source gateway: signs its "
        "snapshots and changes feed; `fieldcheck keygen snapshot` makes one",
    )
    snapshot_trusted_keys: str | None = Field(
        None, description="comma-separated Ed25519 public keys (fcpk1_...) of the sources whose "
        "snapshots and feed pages this gateway accepts",
    )
    snapshot_key: str | None = Field(
        None, description="legacy shared HMAC key: refused at start (see snapshot_signing_key)"
    )
    upstream_url: str | None = Field(None, description="central API; unset: bundled stub")
    upstream_token: str | None = None
    upstream: UpstreamSettings = Field(
        default_factory=UpstreamSettings,
        description="the central link (FIELDCHECK_UPSTREAM_*, or the [upstream] table of the "
        "config file)",
    )
    stub_data_dir: Path | None = None
    mosip_trusted_certs: Path | None = Field(
        None, description="PEM file of trusted MOSIP device certificates; when set, MOSIP SBI "
        "captures must be signed by one of them",
    )
    checks_in_flight: int | None = Field(
        None, ge=1, le=256, description="checks extracted and searched at once (admission "
        "control); default half the extraction workers, at least 1 (one check's face and prints "
        "already keep two workers busy): 1 on 2 cores, measured in docs/DEPLOYMENT.md",
    )
    extract_processes: int | None = Field(
        None, ge=0, le=64,
        description="worker processes extracting a check's captures (face, prints); default one "
        "per core; 0 extracts on threads of the gateway process (tests, very small machines)",
    )
    checks_waiting: int = Field(
        4, ge=0, le=10_000, description="checks that may wait for a slot; beyond: 503 + Retry-After"
    )
    checks_answer_target_s: float = Field(
        3.0, ge=0, le=600,
        description="answer time admission aims to keep for admitted checks: a check waits at "
        "most this minus the recent mean service time, and is refused at once (503 + "
        "Retry-After) when the checks ahead of it predict a longer wait; 0: CHECKS_MAX_WAIT_S "
        "alone",
    )
    checks_max_wait_s: float = Field(
        2.0, ge=0, le=60, description="longest a check waits for a slot before 503 + Retry-After"
    )
    urgent_devices: list[str] = Field(
        default_factory=list, description="token names of devices whose checks go first "
        "(JSON list, e.g. [\"SEEK-0042\"]); checks carrying a travel document always do",
    )
    # -- privacy (docs/PRIVACY.md) ------------------------------------------------------------
    check_purposes: str = Field(
        "border entry,border exit,port entry,port exit,patrol,traffic stop,customs inspection,"
        "investigation,training",
        description="comma-separated purposes a check may give (422 otherwise); matched "
        "case-insensitively, '_' and '-' count as spaces",
    )
    image_keys: str | None = Field(
        None, description="image encryption keys 'id:base64-of-32-bytes', comma-separated, the "
        "first encrypts; unset: the key file in the data dir (generated on first start)",
    )
    image_key_file: Path | None = Field(
        None, description="key file; default <data_dir>/image-keys.json (0600)"
    )
    retention_confirmed_days: float = Field(
        30, ge=0, description="probe evidence kept after a review confirmed the hit"
    )
    retention_rejected_days: float = Field(
        7, ge=0, description="probe evidence kept after a review rejected the hit"
    )
    retention_unreviewed_days: float = Field(
        90, ge=0, description="probe evidence of a hit never reviewed is deleted after this"
    )
    retention_undelivered_days: float = Field(
        14, ge=0, description="biometrics of a query central never took (dead letter) kept"
    )
    purge_hour_utc: int = Field(2, ge=0, le=23, description="hour of the nightly purge (UTC)")
    answer_thumbnails: bool = Field(
        True, description="a hit/possible answer carries the candidate's reference thumbnail"
    )
    answer_thumbnail_excluded_categories: str = Field(
        "", description="comma-separated categories whose answers carry no thumbnail"
    )
    reference_face_max_px: int = Field(
        1024, ge=200, description="longest side of a stored reference face photo"
    )
    thumbnail_px: int = Field(160, ge=48, le=480, description="longest side of a thumbnail")
    log_format: Literal["text", "json"] = Field(
        "text", description="log lines as text or as one JSON object per line"
    )
    metrics_token: str | None = Field(
        None, description="bearer token a Prometheus scraper sends to GET /metrics (NCB admin "
        "and auditor tokens work too)",
    )
    metrics_public: bool = Field(
        False, description="serve GET /metrics without any token (only behind a trusted network)"
    )
    default_language: str = Field(
        "en", description="officer and console language when a device or user sets none: "
        "en, fr or pt",
    )
    console_session_hours: float = Field(8.0, gt=0, description="a console sign-in lasts this long")
    console_lockout_attempts: int = Field(
        5, ge=1, description="consecutive failed console sign-ins that lock the account"
    )
    console_lockout_minutes: float = Field(15.0, gt=0, description="how long a lock-out lasts")
    console_secure_cookies: bool | None = Field(
        None, description="mark console cookies Secure; unset: when the request came over HTTPS "
        "(directly or X-Forwarded-Proto from a proxy)",
    )
    database_write_wait_s: float = Field(
        15.0, gt=0, description="SQLite: how long a write queues for its turn before the "
        "request answers 503 with Retry-After (writes hold the turn for milliseconds)",
    )
    sqlite_busy_timeout_s: float = Field(
        5.0, gt=0, description="SQLite: how long a write waits for another process's lock",
    )
    shutdown_grace_s: float = Field(
        3.0, gt=0, description="on SIGTERM: how long requests in flight may finish before "
        "they are cancelled (long polls, event streams)",
    )
    shared_data_dir: Path = Field(
        Path(__file__).resolve().parent.parent.parent / "shared" / "data",
        description="real test data (tests and evaluation only)",
    )
    conformance_dir: Path = Field(
        Path(__file__).resolve().parent.parent.parent / "shared" / "conformance",
        description="payloads written by other implementations (conformance tests only)",
    )

    @field_validator("country")
    @classmethod
    def _country_code(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha():
            raise ValueError("country must be an ISO 3166 alpha-2 code such as MU or KE")
        return value.upper()

    @field_validator("check_purposes")
    @classmethod
    def _purposes(cls, value: str) -> str:
        if not [p for p in value.split(",") if p.strip()]:
            raise ValueError("check_purposes needs at least one purpose")
        return value

    @field_validator("answer_thumbnail_excluded_categories")
    @classmethod
    def _excluded(cls, value: str) -> str:
        from gateway.watchlist.categories import Category

        unknown = [c.strip() for c in value.split(",") if c.strip() and c.strip() not in set(
            Category)]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; use {', '.join(Category)}")
        return value

    @field_validator("upstream_url")
    @classmethod
    def _upstream_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        shown = without_credentials(value)  # an error message is printed and logged
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises on a malformed port)
        except ValueError as exc:
            raise ValueError(f"upstream_url {shown!r} is not a URL: "
                             f"{without_credentials(str(exc))}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream_url {shown!r} must be an http:// or https:// URL with a "
                             "host, e.g. https://central.example.org")
        if parts.username or parts.password:
            raise ValueError("upstream_url must not carry a user or password (it is logged): "
                             "put the bearer token in FIELDCHECK_UPSTREAM_TOKEN")
        return value

    @model_validator(mode="after")
    def _policy_purposes(self) -> Settings:
        """A ``purpose:`` policy may only name purposes a check can give, spelt as configured:
        the forwarder compares the stored purpose exactly, so any other name would silently
        forward nothing for it."""
        # Imported here: gateway.privacy.purpose imports FastAPI (through gateway.errors).
        from gateway.privacy.purpose import normalise_purpose

        configured = self.purposes
        for name in policy_purposes(self.upstream.policy):
            if name in configured:
                continue
            same = [p for p in configured
                    if normalise_purpose(p) == normalise_purpose(name)]
            hint = (f"write it as configured: {same[0]!r}" if same
                    else "known purposes (FIELDCHECK_CHECK_PURPOSES): " + ", ".join(configured))
            raise ValueError(
                f"FIELDCHECK_UPSTREAM_POLICY names the purpose {name!r}, which no check can "
                f"have, so those checks would never be forwarded; {hint}")
        return self

    @property
    def purposes(self) -> list[str]:
        return [p.strip() for p in self.check_purposes.split(",") if p.strip()]

    @property
    def thumbnail_excluded(self) -> set[str]:
        return {c.strip() for c in self.answer_thumbnail_excluded_categories.split(",")
                if c.strip()}

    @field_validator("default_language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in ("en", "fr", "pt"):
            raise ValueError("default_language must be en, fr or pt")
        return value

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fieldcheck.db').resolve()}"


def without_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` removed, for messages. Done on the text, not by
    ``urlsplit``, so a URL too malformed to parse (the one being refused) is stripped too;
    everything up to the last ``@`` after ``//`` goes (a password may itself hold ``@``)."""
    head, sep, rest = url.partition("//")
    if not sep or "@" not in rest:
        return url
    return f"{head}{sep}***@{rest.rpartition('@')[2]}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
