"""A tiny service built on the backbone, to test the runtime with real events, broker and database.

``ledger`` consumes court events and publishes ``intake.case_received``; ``counter`` consumes those
and records every effect without any uniqueness of its own, so a duplicated effect would show.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg

from events.intake import CaseFacts, CaseReceived, CaseRefs
from events.partner import CourtCaseFiled, CourtCaseReferred, CourtConfirmationDecided
from services.backbone.consumer import HandlerContext, NotYetKnown, Reject
from services.backbone.errors import NotFound
from services.backbone.runtime import ServiceSpec

MIGRATIONS = Path(__file__).parent / "ledger_migrations"


#: Summaries that make the ledger fail the way real data sometimes does.
ALWAYS_DEADLOCKS = "always deadlocks"  # a transient fault that never goes away for this one event
CANNOT_ENCODE = "cannot encode"  # an argument asyncpg cannot encode: the same every time


async def on_referred(ctx: HandlerContext, event, data: CourtCaseReferred) -> None:
    if data.summary == ALWAYS_DEADLOCKS:
        raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected (test)")
    if data.summary == CANNOT_ENCODE:
        await ctx.conn.execute("SELECT $1::integer", data.summary)
    await ctx.conn.execute(
        "INSERT INTO ledger_cases (court_case_no) VALUES ($1) ON CONFLICT (court_case_no) "
        "DO UPDATE SET referrals = ledger_cases.referrals + 1",
        data.court_case_no,
    )
    facts = CaseFacts(channel="court", received_at=data.referred_at, region_code=data.region_code,
                      workers=data.workers, employer=data.employer, claims=data.claims, summary=data.summary,
                      refs=CaseRefs(court_code=data.court_code, court_case_no=data.court_case_no))
    ctx.publish("intake.case_received", CaseReceived(case_id=data.court_case_no, facts=facts),
                subject=data.court_case_no)


async def on_decided(ctx: HandlerContext, event, data: CourtConfirmationDecided) -> None:
    status = await ctx.conn.execute(
        "UPDATE ledger_cases SET decision = $2 WHERE court_case_no = $1", data.court_case_no, data.decision)
    if status.endswith(" 0"):
        raise NotYetKnown(f"case {data.court_case_no} is not known yet")


async def on_filed(ctx: HandlerContext, event, data: CourtCaseFiled) -> None:
    if data.court_case_no.startswith("BAD"):
        raise Reject(f"the ledger refuses case number {data.court_case_no}")
    if data.court_case_no.startswith("GONE"):  # a use case's domain error, raised from a handler
        raise NotFound(f"案件 {data.court_case_no} 不存在")
    await ctx.conn.execute("UPDATE ledger_cases SET filed = true WHERE court_case_no = $1", data.court_case_no)


async def on_received(ctx: HandlerContext, event, data: CaseReceived) -> None:
    await ctx.conn.execute("INSERT INTO received (case_id, event_id) VALUES ($1, $2)", data.case_id, event.id)


def ledger(prefix: str) -> ServiceSpec:
    return ServiceSpec(
        name="intake",  # reuses a real service name for settings; topics are the test's own
        topic=f"{prefix}.out",
        consumes=(f"{prefix}.in",),
        handlers={"court.case_referred": on_referred, "court.confirmation_decided": on_decided,
                  "court.case_filed": on_filed},
        migrations=MIGRATIONS,
    )


def counter(prefix: str) -> ServiceSpec:
    return ServiceSpec(name="mediation", topic=f"{prefix}.counter", consumes=(f"{prefix}.out",),
                       handlers={"intake.case_received": on_received}, migrations=MIGRATIONS)


def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"
