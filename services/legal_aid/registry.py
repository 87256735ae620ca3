"""The lawyers' registry (律师名册): lawyers seeded from the hierarchy's configuration or added by a supervisor, and
the employers each may not act against (利益冲突)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.backbone.consumer import HandlerContext
from services.backbone.errors import Conflict, Invalid
from services.hierarchy.orgunits import Hierarchy
from services.legal_aid import repository


async def sync_lawyers(pool: asyncpg.Pool | asyncpg.Connection, hierarchy: Hierarchy) -> None:
    """The lawyers the hierarchy's configuration lists (at start); registered ones are left as they are."""
    units = hierarchy.units.values()
    await repository.seed(
        pool,
        [(x["id"], x["name"], x["firm"], u.code, int(x.get("capacity", 6)), list(x.get("specialties", [])))
         for u in units for x in u.attributes.get("lawyers", [])],
        [(x["id"], uscc) for u in units for x in u.attributes.get("lawyers", []) for uscc in x.get("conflicts", [])])


def known_unit(hierarchy: Hierarchy, org_unit: str) -> None:
    """A lawyer is registered with a union unit that exists."""
    if hierarchy.get(org_unit) is None:
        raise Invalid("未知的工会单位", errors=[("org_unit", "未知的工会单位")])


async def add_lawyer(ctx: HandlerContext, *, lawyer_id: str, name: str, firm: str, org_unit: str, capacity: int,
                     specialties: Sequence[str]) -> None:
    if not await repository.add_lawyer(ctx.conn, lawyer_id=lawyer_id, name=name, firm=firm, org_unit=org_unit,
                                       capacity=capacity, specialties=specialties):
        raise Conflict(f"律师编号 {lawyer_id} 已存在")


async def add_conflict(ctx: HandlerContext, *, lawyer_id: str, uscc: str, note: str) -> None:
    """The lawyer may not be assigned against this employer (recording it twice changes nothing)."""
    await repository.add_conflict(ctx.conn, lawyer_id=lawyer_id, uscc=uscc, note=note)
