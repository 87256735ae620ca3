"""Partners prove who they are on every transport: each court and bureau signs with its own key.

HTTP ingress (``POST /api/v1/events``) and Kafka (``court.events``, ``bureau.events``) carry the same three
values — as request headers, or as record headers — over the same bytes (the request body; the record value,
a structured-mode CloudEvent):

    x-laborcase-key-id:    the partner's key id (court-QH0103)
    x-laborcase-timestamp: Unix seconds when it was signed (HTTP: more than 5 minutes off is refused)
    x-laborcase-signature: hex HMAC-SHA256(secret, "<timestamp>." + bytes)

A court posts only court events for its own court code (``court_code`` in the data, or the court of the case
the event is about); a bureau likewise. Anything that fails is refused (HTTP 401/403) or dead-lettered (Kafka).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.backbone.http import Problem
from services.security.accounts import Accounts, Partner, accounts

MAX_SKEW = 300
KEY_ID, TIMESTAMP, SIGNATURE = "x-laborcase-key-id", "x-laborcase-timestamp", "x-laborcase-signature"
_KEY_ID = re.compile(r"^[0-9A-Za-z._\-]{1,64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}$")


class PartnerRefused(Exception):
    """A partner event whose sender is not proven, or that is outside the sender's own cases."""

    def __init__(self, code: str, detail: str, *, status: int = 401):
        super().__init__(f"{code}: {detail}")
        self.code, self.detail, self.status = code, detail, status

    def problem(self) -> Problem:
        return Problem(self.status, self.detail, type_=f"urn:laborcase:problem:{self.code.replace('_', '-')}")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(partner_key: str, secret: str, body: bytes, *, at: float | None = None) -> dict[str, str]:
    ts = int(at if at is not None else time.time())
    return {KEY_ID: partner_key, TIMESTAMP: str(ts), SIGNATURE: sign(secret, ts, body)}


def record_headers(partner_key: str, secret: str, value: bytes, *, at: float | None = None) -> list[tuple[str, bytes]]:
    """The signature headers of a Kafka record (what a partner's producer adds to each event it writes)."""
    return [(k, v.encode()) for k, v in signed_headers(partner_key, secret, value, at=at).items()]


def authenticate(key_id: str | None, ts: str | None, signature: str | None, body: bytes, accounts: Accounts, *,
                 now: float | None = None, max_skew: float | None = MAX_SKEW) -> Partner:
    """The partner that signed ``body``, or ``PartnerRefused``. Every header is hostile input: anything that is not
    exactly the expected shape (non-ASCII digits, a 5,000-digit timestamp) is a refusal, never an error."""
    if not key_id or not ts or not signature:
        raise PartnerRefused("unsigned", "缺少签名：需要 X-Laborcase-Key-Id、X-Laborcase-Timestamp、X-Laborcase-Signature")
    if not _KEY_ID.match(key_id):
        raise PartnerRefused("unknown_key", "未知的合作方密钥")
    partner = accounts.partners.get(key_id)
    if partner is None:
        raise PartnerRefused("unknown_key", "未知的合作方密钥")
    if not _TIMESTAMP.match(ts):
        raise PartnerRefused("bad_signature", "签名时间戳格式不正确（Unix 秒）")
    if max_skew is not None and abs((now if now is not None else time.time()) - int(ts)) > max_skew:
        raise PartnerRefused("stale", "签名时间戳超出允许范围（±5分钟），请同步时钟后重试")
    if not _SIGNATURE.match(signature) or not hmac.compare_digest(sign(partner.secret, int(ts), body),
                                                                 signature.lower()):
        raise PartnerRefused("bad_signature", "签名不正确")
    return partner


def verify(headers: Mapping[str, str], body: bytes, accounts: Accounts, *, now: float | None = None) -> Partner:
    """HTTP ingress: the request's signature, within the allowed clock skew (a replayed request goes stale)."""
    try:
        return authenticate(headers.get(KEY_ID), headers.get(TIMESTAMP), headers.get(SIGNATURE), body, accounts,
                            now=now)
    except PartnerRefused as exc:
        raise exc.problem() from exc


def verify_record(headers: Iterable[tuple[str, bytes]], value: bytes | None, accounts: Accounts) -> Partner:
    """Kafka: the record's signature over its value. No clock skew: a record may be consumed long after it was
    written (a backlog, an outage); a replayed record is a duplicate event id, which every inbox absorbs."""
    found: dict[str, str] = {}
    for key, raw in headers:
        if key in (KEY_ID, TIMESTAMP, SIGNATURE):
            try:
                found[key] = (raw or b"").decode("ascii")
            except UnicodeDecodeError:
                found[key] = ""
    return authenticate(found.get(KEY_ID), found.get(TIMESTAMP), found.get(SIGNATURE), value or b"", accounts,
                        max_skew=None)


def check_scope(partner: Partner, event_type: str, data: Mapping[str, Any], *, case_partner: str | None = None) -> None:
    """A court posts only court events for its own court code; a bureau only its own bureau events.

    ``case_partner``: the court (bureau) of the case the event is about, once that case is known."""
    if not event_type.startswith(f"{partner.kind}."):
        raise PartnerRefused("out_of_scope", f"{partner.name or partner.key_id}无权提交 {event_type} 事件", status=403)
    own = data.get("court_code") if partner.kind == "court" else data.get("bureau_code")
    if own is not None and own != partner.code:
        raise PartnerRefused("out_of_scope", f"只能提交本单位（{partner.code}）的案件，事件中为 {own}", status=403)
    if case_partner is not None and case_partner != partner.code:
        raise PartnerRefused("out_of_scope", "该案号不是本单位委派或委托的案件", status=403)


def authenticate_record(inbound: Any, event: Any) -> Partner:
    """The consumer's check of a record on a partner topic: who signed it, and that it is theirs to send.

    Raises ``EventRejected`` (the record is dead-lettered with the reason); returns the proven partner, whom the
    handlers hold the case against (a court's decision only for a case that court referred)."""
    from events.envelope import EventRejected

    if any(k.lower() == "ce_specversion" for k, _ in inbound.headers) and not any(
            k.lower() == "content-type" and v.startswith(b"application/cloudevents") for k, v in inbound.headers):
        raise EventRejected("unauthenticated", "partner events must be written in structured mode: the signature "
                                               "covers the whole CloudEvent (the record value)")
    try:
        partner = verify_record(inbound.headers, inbound.value, accounts())
        check_scope(partner, event.type, event.data or {})
    except PartnerRefused as exc:
        raise EventRejected("out_of_scope" if exc.code == "out_of_scope" else "unauthenticated",
                            f"{exc.code}: {exc.detail}") from exc
    return partner


@dataclass
class RateLimiter:
    """Token bucket per partner key (ingress rate limit)."""

    rate: float = 20.0
    burst: float = 40.0
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, key: str, *, now: float | None = None) -> bool:
        t = now if now is not None else time.monotonic()
        tokens, last = self._buckets.get(key, (self.burst, t))
        tokens = min(self.burst, tokens + (t - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, t)
            return False
        self._buckets[key] = (tokens - 1, t)
        return True
