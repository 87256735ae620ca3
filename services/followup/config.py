"""Follow-up's configuration: the policy of when to call and what the answers mean (data/policy.json)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from services.followup.domain.schedule import Policy, default_policy


@dataclass(frozen=True)
class FollowupConfig:
    policy: Policy

    @classmethod
    def default(cls) -> FollowupConfig:
        return cls(default_policy())


@lru_cache(maxsize=1)
def current() -> FollowupConfig:
    """The configuration the service runs with (its handlers and, as a dependency, its routes)."""
    return FollowupConfig.default()
