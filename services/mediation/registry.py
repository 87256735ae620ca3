"""The mediators' registry (调解员名册): seeded from the hierarchy's configuration, kept through the API."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.backbone.consumer import HandlerContext
from services.backbone.errors import Conflict, Invalid
from services.backbone.usecase import found
from services.hierarchy.orgunits import Hierarchy
from services.mediation import repository as repo
from services.mediation.models import Mediator


async def sync_mediators(pool: asyncpg.Pool, hierarchy: Hierarchy) -> int:
    """Seed the registry from configuration: new mediators are added, edits made through the API are kept."""
    rows = [(m["id"], m["name"], unit.code, int(m.get("capacity", 8)), list(m.get("specialties", [])))
            for unit in hierarchy.units.values() for m in unit.attributes.get("mediators", [])]
    await repo.seed_mediators(pool, rows)
    return len(rows)


def known_unit(hierarchy: Hierarchy, org_unit: str) -> None:
    """A mediator belongs to a unit of the hierarchy (checked before anyone is authorized on that unit)."""
    if hierarchy.get(org_unit) is None:
        raise Invalid("未知的工会单位", errors=[("org_unit", "未知的工会单位")])


async def add_mediator(ctx: HandlerContext, *, mediator_id: str, name: str, org_unit: str, capacity: int,
                       specialties: Sequence[str], hierarchy: Hierarchy) -> Mediator:
    """Register a mediator of a unit of the hierarchy; a number already registered is refused."""
    known_unit(hierarchy, org_unit)
    added = await repo.insert_mediator(ctx.conn, mediator_id=mediator_id, name=name, org_unit=org_unit,
                                       capacity=capacity, specialties=specialties)
    if added is None:
        raise Conflict(f"调解员编号 {mediator_id} 已存在")
    return added


async def update_mediator(ctx: HandlerContext, mediator_id: str, *, capacity: int | None = None,
                          active: bool | None = None) -> Mediator:
    """Change a mediator's capacity or take them off (and back onto) the rota."""
    return found(await repo.update_mediator(ctx.conn, mediator_id, capacity=capacity, active=active),
                 f"调解员 {mediator_id} 不存在")
