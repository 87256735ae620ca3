"""Session events (auth.*): a login ended before its token expired."""

from __future__ import annotations

from pydantic import Field

from events.common import Contract, Timestamp


class SessionRevoked(Contract):
    """auth.session_revoked — a person logged out (or was logged out): the token is refused everywhere from now on."""

    token_id: str = Field(min_length=1, max_length=64)
    subject: str = Field(min_length=1, max_length=64, description="the account")
    expires_at: Timestamp = Field(description="when the token would have expired anyway")
    revoked_at: Timestamp
