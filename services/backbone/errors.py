"""What a use case says when it cannot do what was asked: domain errors, free of HTTP.

Use cases raise these; one mapping at the edge (``services.backbone.http``) turns them into RFC 9457 problems,
and a handler that applies an event can tell a refusal from a fault by the same classes. Messages are for the
person who asked (Simplified Chinese); ``code`` names the refusal for machines (the problem's type).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class FieldError:
    """One field's reason (Chinese), with a machine code where the caller acts on it."""

    field: str
    reason: str
    code: str | None = None


class DomainError(Exception):
    """The request cannot be applied to the case as it is."""

    #: the refusal's default name (urn:laborcase:problem:<code>)
    code: str = "refused"
    kind: ClassVar[str] = "refused"

    def __init__(self, message: str, *, errors: Iterable[FieldError | tuple[str, str]] = (), code: str | None = None):
        super().__init__(message)
        self.message = message
        self.errors = [e if isinstance(e, FieldError) else FieldError(*e) for e in errors]
        if code is not None:
            self.code = code

    def describe(self) -> str:
        details = "; ".join(f"{e.field}: {e.code or e.reason}" for e in self.errors)
        return f"{self.code}: {self.message}" + (f" ({details})" if details else "")


class NotFound(DomainError):
    """No such thing — or none the caller may know of (out of scope answers like not found)."""

    code = "not-found"
    kind = "not_found"


class Conflict(DomainError):
    """The case is not in a state that allows it (already done, closed, clock not running…)."""

    code = "conflict"
    kind = "conflict"


class Invalid(DomainError):
    """The request itself is wrong: ``errors`` says which fields and why."""

    code = "invalid"
    kind = "invalid"


class Forbidden(DomainError):
    """Known to the caller, and not theirs to change (e.g. a case number registered by another court)."""

    code = "forbidden"
    kind = "forbidden"
