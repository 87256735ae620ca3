"""Notification's configuration: which SMS gateway sends (``LABORCASE_SMS_GATEWAY``: ``recording`` for local runs,
``tencent`` for Tencent Cloud SMS), the provider's account, and the templates (services/notification/templates.toml,
or ``LABORCASE_SMS_TEMPLATES``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notification.domain.templates import Catalog

TEMPLATES = Path(__file__).parent / "templates.toml"


class SmsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LABORCASE_SMS_", extra="ignore")

    #: recording: every message is recorded for operators to read in the console (/notification), nothing leaves
    #: the machine; tencent: Tencent Cloud SMS (短信 SendSms, API 2021-01-11) through its official SDK
    gateway: Literal["recording", "tencent"] = "recording"
    templates: Path = TEMPLATES
    #: Tencent Cloud: the API key (SecretId/SecretKey), the SMS application (SmsSdkAppId) and region
    tencent_secret_id: str | None = None
    tencent_secret_key: str | None = None
    tencent_app_id: str | None = None
    tencent_region: str = "ap-guangzhou"
    #: where the API is (default the provider's own, sms.tencentcloudapi.com); tests point it at a local stub
    tencent_endpoint: str | None = None
    tencent_scheme: Literal["https", "http"] = "https"
    timeout_seconds: float = Field(default=5, gt=0)
    #: calls within one attempt for a transient error (throttled, busy, network), with backoff between them
    call_retries: int = Field(default=3, ge=1)
    #: how often the sender looks for messages due without being woken (a message queued now wakes it when its
    #: transaction commits: services/notification/wakeup.py), and how many it sends in one transaction
    poll_seconds: float = Field(default=1.0, gt=0)
    #: a round woken by a queued message starts at least this long after the one before: under load, the messages
    #: of several batches share a round (one transaction) instead of a round each (measured: 6 more statements a
    #: complete case with none); a quiet service's message still goes at once
    round_gap_seconds: float = Field(default=0.25, ge=0)
    batch: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _provider_configured(self) -> SmsSettings:
        if self.gateway == "tencent":
            missing = [n for n in ("tencent_secret_id", "tencent_secret_key", "tencent_app_id") if not getattr(self, n)]
            if missing:
                raise ValueError("LABORCASE_SMS_GATEWAY=tencent needs " +
                                 ", ".join(f"LABORCASE_SMS_{n.upper()}" for n in missing))
        return self


@lru_cache(maxsize=1)
def current() -> SmsSettings:
    return SmsSettings()


@lru_cache(maxsize=4)
def catalog(path: Path = TEMPLATES) -> Catalog:
    return Catalog.load(path)
