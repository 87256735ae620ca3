"""Configuration from the environment (12-factor). Every name is documented in the README."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.backbone.clock import Clock

SERVICE_PORTS = {"intake": 8101, "mediation": 8102, "legal_aid": 8103, "followup": 8104, "supervision": 8105,
                 "notification": 8106}


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
    #: At most this many partitions per topic when topics are created (unset: the catalog's counts, for a
    #: cluster's consumer instances to share). The local stack sets it low: one instance per service reads every
    #: partition, and the local broker's CPU goes on answering each partition of each fetch (docs/domain/targets.md).
    kafka_partitions: int | None = Field(default=None, ge=1)

    #: How services authenticate to the brokers (deploy/: SASL/SCRAM; ACLs give each principal only its topics).
    kafka_security_protocol: str = Field(default="PLAINTEXT", pattern="^(PLAINTEXT|SASL_PLAINTEXT|SASL_SSL|SSL)$")
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None

    #: Copies of every topic: unset means 3 on a cluster of three or more brokers, else the broker count
    #: (1 on the local Tansu). Production sets it explicitly (deploy/).
    kafka_replication_factor: int | None = Field(default=None, ge=1)
    #: Copies that must have a write before it is acknowledged (acks=all): unset means 2 with three copies,
    #: one fewer than the copies with two, and the broker's default with one.
    kafka_min_insync_replicas: int | None = Field(default=None, ge=1)
    #: How long the event, partner and feedback topics keep records. Must exceed the outbox retention (events
    #: re-published after a broker loss must still fit) and stay below the inbox retention (a consumer that
    #: re-reads a whole topic must still recognise every event it has seen).
    topic_retention_days: float = Field(default=14, gt=0)
    #: Dead letters are kept far longer: an operator must still find them weeks later.
    dead_letter_retention_days: float = Field(default=90, gt=0)

    #: A database role that owns the tables and runs the migrations, when the service itself connects with a
    #: least-privilege role (LABORCASE_<SERVICE>_MIGRATION_DSN): the service then never owns its audit table.
    intake_migration_dsn: str | None = None
    mediation_migration_dsn: str | None = None
    legal_aid_migration_dsn: str | None = None
    followup_migration_dsn: str | None = None
    supervision_migration_dsn: str | None = None
    notification_migration_dsn: str | None = None

    intake_dsn: str | None = None
    mediation_dsn: str | None = None
    legal_aid_dsn: str | None = None
    followup_dsn: str | None = None
    supervision_dsn: str | None = None
    notification_dsn: str | None = None

    host: str = "127.0.0.1"
    console_port: int = 8000
    intake_port: int = SERVICE_PORTS["intake"]
    mediation_port: int = SERVICE_PORTS["mediation"]
    legal_aid_port: int = SERVICE_PORTS["legal_aid"]
    followup_port: int = SERVICE_PORTS["followup"]
    supervision_port: int = SERVICE_PORTS["supervision"]
    notification_port: int = SERVICE_PORTS["notification"]

    db_pool_size: int = 8
    consumer_batch_size: int = 500
    #: The longest one wait of the consumer for records; a record that arrives ends the wait at once. FastStream
    #: would sleep as long again after an empty wait (an event arriving meanwhile waited for the sleep's end);
    #: kafka.waits_without_sleeping removes that sleep, so a long wait costs no latency and keeps idle quiet.
    consumer_batch_timeout_ms: int = Field(default=500, ge=1, le=5000)
    #: A batch of records this service only passes over commits its offsets with the next batch that changes
    #: something, or itself when read this many seconds or more after the last commit (nothing commits between
    #: batches: services/backbone/consumer.py ``CommitPace``).
    consumer_skip_commit_seconds: float = Field(default=5.0, ge=0, le=300)
    relay_batch_size: int = 1000
    #: Published outbox rows are kept this long and re-published when the broker is found empty.
    outbox_retention_hours: float = 168
    #: Must exceed the outbox retention so that every re-published event is recognised as seen.
    inbox_retention_hours: float = 720
    park_max_age_hours: float = 168
    #: Intake's replay cache of partner ingress event ids (must exceed the signature's clock skew by far).
    ingress_retention_days: float = Field(default=90, gt=1)
    #: A consumed record larger than this is dead-lettered unread.
    max_event_bytes: int = 1_048_576
    #: A batch still failing after its retries this many rounds in a row (while the database answers) is run
    #: one event at a time, and the event that keeps failing is dead-lettered so that its partition moves on.
    consumer_isolate_after_rounds: int = 5
    marker_check_seconds: float = 15
    deadline_warning_ratio: float = 0.8

    #: Every request needs a valid access token (off only in in-process functional tests).
    auth_required: bool = True
    max_body_bytes: int = 1_048_576
    #: Attachments (证据材料): the largest file, and what one case may hold (files and bytes). An upload's body may
    #: exceed ``max_body_bytes`` by the file limit (plus the multipart envelope), on the upload route only.
    attachment_max_bytes: int = Field(default=10 * 1_048_576, gt=0)
    attachment_case_max_bytes: int = Field(default=100 * 1_048_576, gt=0)
    attachment_case_max_files: int = Field(default=200, gt=0)

    #: Where attachments' bytes live (docs/adr/0006): ``postgres`` (the row holds them, the default) or ``s3`` (an
    #: S3-compatible object store — AWS S3, MinIO, Ceph RGW, OSS/COS in S3 mode — holds them; the row keeps the
    #: facts and the object's key). Credentials unset: boto3's own chain (environment, instance role).
    attachment_store: Literal["postgres", "s3"] = "postgres"
    s3_endpoint: str | None = None
    s3_bucket: str = "laborcase-attachments"
    s3_region: str = "cn-northwest-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    #: seconds to connect to / wait for the object store before an upload or download answers 503
    s3_timeout_seconds: float = Field(default=10, gt=0)

    @property
    def upload_max_body(self) -> int:
        return self.attachment_max_bytes + 65_536
    #: A request's headers must arrive within this many seconds, its body within ``request_body_seconds``
    #: (a client that sends a few bytes a minute holds a connection forever otherwise).
    request_header_seconds: float = Field(default=10, gt=0)
    request_body_seconds: float = Field(default=30, gt=0)
    #: The session cookie is sent over HTTPS only: set when the console is served over HTTPS (deploy/ does).
    cookie_secure: bool = False
    #: Proxies in front of the services or the console whose X-Forwarded-For is believed (CIDRs, comma-separated);
    #: the console's own forwarding is signed and needs no entry here.
    trusted_proxies: str = ""
    @property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    #: Server-sent event streams one person may hold open at once (a supervisors' board in several tabs).
    streams_per_person: int = Field(default=4, ge=1)

    home: Path = Path(".laborcase")
    #: On one machine: a directory (mode 0700) where the console hands each client's connection to the service
    #: that answers it, instead of relaying every request (services/backbone/handoff.py). Unset: the console
    #: relays (a cluster routes at its Ingress instead). ``laborcase up`` sets it to ``<home>/handoff`` unless
    #: ``LABORCASE_HANDOFF=off``; a directory set by hand must be this user's alone (mode 0700) or it is not used.
    handoff_dir: str = ""
    log_level: str = "INFO"
    #: Where a service writes its CPU profile when told to (SIGUSR1 starts it, SIGUSR2 writes it; services/backbone/
    #: profiling.py). Unset: the signals are not taken. ``laborcase bench --profile`` sets it.
    profile_dir: str = ""

    #: Test mode only: business time runs this many seconds ahead of (or behind) the system clock, so a
    #: run can start on any moment (a make-up Saturday, New Year's Eve). Security clocks are never shifted.
    clock_offset_seconds: float = 0.0

    @property
    def clock(self) -> Clock:
        return Clock.shifted_by(self.clock_offset_seconds)

    @model_validator(mode="after")
    def _retention_windows_nest(self) -> Settings:
        topic_hours = self.topic_retention_days * 24
        if not self.outbox_retention_hours < topic_hours < self.inbox_retention_hours:
            raise ValueError(
                "retention windows must nest: LABORCASE_OUTBOX_RETENTION_HOURS "
                f"({self.outbox_retention_hours:g} h) < LABORCASE_TOPIC_RETENTION_DAYS ({topic_hours:g} h) "
                f"< LABORCASE_INBOX_RETENTION_HOURS ({self.inbox_retention_hours:g} h)")
        return self

    def dsn_for(self, service: str) -> str:
        dsn = getattr(self, f"{service}_dsn")
        if not dsn:
            raise RuntimeError(f"LABORCASE_{service.upper()}_DSN is not set")
        return dsn

    def migration_dsn_for(self, service: str) -> str | None:
        return getattr(self, f"{service}_migration_dsn", None)

    def port_for(self, service: str) -> int:
        return int(getattr(self, f"{service}_port"))

    intake_url: str | None = None
    mediation_url: str | None = None
    legal_aid_url: str | None = None
    followup_url: str | None = None
    supervision_url: str | None = None
    notification_url: str | None = None

    def url_for(self, service: str) -> str:
        """Where the console reaches a service: configured (a cluster), else this host and the service's port."""
        configured = getattr(self, f"{service}_url")
        if configured:
            return str(configured).rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port_for(service)}"
