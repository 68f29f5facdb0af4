"""Central-link deployment settings (environment prefix ``FIELDCHECK_UPSTREAM_``).

``FIELDCHECK_UPSTREAM_URL`` and ``FIELDCHECK_UPSTREAM_TOKEN`` belong to the main ``Settings``
(``upstream_url``/``upstream_token``); everything else about the link lives here, nested in the
main settings as ``Settings.upstream`` (so it is validated with them, in the CLI preflight).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.upstream.policy import ForwardingPolicy


class UpstreamSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FIELDCHECK_UPSTREAM_", env_file=".env", extra="ignore"
    )

    policy: str = Field(
        "all", description="which checks go to central: all | hits | purpose:<a,b,...>"
    )
    ttl_s: float = Field(7 * 24 * 3600.0, gt=0, description="queue item life before dead-letter")
    drain_per_s: float = Field(50.0, gt=0, description="deliveries per second, at most")
    workers: int = Field(4, ge=1, le=32, description="delivery threads")
    lease_s: float = Field(30.0, gt=0, description="a claimed item is another worker's after this")
    batch: int = Field(8, ge=1, le=100, description="items claimed per transaction")
    max_attempts: int = Field(50, ge=1, description="deliveries tried before dead-letter")
    backoff_base_s: float = Field(1.0, gt=0, description="queue retry delay: base * 2^attempt")
    backoff_max_s: float = Field(300.0, gt=0)
    connect_timeout_s: float = Field(3.0, gt=0)
    read_timeout_s: float = Field(10.0, gt=0)
    client_retries: int = Field(2, ge=0, le=10, description="in-call retries of one delivery")
    client_backoff_s: float = Field(0.2, gt=0, description="in-call retry delay base")
    breaker_failures: int = Field(5, ge=1, description="consecutive failures that open it")
    breaker_reset_s: float = Field(10.0, gt=0, description="open time before a trial request")
    breaker_max_reset_s: float = Field(
        30.0, gt=0, le=3600,
        description="longest pause between trial requests while central stays down (the pause "
        "doubles from breaker_reset_s up to this): how late delivery may resume once central is "
        "back",
    )
    feed_interval_s: float = Field(60.0, gt=0, description="change-feed poll interval")
    idle_poll_s: float = Field(1.0, gt=0, description="worker sleep when the queue is empty")
    client_cert: Path | None = Field(None, description="mutual TLS: client certificate (PEM)")
    client_key: Path | None = Field(None, description="mutual TLS: client key (PEM)")
    ca_bundle: Path | None = Field(None, description="CA bundle that signs central's certificate")
    stub_subjects: int = Field(2000, ge=0, description="population of the bundled stub")
    ansi_nist: bool = Field(
        False, description="also forward each capture as an ANSI/NIST-ITL transaction (images)"
    )

    @field_validator("policy")
    @classmethod
    def _policy(cls, value: str) -> str:
        ForwardingPolicy.parse(value)  # the one parser; the service keeps the parsed value
        return value.strip()

    @model_validator(mode="after")
    def _mtls_pair(self) -> UpstreamSettings:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("mutual TLS needs both FIELDCHECK_UPSTREAM_CLIENT_CERT and "
                             "FIELDCHECK_UPSTREAM_CLIENT_KEY (or neither)")
        return self

    @model_validator(mode="after")
    def _safe_timing(self) -> UpstreamSettings:
        # A lease shorter than one HTTP attempt hands every slow delivery to a second worker
        # while the first is still sending it: duplicate deliveries and lost acknowledgements.
        attempt_s = self.connect_timeout_s + self.read_timeout_s
        if self.lease_s <= attempt_s:
            raise ValueError(
                f"FIELDCHECK_UPSTREAM_LEASE_S={self.lease_s:g} must exceed one delivery attempt "
                f"(CONNECT_TIMEOUT_S + READ_TIMEOUT_S = {attempt_s:g} s), or a second worker "
                "re-sends items still in flight; raise the lease or lower the timeouts")
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError(
                f"FIELDCHECK_UPSTREAM_BACKOFF_MAX_S={self.backoff_max_s:g} is below "
                f"FIELDCHECK_UPSTREAM_BACKOFF_BASE_S={self.backoff_base_s:g}")
        return self


def policy_purposes(policy: str) -> list[str]:
    """The purposes a ``purpose:<a,b,...>`` policy names (empty for ``all`` and ``hits``)."""
    return list(ForwardingPolicy.parse(policy).purposes)
