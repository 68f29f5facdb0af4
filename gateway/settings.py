"""Deployment settings: one pydantic-settings class, environment prefix ``FIELDCHECK_``.

Algorithm constants are not here: they live in ``matchers.params``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    country: str = Field("MU", description="ISO 3166 alpha-2 country of this gateway")
    snapshot_key: str | None = Field(None, description="HMAC key shared by one network's gateways")
    upstream_url: str | None = Field(None, description="central API; unset: bundled stub")
    upstream_token: str | None = None
    stub_data_dir: Path | None = None
    mosip_trusted_certs: Path | None = Field(
        None, description="PEM file of trusted MOSIP device certificates; when set, MOSIP SBI "
        "captures must be signed by one of them",
    )
    checks_in_flight: int = Field(
        2, ge=1, le=256, description="checks extracted and searched at once (admission control); "
        "measured default for 2 cores: see docs/DEPLOYMENT.md",
    )
    checks_waiting: int = Field(
        4, ge=0, le=10_000, description="checks that may wait for a slot; beyond: 503 + Retry-After"
    )
    checks_max_wait_s: float = Field(
        2.0, ge=0, le=60, description="longest a check waits for a slot before 503 + Retry-After"
    )
    urgent_devices: list[str] = Field(
        default_factory=list, description="token names of devices whose checks go first "
        "(JSON list, e.g. [\"SEEK-0042\"]); checks carrying a travel document always do",
    )
    shared_data_dir: Path = Field(
        Path(__file__).resolve().parent.parent.parent / "shared" / "data",
        description="real test data (tests and evaluation only)",
    )

    @field_validator("country")
    @classmethod
    def _country_code(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha():
            raise ValueError("country must be an ISO 3166 alpha-2 code such as MU or KE")
        return value.upper()

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fieldcheck.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
