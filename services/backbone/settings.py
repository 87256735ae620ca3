"""Configuration from the environment (12-factor). Every name is documented in the README."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.backbone.clock import Clock

SERVICE_PORTS = {"intake": 8101, "mediation": 8102, "legal_aid": 8103, "followup": 8104, "supervision": 8105}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LABORCASE_", extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "LABORCASE_KAFKA_BOOTSTRAP_SERVERS"),
    )
    #: The idempotent producer: on for Apache Kafka; the local broker (Tansu) cannot do it.
    kafka_idempotence: bool = True
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    #: How long a fetch may wait for data. The local broker does not answer a waiting fetch when data
    #: arrives, so a long wait is pure latency there; on Apache Kafka it only bounds idle polling.
    kafka_fetch_max_wait_ms: int = 500

    intake_dsn: str | None = None
    mediation_dsn: str | None = None
    legal_aid_dsn: str | None = None
    followup_dsn: str | None = None
    supervision_dsn: str | None = None

    host: str = "127.0.0.1"
    console_port: int = 8000
    intake_port: int = SERVICE_PORTS["intake"]
    mediation_port: int = SERVICE_PORTS["mediation"]
    legal_aid_port: int = SERVICE_PORTS["legal_aid"]
    followup_port: int = SERVICE_PORTS["followup"]
    supervision_port: int = SERVICE_PORTS["supervision"]

    db_pool_size: int = 8
    consumer_batch_size: int = 500
    relay_batch_size: int = 1000
    #: Published outbox rows are kept this long and re-published when the broker is found empty.
    outbox_retention_hours: float = 168
    #: Must exceed the outbox retention so that every re-published event is recognised as seen.
    inbox_retention_hours: float = 720
    park_max_age_hours: float = 168
    marker_check_seconds: float = 15
    deadline_warning_ratio: float = 0.8

    #: Every request needs a valid access token (off only in in-process functional tests).
    auth_required: bool = True
    max_body_bytes: int = 1_048_576

    home: Path = Path(".laborcase")
    log_level: str = "INFO"

    #: Test mode only: business time runs this many seconds ahead of (or behind) the system clock, so a
    #: run can start on any moment (a make-up Saturday, New Year's Eve). Security clocks are never shifted.
    clock_offset_seconds: float = 0.0

    @property
    def clock(self) -> Clock:
        return Clock.shifted_by(self.clock_offset_seconds)

    def dsn_for(self, service: str) -> str:
        dsn = getattr(self, f"{service}_dsn")
        if not dsn:
            raise RuntimeError(f"LABORCASE_{service.upper()}_DSN is not set")
        return dsn

    def port_for(self, service: str) -> int:
        return int(getattr(self, f"{service}_port"))

    intake_url: str | None = None
    mediation_url: str | None = None
    legal_aid_url: str | None = None
    followup_url: str | None = None
    supervision_url: str | None = None

    def url_for(self, service: str) -> str:
        """Where the console reaches a service: configured (a cluster), else this host and the service's port."""
        configured = getattr(self, f"{service}_url")
        if configured:
            return str(configured).rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port_for(service)}"
