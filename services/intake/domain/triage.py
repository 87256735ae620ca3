"""Triage (分级) and routing rules, pure and configurable (docs/domain/tiers-and-calendar.md)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from events.common import Claim, Tier

DEFAULT_FILE = Path(__file__).parent.parent / "data" / "triage.json"
TIER_ORDER = {Tier.general: 0, Tier.difficult: 1, Tier.complex: 2}
TIER_ZH = {Tier.general: "一般", Tier.difficult: "难点", Tier.complex: "特别复杂"}


class TriageError(ValueError):
    """A tier choice the rules forbid (message in Chinese, for the clerk)."""


@dataclass(frozen=True)
class Facts:
    """What triage looks at."""

    channel: str
    claims: Sequence[Claim]
    worker_count: int

    @property
    def claim_types(self) -> frozenset[str]:
        return frozenset(str(c.type) for c in self.claims)

    @property
    def total_amount(self) -> Decimal:
        return sum((c.amount_cny or Decimal(0) for c in self.claims), Decimal(0))


@dataclass(frozen=True)
class Condition:
    claim_types_any: frozenset[str] | None = None
    min_total_amount_cny: Decimal | None = None
    min_workers: int | None = None
    channels: frozenset[str] | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Condition:
        return cls(
            claim_types_any=frozenset(raw["claim_types_any"]) if "claim_types_any" in raw else None,
            min_total_amount_cny=Decimal(str(raw["min_total_amount_cny"])) if "min_total_amount_cny" in raw else None,
            min_workers=int(raw["min_workers"]) if "min_workers" in raw else None,
            channels=frozenset(raw["channels"]) if "channels" in raw else None,
        )

    def matches(self, f: Facts) -> bool:
        return (
            (self.claim_types_any is None or bool(self.claim_types_any & f.claim_types))
            and (self.min_total_amount_cny is None or f.total_amount >= self.min_total_amount_cny)
            and (self.min_workers is None or f.worker_count >= self.min_workers)
            and (self.channels is None or f.channel in self.channels)
        )


@dataclass(frozen=True)
class TierRule:
    name: str
    tier: Tier
    when: Condition
    description: str = ""


@dataclass(frozen=True)
class RouteRule:
    route: str
    when: Condition
    description: str = ""


@dataclass(frozen=True)
class Decision:
    tier: Tier
    rule: str
    reason: str


@dataclass(frozen=True)
class Policy:
    default_tier: Tier
    rules: tuple[TierRule, ...]
    group_min_workers: int = 10
    default_route: str = "mediation"
    routes: tuple[RouteRule, ...] = ()

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Policy:
        keys = ("claim_types_any", "min_total_amount_cny", "min_workers", "channels")
        return cls(
            default_tier=Tier(raw.get("default_tier", "general")),
            rules=tuple(TierRule(r["name"], Tier(r["tier"]), Condition.from_json({k: r[k] for k in keys if k in r}),
                                 r.get("description", "")) for r in raw.get("rules", [])),
            group_min_workers=int(raw.get("group_min_workers", 10)),
            default_route=raw.get("default_route", "mediation"),
            routes=tuple(RouteRule(r["route"], Condition.from_json({k: r[k] for k in keys if k in r}),
                                   r.get("description", "")) for r in raw.get("routes", [])),
        )

    def is_group(self, f: Facts) -> bool:
        """Ten or more workers with a common claim (集体争议)."""
        return f.worker_count >= self.group_min_workers

    def classify(self, f: Facts) -> Decision:
        """The highest tier of every matching rule; a group dispute is at least 'difficult'."""
        matching = [r for r in self.rules if r.when.matches(f)]
        decision = Decision(self.default_tier, "default", "未命中分级规则，按一般问题办理")
        for rule in matching:
            if TIER_ORDER[rule.tier] > TIER_ORDER[decision.tier]:
                decision = Decision(rule.tier, rule.name, rule.description)
        if self.is_group(f) and TIER_ORDER[decision.tier] < TIER_ORDER[Tier.difficult]:
            decision = Decision(Tier.difficult, "group_dispute", "集体争议至少按难点问题办理")
        return decision

    def override(self, f: Facts, tier: Tier, reason: str | None) -> Decision:
        """A clerk's choice of tier, with a reason."""
        if not reason or not reason.strip():
            raise TriageError("调整分级必须说明理由")
        if self.is_group(f) and TIER_ORDER[tier] < TIER_ORDER[Tier.difficult]:
            raise TriageError("集体争议（10人以上）至少应为难点问题")
        return Decision(tier, "clerk_override", reason.strip())

    def route(self, f: Facts) -> str:
        if f.channel in ("court", "bureau"):
            return "mediation"  # referred for mediation (委派/委托调解, 裁前调解)
        for rule in self.routes:
            if rule.when.matches(f):
                return rule.route
        return self.default_route


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    path = Path(os.environ.get("LABORCASE_TRIAGE_FILE", DEFAULT_FILE))
    return Policy.from_json(json.loads(path.read_text(encoding="utf-8")))
