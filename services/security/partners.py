"""Partner ingress: each court and bureau signs its requests; replays and out-of-scope events are refused.

    X-Laborcase-Key-Id:    the partner's key id (court-QH0103)
    X-Laborcase-Timestamp: Unix seconds; more than 5 minutes off is refused
    X-Laborcase-Signature: hex HMAC-SHA256(secret, "<timestamp>.<raw body>")
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.backbone.http import Problem
from services.security.accounts import Accounts, Partner

MAX_SKEW = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(partner_key: str, secret: str, body: bytes, *, at: float | None = None) -> dict[str, str]:
    ts = int(at if at is not None else time.time())
    return {"x-laborcase-key-id": partner_key, "x-laborcase-timestamp": str(ts),
            "x-laborcase-signature": sign(secret, ts, body)}


def verify(headers: Mapping[str, str], body: bytes, accounts: Accounts, *, now: float | None = None) -> Partner:
    key_id = headers.get("x-laborcase-key-id")
    ts = headers.get("x-laborcase-timestamp", "")
    signature = headers.get("x-laborcase-signature", "")
    if not key_id or not ts or not signature:
        raise Problem(401, "缺少签名：需要 X-Laborcase-Key-Id、X-Laborcase-Timestamp、X-Laborcase-Signature",
                      type_="urn:laborcase:problem:unsigned")
    partner = accounts.partners.get(key_id)
    if partner is None:
        raise Problem(401, "未知的合作方密钥", type_="urn:laborcase:problem:unknown-key")
    if not ts.isdigit() or abs((now or time.time()) - int(ts)) > MAX_SKEW:
        raise Problem(401, "签名时间戳超出允许范围（±5分钟），请同步时钟后重试", type_="urn:laborcase:problem:stale")
    if not hmac.compare_digest(sign(partner.secret, int(ts), body), signature):
        raise Problem(401, "签名不正确", type_="urn:laborcase:problem:bad-signature")
    return partner


def check_scope(partner: Partner, event_type: str, data: Mapping[str, Any], *, case_court: str | None = None) -> None:
    """A court posts only court events for its own court code; a bureau only its own bureau events."""
    if not event_type.startswith(f"{partner.kind}."):
        raise Problem(403, f"{partner.name or partner.key_id}无权提交 {event_type} 事件",
                      type_="urn:laborcase:problem:out-of-scope")
    own = data.get("court_code") if partner.kind == "court" else data.get("bureau_code")
    if own is not None and own != partner.code:
        raise Problem(403, f"只能提交本单位（{partner.code}）的案件，事件中为 {own}",
                      type_="urn:laborcase:problem:out-of-scope")
    if case_court is not None and case_court != partner.code:
        raise Problem(403, "该案号不是本单位委派或委托的案件", type_="urn:laborcase:problem:out-of-scope")


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
