"""Signed, expiring access tokens (JWT, HS256) and password hashing (argon2)."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.security.policy import ROLES, Principal

ISSUER = "laborcase"
DEFAULT_TTL = timedelta(hours=8)
_hasher = PasswordHasher()


class InvalidToken(Exception):
    pass


@lru_cache(maxsize=1)
def secret_key() -> str:
    """From configuration (LABORCASE_SECRET_KEY); `laborcase up` generates one per home when none is set."""
    key = os.environ.get("LABORCASE_SECRET_KEY")
    if not key:
        raise RuntimeError("LABORCASE_SECRET_KEY is not set")
    if len(key) < 32:
        raise RuntimeError("LABORCASE_SECRET_KEY must be at least 32 characters")
    return key


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def issue(p: Principal, *, ttl: timedelta = DEFAULT_TTL, key: str | None = None) -> str:
    now = datetime.now(UTC)
    claims = {"iss": ISSUER, "sub": p.subject, "role": p.role, "unit": p.org_unit, "partner": p.partner_code,
              "name": p.name, "mediator": p.mediator_id, "iat": now, "exp": now + ttl,
              "jti": secrets.token_hex(16)}
    return jwt.encode(claims, key or secret_key(), algorithm="HS256")


def verify(token: str, *, key: str | None = None) -> Principal:
    try:
        claims = jwt.decode(token, key or secret_key(), algorithms=["HS256"], issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "iss", "jti"]})
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("登录已过期，请重新登录") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("凭证无效") from exc
    if claims.get("role") not in ROLES:
        raise InvalidToken("凭证无效")
    return Principal(claims["sub"], claims["role"], claims.get("unit"), claims.get("partner"), claims.get("name", ""),
                     mediator_id=claims.get("mediator"), token_id=str(claims["jti"]), expires_at=float(claims["exp"]))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
