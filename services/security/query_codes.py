"""The worker's query code (查询码): issued with every registered case, shown once, kept only as a salted hash.

- **Unguessable**: 10 characters drawn with ``secrets`` from 32 symbols = 50 bits (≥ 40 asked). Guessing online is
  throttled per case number and per address (``services/security/throttle.py``, ``PUBLIC_CASE``/``PUBLIC_ADDRESS``).
- **Human-friendly**: the alphabet has no 0/O or 1/I (nothing to confuse on a receipt or read out on the phone);
  shown as two groups of five (``K7M2P-XQ9RT``); typed in any case, with or without the dash or spaces.
- **Stored as a salted, keyed hash**: ``v1$<salt>$<HMAC-SHA256(key, salt ‖ case_id ‖ code)>``, the key derived from
  ``LABORCASE_SECRET_KEY`` (never in a database). HMAC rather than scrypt: a progress lookup verifies a code on
  every request and the door must answer ≥ 1,000 lookups/s on 2 cores — scrypt at a meaningful cost (tens of
  milliseconds) would allow ~50/s per core, HMAC takes a few microseconds. The slow hash is not what protects a
  50-bit random code: online, the throttle does (a few hundred tries per case per day); offline, a stolen table is
  useless without the key, which lives outside the database (and even with the key, each case needs its own
  2^49 tries on average because of the per-code salt and the case id in the message).
- Verification compares in constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

from services.security import tokens

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols: no 0/O, no 1/I
LENGTH = 10
BITS = LENGTH * 5  # log2(32) = 5 bits a symbol
VERSION = "v1"
_SEPARATORS = re.compile(r"[\s\-－—_·.]")
_KEY_CACHE: dict[str, bytes] = {}


def new_code() -> str:
    """A fresh code, unformatted (``K7M2PXQ9RT``)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def shown(code: str) -> str:
    """As printed and spoken: two groups of five."""
    c = normalized(code) or code
    return f"{c[:5]}-{c[5:]}"


def normalized(typed: str | None) -> str | None:
    """What the worker typed, as stored: upper case, without separators; None when it cannot be a code."""
    if not typed or len(typed) > 40:
        return None
    c = _SEPARATORS.sub("", typed).upper()
    if len(c) != LENGTH or any(ch not in ALPHABET for ch in c):
        return None
    return c


def _key(secret: str | None = None) -> bytes:
    secret = secret or tokens.secret_key()
    key = _KEY_CACHE.get(secret)
    if key is None:  # a key of its own: the session key's HMAC over a fixed label (domain separation)
        key = hmac.new(secret.encode(), b"laborcase:query-code:" + VERSION.encode(), hashlib.sha256).digest()
        _KEY_CACHE[secret] = key
    return key


def _digest(key: bytes, salt: str, case_id: str, code: str) -> str:
    return hmac.new(key, f"{salt}|{case_id}|{code}".encode(), hashlib.sha256).hexdigest()


def hashed(case_id: str, code: str, *, secret: str | None = None) -> str:
    """The stored form of a code: never the code itself."""
    c = normalized(code)
    if c is None:
        raise ValueError("not a query code")
    salt = secrets.token_hex(8)
    return f"{VERSION}${salt}${_digest(_key(secret), salt, case_id, c)}"


def verify(case_id: str, typed: str | None, stored: Iterable[str], *, secret: str | None = None) -> bool:
    """Whether ``typed`` is a valid code of ``case_id`` (any of its ``stored`` hashes). Every stored hash is
    checked (no early exit on the first match), each in constant time."""
    c = normalized(typed)
    key = _key(secret)
    ok = False
    for h in stored:
        version, _, rest = h.partition("$")
        salt, _, digest = rest.partition("$")
        if version != VERSION or not salt or not digest:
            continue
        ok |= hmac.compare_digest(digest, _digest(key, salt, case_id, c or "-"))
    return ok and c is not None
