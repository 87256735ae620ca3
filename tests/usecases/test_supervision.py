"""Supervision's use cases on real PostgreSQL, without a broker: every service's events projected into the case
as a whole and its timeline, deadlines becoming alerts that escalate and resolve, the court's minimised view,
and the statistics over the projected rows."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel

from events.common import Agreement, Claim, Employer, Worker
from events.deadlines import DeadlineSignal
from events.envelope import new_event, parse_envelope_data
from events.followup import CaseFlagged
from events.intake import CaseDispatched, CaseFacts, CaseReceived, CaseRefs, CaseTriaged
from events.mediation import CaseOpened, CaseResolved, MediatorAssigned, Settled
from events.partner import CourtCaseReferred
from services.backbone.errors import Conflict, Invalid, NotFound
from services.hierarchy.orgunits import default_hierarchy
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.supervision import alerts, queries, stats
from services.supervision.domain import timeline
from services.supervision.projection import handlers
from tests.usecases.conftest import world_fixture

#: every use case here starts, moves or meets clocks: run again at each shifted moment (tests/clock.py)
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.clock]

world = world_fixture("supervision")

HIERARCHY = default_hierarchy()
HANDLERS = handlers(hierarchy=HIERARCHY)
UNIT = "QH-XN-CD"  # 城东区总工会, under 西宁市总工会 (QH-XN), under 青海省总工会 (QH)
COURT = "QH0103"


async def project(world, event_type: str, data: BaseModel, *, subject: str, at: datetime, source: str | None = None,
                  sender: str | None = None) -> None:
    """One event through the projection, decoded as the consumer decodes it (raw JSON → envelope + typed data)."""
    event = new_event(event_type, source=source or f"laborcase/{event_type.split('.')[0]}", data=data,
                      subject=subject, time=at)
    event, typed = parse_envelope_data(json.loads(event.model_dump_json()))

    async def apply(ctx):
        ctx.partner = SimpleNamespace(code=sender) if sender else None
        await HANDLERS[event_type](ctx, event, typed)

    await world.run(apply)


async def project_batch(world, events: list[tuple[str, BaseModel, str, datetime]]) -> None:
    """Events (type, data, subject, time) through the projection as one consumed batch: one context, one flush."""
    decoded = []
    for event_type, data, subject, at in events:
        event = new_event(event_type, source=f"laborcase/{event_type.split('.')[0]}", data=data, subject=subject,
                          time=at)
        decoded.append(parse_envelope_data(json.loads(event.model_dump_json())))

    async def apply(ctx):
        for event, typed in decoded:
            await HANDLERS[event.type](ctx, event, typed)

    await world.run(apply)


def facts(received_at: datetime, *, n: int = 1, channel: str = "hotline", amount: int = 3000,
          refs: CaseRefs | None = None) -> CaseFacts:
    return CaseFacts(channel=channel, received_at=received_at, region_code="630102",
                     workers=[Worker(name=f"督办职工{n}", id_number=make_id_number("630102", date(1986, 5, 5), 700 + n),
                                     phone=f"1350971{n:04d}")],
                     employer=Employer(name=f"城东区某超市{n}", uscc=make_uscc("630102", 8800 + n)),
                     claims=[Claim(type="wage_arrears", amount_cny=amount)], refs=refs or CaseRefs())


def clock_signal(case_id: str, state: str, *, at: datetime, due_at: datetime, kind: str = "tier",
                 on_time: bool | None = None) -> DeadlineSignal:
    return DeadlineSignal(deadline_id=f"dl-{case_id}-{kind}", case_id=case_id, kind=kind, owner="mediation",
                          state=state, started_at=due_at - timedelta(days=15), due_at=due_at,
                          warn_at=due_at - timedelta(days=3), at=at, org_unit=UNIT, on_time=on_time)


async def received_and_dispatched(world, case_id: str, t0: datetime, **kw: Any) -> CaseFacts:
    f = facts(t0, **kw)
    due = t0 + timedelta(days=15)
    await project(world, "intake.case_received", CaseReceived(case_id=case_id, facts=f), subject=case_id, at=t0)
    await project(world, "intake.case_triaged", CaseTriaged(case_id=case_id, tier="general", rule="default",
                                                            received_at=t0, due_at=due),
                  subject=case_id, at=t0 + timedelta(seconds=1))
    await project(world, "intake.case_dispatched", CaseDispatched(case_id=case_id, org_unit=UNIT, route="mediation",
                                                                  tier="general", due_at=due, facts=f),
                  subject=case_id, at=t0 + timedelta(seconds=2))
    return f


async def settled(world, case_id: str, t: datetime, *, amount: int = 3000) -> None:
    agreement = Agreement(amount_cny=amount)
    await project(world, "mediation.case_opened", CaseOpened(case_id=case_id, org_unit=UNIT, kind="union",
                                                             tier="general", due_at=t + timedelta(days=15)),
                  subject=case_id, at=t)
    await project(world, "mediation.mediator_assigned",
                  MediatorAssigned(case_id=case_id, mediator_id="m-cd-1", mediator_name="王调解", org_unit=UNIT,
                                   reason="容量"), subject=case_id, at=t + timedelta(minutes=1))
    await project(world, "mediation.settled", Settled(case_id=case_id, settled_at=t + timedelta(days=2),
                                                      agreement=agreement, actor="m-cd-1"),
                  subject=case_id, at=t + timedelta(days=2))
    await project(world, "mediation.case_resolved",
                  CaseResolved(case_id=case_id, outcome="settled", resolved_at=t + timedelta(days=2), org_unit=UNIT,
                               mediator_id="m-cd-1", agreement=agreement),
                  subject=case_id, at=t + timedelta(days=2, seconds=1))


# --- the case as a whole -------------------------------------------------------------------------------------


async def test_a_case_received_dispatched_and_settled_reads_back_whole(world):
    t0 = world.now - timedelta(days=3)
    await received_and_dispatched(world, "C-1", t0)
    dispatched = await queries.case_detail(world.conn, "C-1", HIERARCHY)
    assert (dispatched["status"], dispatched["stage"], dispatched["org_unit"]) == ("dispatched", "mediation", UNIT)
    assert dispatched["tier"] == "general" and dispatched["org_unit_name"] == "城东区总工会"

    await settled(world, "C-1", t0 + timedelta(hours=1))

    case = await queries.case_detail(world.conn, "C-1", HIERARCHY)
    assert (case["status"], case["stage"], case["mediation_outcome"]) == ("resolved", "followup", "settled")
    assert case["settled_amount"] == 3000.0 and case["mediator_id"] == "m-cd-1" and case["worker_count"] == 1
    assert case["claim_types"] == ["wage_arrears"] and case["channel"] == "hotline"
    assert [t["type"] for t in case["timeline"]] == [
        "intake.case_received", "intake.case_triaged", "intake.case_dispatched", "mediation.case_opened",
        "mediation.mediator_assigned", "mediation.settled", "mediation.case_resolved"]
    assert case["timeline"][0]["summary"] == "受理登记（12351热线），职工1人"
    assert case["timeline"][2]["summary"] == "派单至 城东区总工会（调解），第1次"
    assert case["alerts"] == [] and case["deadlines"] == []

    found = await queries.find_cases(world.conn, ref="C-1", status=None, tier=None, org_units=None, overdue=None,
                                     limit=10)
    assert [r["case_id"] for r in found] == ["C-1"]
    within = await queries.find_cases(world.conn, ref=None, status="resolved", tier="general",
                                      org_units=queries.units_under(HIERARCHY, "QH-XN"), overdue=False, limit=10)
    assert [queries.case_row(r, HIERARCHY)["case_id"] for r in within] == ["C-1"]


async def test_events_arriving_out_of_order_leave_the_newest_state(world):
    """Topics have no order between them: a dispatch read before the registration still wins."""
    t0 = world.now - timedelta(days=1)
    f = facts(t0)
    await project(world, "intake.case_dispatched",
                  CaseDispatched(case_id="C-2", org_unit=UNIT, route="mediation", tier="general",
                                 due_at=t0 + timedelta(days=15), facts=f), subject="C-2", at=t0 + timedelta(seconds=2))
    await project(world, "intake.case_received", CaseReceived(case_id="C-2", facts=f), subject="C-2", at=t0)
    case = await queries.case_detail(world.conn, "C-2", HIERARCHY)
    assert (case["status"], case["stage"]) == ("dispatched", "mediation")
    assert [t["type"] for t in case["timeline"]] == ["intake.case_received", "intake.case_dispatched"]


async def test_a_case_not_projected_is_not_found_and_an_unknown_unit_is_invalid(world):
    with pytest.raises(NotFound, match="案件 C-404 不存在"):
        await queries.case_detail(world.conn, "C-404", HIERARCHY)
    with pytest.raises(Invalid) as refused:
        queries.units_under(HIERARCHY, "QH-NOWHERE")
    assert [(e.field, e.reason) for e in refused.value.errors] == [("org_unit", "未知的工会单位")]
    assert queries.units_under(HIERARCHY, None) is None and UNIT in queries.units_under(HIERARCHY, "QH")


# --- deadlines and alerts ------------------------------------------------------------------------------------


async def test_a_breach_raises_an_overdue_alert_that_escalates_and_resolves_when_met(world):
    t0 = world.now - timedelta(days=20)
    await received_and_dispatched(world, "C-3", t0)
    due = world.now - timedelta(hours=2)
    await project(world, "deadline.warning", clock_signal("C-3", "open", at=due - timedelta(days=3), due_at=due),
                  subject="C-3", at=due - timedelta(days=3))
    warning = await queries.open_alerts(world.conn, kinds=queries.KINDS["warning"], units=None)
    assert [(a.kind, a.case_id, a.org_unit) for a in warning] == [("warning", "C-3", UNIT)]

    await project(world, "deadline.breached", clock_signal("C-3", "breached", at=due, due_at=due), subject="C-3",
                  at=due)
    assert await queries.open_alerts(world.conn, kinds=["warning"], units=None) == []
    [overdue] = await queries.open_alerts(world.conn, kinds=queries.KINDS["overdue"],
                                          units=queries.units_under(HIERARCHY, "QH-XN"))
    assert (overdue.escalated_to, overdue.level, overdue.deadline_kind) == (UNIT, 0, "tier")
    assert world.events("supervision.alert_raised") == ["supervision.alert_raised"] * 2
    assert world.events("supervision.alert_resolved") == ["supervision.alert_resolved"]
    # one working day after the breach the alert goes up a level, unless the case is done by then
    assert await world.conn.fetchval("SELECT count(*) FROM deadlines WHERE owner = 'supervision' AND state = 'open' "
                                     "AND kind = $1", f"escalate:{overdue.alert_id}:0") == 1

    up = await world.run(lambda ctx: alerts.escalate(ctx, alert_id=overdue.alert_id, at=world.now,
                                                     hierarchy=HIERARCHY))
    assert (up.escalated_to, up.level) == ("QH-XN", 1)
    assert queries.alert_json(up, HIERARCHY)["escalated_to_name"] == HIERARCHY.get("QH-XN").name
    listed = (await queries.case_detail(world.conn, "C-3", HIERARCHY))["alerts"]
    assert [(a["kind"], a["state"], a["level"]) for a in listed] == [("warning", "resolved", 0), ("overdue", "open", 1)]

    await project(world, "deadline.met", clock_signal("C-3", "met", at=world.now, due_at=due, on_time=False),
                  subject="C-3", at=world.now)
    case = await queries.case_detail(world.conn, "C-3", HIERARCHY)
    assert case["on_time"] is False and [a["state"] for a in case["alerts"]] == ["resolved", "resolved"]
    assert [(d["kind"], d["state"]) for d in case["deadlines"]] == [("tier", "met")]
    # the next level's clock (started by the escalation) stops with the alert
    assert await world.conn.fetchval("SELECT state FROM deadlines WHERE owner = 'supervision' AND kind = $1",
                                     f"escalate:{overdue.alert_id}:1") == "cancelled"
    assert [t["summary"] for t in case["timeline"] if t["type"] == "deadline.breached"] == ["办结期限：已超期"]
    # resolved: it no longer escalates
    assert await world.run(lambda ctx: alerts.escalate(ctx, alert_id=overdue.alert_id, at=world.now,
                                                       hierarchy=HIERARCHY)) is None


async def test_an_alert_is_acknowledged_once_and_its_escalation_stops(world):
    t0 = world.now - timedelta(days=20)
    await received_and_dispatched(world, "C-4", t0)
    due = world.now - timedelta(hours=1)
    await project(world, "deadline.breached", clock_signal("C-4", "breached", at=due, due_at=due), subject="C-4",
                  at=due)
    [overdue] = await queries.open_alerts(world.conn, kinds=["overdue"], units=None)

    ack = await world.run(lambda ctx: alerts.acknowledge(ctx, alert_id=overdue.alert_id, actor="市总督办室",
                                                         note="已电话督促当日办结"))
    assert (ack.state, ack.acknowledged_by, ack.ack_note) == ("acknowledged", "市总督办室", "已电话督促当日办结")
    assert await world.conn.fetchval("SELECT state FROM deadlines WHERE owner = 'supervision'") == "cancelled"
    assert world.events("supervision.alert_acknowledged") == ["supervision.alert_acknowledged"]

    with pytest.raises(Conflict, match="该督办提醒不存在或已确认、已解除"):
        await world.run(lambda ctx: alerts.acknowledge(ctx, alert_id=overdue.alert_id, actor="x", note="重复"))
    with pytest.raises(Conflict):
        await world.run(lambda ctx: alerts.acknowledge(ctx, alert_id=999_999, actor="x", note="不存在"))
    # acknowledged, not resolved: still on the board, no longer escalating
    assert [a.state for a in await queries.open_alerts(world.conn, kinds=["overdue"], units=None)] == ["acknowledged"]
    assert await world.run(lambda ctx: alerts.escalate(ctx, alert_id=overdue.alert_id, at=world.now,
                                                       hierarchy=HIERARCHY)) is None


async def test_a_flag_from_the_followup_call_raises_an_alert_for_the_cases_unit(world):
    await received_and_dispatched(world, "C-5", world.now - timedelta(days=2))
    await project(world, "followup.flagged", CaseFlagged(case_id="C-5", reason="low_satisfaction", satisfaction=1,
                                                         comment="拖了很久"), subject="C-5", at=world.now)
    [flag] = await queries.open_alerts(world.conn, kinds=queries.KINDS["attention"], units=[UNIT])
    assert (flag.kind, flag.org_unit, flag.detail) == ("low_satisfaction", UNIT,
                                                       {"satisfaction": 1, "comment": "拖了很久"})


# --- what the court that referred a case reads -------------------------------------------------------------


async def test_the_referring_court_reads_a_minimised_view_of_its_case(world):
    t0 = world.now - timedelta(days=20)
    case_no = "(2026)青0103民诉前调1号"
    f = facts(t0, refs=CaseRefs(court_code=COURT, court_case_no=case_no, referral_kind="pre_filing"))
    await project(world, "court.case_referred",
                  CourtCaseReferred(court_code=COURT, court_case_no=case_no, referral_kind="pre_filing",
                                    region_code="630102", referred_at=t0 - timedelta(minutes=5), workers=f.workers,
                                    employer=f.employer, claims=f.claims),
                  subject=case_no, at=t0 - timedelta(minutes=5), source=f"court/{COURT}", sender=COURT)
    await project(world, "intake.case_received", CaseReceived(case_id="C-6", facts=f), subject="C-6", at=t0)
    await project(world, "intake.case_dispatched",
                  CaseDispatched(case_id="C-6", org_unit=UNIT, route="mediation", tier="general",
                                 due_at=t0 + timedelta(days=15), facts=f), subject="C-6", at=t0 + timedelta(seconds=1))
    due = world.now - timedelta(hours=1)
    await project(world, "deadline.breached", clock_signal("C-6", "breached", at=due, due_at=due), subject="C-6",
                  at=due)
    await settled(world, "C-6", world.now - timedelta(days=3))

    detail = await queries.case_detail(world.conn, "C-6", HIERARCHY)
    assert detail["partner_code"] == COURT and detail["refs"] == [case_no]
    assert detail["timeline"][0]["type"] == "court.case_referred"  # the court's own event, under its case number
    assert detail["alerts"] and detail["mediator_id"] == "m-cd-1"

    court = timeline.for_partner(detail)
    assert set(court) == set(timeline.PARTNER_CASE_FIELDS) | {"deadlines", "timeline"}
    assert court["settled_amount"] == 3000.0 and court["refs"] == [case_no]
    assert "alerts" not in court and "mediator_id" not in court and "claim_types" not in court
    assert [d["kind"] for d in court["deadlines"]] == ["tier"] and set(court["deadlines"][0]) == {"kind", "state",
                                                                                                   "due_at"}
    types = [t["type"] for t in court["timeline"]]
    assert "court.case_referred" in types and "mediation.settled" in types
    assert not any(t.startswith(("deadline.", "supervision.")) for t in types)
    assert all(set(t) == {"type", "at", "summary"} for t in court["timeline"])


async def test_a_partner_event_from_another_sender_stays_off_the_case(world):
    t0 = world.now - timedelta(days=1)
    case_no = "(2026)青0103民诉前调2号"
    f = facts(t0, refs=CaseRefs(court_code=COURT, court_case_no=case_no, referral_kind="pre_filing"))
    await project(world, "intake.case_received", CaseReceived(case_id="C-7", facts=f), subject="C-7", at=t0)
    await project(world, "court.case_referred",
                  CourtCaseReferred(court_code="QH0999", court_case_no=case_no, referral_kind="pre_filing",
                                    region_code="630102", referred_at=t0, workers=f.workers, employer=f.employer,
                                    claims=f.claims),
                  subject=case_no, at=t0, source="court/QH0999", sender="QH0999")
    detail = await queries.case_detail(world.conn, "C-7", HIERARCHY)
    assert [t["type"] for t in detail["timeline"]] == ["intake.case_received"]


# --- statistics ------------------------------------------------------------------------------------------------


async def test_statistics_over_the_projected_cases(world):
    t0 = world.now - timedelta(days=5)
    await received_and_dispatched(world, "S-1", t0, n=1)
    await settled(world, "S-1", t0 + timedelta(hours=1))
    await received_and_dispatched(world, "S-2", t0, n=2, channel="online", amount=5000)
    await project(world, "mediation.case_resolved",
                  CaseResolved(case_id="S-2", outcome="failed", resolved_at=world.now, org_unit=UNIT,
                               returned_to="court"), subject="S-2", at=world.now)
    await received_and_dispatched(world, "S-3", t0, n=3)
    due = world.now - timedelta(hours=1)
    await project(world, "deadline.breached", clock_signal("S-3", "breached", at=due, due_at=due), subject="S-3",
                  at=due)

    s = await stats.compute(world.conn, stats.Scope(region="630100"))
    assert s["received"] == {"total": 3, "by_channel": {"hotline": 2, "online": 1}, "by_claim_type": {"wage_arrears": 3}}
    assert s["workers"] == 3 and s["online_share"] == round(1 / 3, 4) and s["overdue_now"] == 1
    assert s["mediation"] == {"settled": 1, "failed": 1, "success_rate": 0.5, "target": 0.6, "meets_target": False}
    assert s["returned"] == {"court": 1, "arbitration": 0}

    units = tuple(queries.units_under(HIERARCHY, "QH-XN"))
    assert (await stats.compute(world.conn, stats.Scope(org_units=units, tier="general")))["received"]["total"] == 3
    assert (await stats.compute(world.conn, stats.Scope(region="630200")))["received"]["total"] == 0
    later = (world.now + timedelta(days=2)).date()
    assert (await stats.compute(world.conn, stats.Scope(start=later)))["received"]["total"] == 0
    assert "调解成功率" in stats.to_csv(s)


async def test_the_board_and_the_statistics_count_the_same_cases_overdue_now(world):
    """当前超期 (overdue now), one definition for the board's 已超期 and the statistics' 当前超期: a case whose
    tier clock (the 1/5/15 rule) is breached and which is neither resolved nor closed. An acknowledged alert
    still counts (acknowledging stops the escalation, not the overdue); a case resolved since does not, even
    while its alert is still open; a case counts once whatever the number of its breached clocks."""
    t0 = world.now - timedelta(days=20)
    due = world.now - timedelta(hours=2)

    async def breached(case_id: str, kind: str = "tier") -> None:
        await project(world, "deadline.breached", clock_signal(case_id, "breached", at=due, due_at=due, kind=kind),
                      subject=case_id, at=due)

    for n, case_id in enumerate(["O-open", "O-resolved", "O-acked", "O-two", "O-met", "O-stage"], start=1):
        await received_and_dispatched(world, case_id, t0, n=n)
    await breached("O-open")  # overdue, nobody has acted: counts
    await breached("O-resolved")  # resolved since; its alert is still open (no `met` yet): does not count
    await project(world, "mediation.case_resolved",
                  CaseResolved(case_id="O-resolved", outcome="withdrawn", resolved_at=world.now, org_unit=UNIT),
                  subject="O-resolved", at=world.now)
    await breached("O-acked")  # acknowledged by a supervisor: still overdue, counts
    [acked] = [a for a in await queries.open_alerts(world.conn, kinds=["overdue"], units=None) if a.case_id == "O-acked"]
    await world.run(lambda ctx: alerts.acknowledge(ctx, alert_id=acked.alert_id, actor="市总督办室", note="已督促"))
    await breached("O-two")  # the tier clock and the union's 15 days both breached: one case
    await breached("O-two", kind="union_mediation")
    await breached("O-met")  # breached, then met late: its alert is resolved, does not count
    await project(world, "deadline.met", clock_signal("O-met", "met", at=world.now, due_at=due, on_time=False),
                  subject="O-met", at=world.now)
    await breached("O-stage", kind="union_mediation")  # only a stage clock breached, the tier clock runs: not 超期

    for unit in (UNIT, "QH-XN", None):
        units = queries.units_under(HIERARCHY, unit)
        board = await queries.board(world.conn, units=units, hierarchy=HIERARCHY)
        figures = await stats.compute(world.conn, stats.Scope(org_units=tuple(units) if units else None))
        assert (board["overdue_now"], figures["overdue_now"]) == (3, 3), unit
    # the board lists exactly the cases it counts (one row each), the case search and ``GET /api/v1/cases?overdue=``
    # find the same ones; a stage clock breached alone is shown apart, not as 已超期
    board = await queries.board(world.conn, units=None, hierarchy=HIERARCHY)
    assert sorted(a["case_id"] for a in board["overdue"]) == ["O-acked", "O-open", "O-two"]
    assert len(board["overdue"]) == board["overdue_now"]
    assert sorted(a["case_id"] for a in board["stage_overdue"]) == ["O-stage", "O-two"]
    found = await queries.find_cases(world.conn, ref=None, status=None, tier=None, org_units=None, overdue=True,
                                     limit=50)
    assert sorted(r["case_id"] for r in found) == ["O-acked", "O-open", "O-two"]
    page, _ = await queries.search(world.conn, {"overdue": True}, sort=None, page=1, sees_pii=False)
    assert sorted(c["case_id"] for c in page.items) == ["O-acked", "O-open", "O-two"] and page.total == 3
    not_overdue = await queries.find_cases(world.conn, ref=None, status=None, tier=None, org_units=None,
                                           overdue=False, limit=50)
    assert {"O-resolved", "O-met", "O-stage"} <= {r["case_id"] for r in not_overdue}


# --- the case search and the mediators' figures ---------------------------------------------------------------


async def test_the_case_search_finds_a_case_by_number_reference_worker_id_and_employer(world):
    t0 = world.now - timedelta(days=2)
    f = await received_and_dispatched(world, "F-1", t0, n=41, refs=CaseRefs(court_code=COURT,
                                                                              court_case_no="（2026）青0103民诉前41号"))
    await received_and_dispatched(world, "F-2", t0 - timedelta(days=1), n=42)
    worker, employer = f.workers[0], f.employer.name

    async def ids(q: str | None = None, *, sees_pii: bool = False, **filters: Any) -> list[str]:
        page, _ = await queries.search(world.conn, {"q": q, **filters}, sort=None, page=1, sees_pii=sees_pii)
        return [c["case_id"] for c in page.items]

    assert await ids("F-1") == ["F-1"] and await ids("f-1") == ["F-1"]
    assert await ids("（2026）青0103民诉前41号") == ["F-1"]
    assert await ids(worker.name) == ["F-1"] and await ids("督办职工4") == ["F-1", "F-2"]  # newest received first
    assert await ids(worker.id_number) == ["F-1"]  # the full ID number finds it, whoever searches
    assert await ids(employer[2:]) == ["F-1"]
    assert await ids("100%_") == [] and await ids(None, tier="difficult") == []
    assert await ids(None, units=queries.units_under(HIERARCHY, "QH-HD")) == []  # another unit's clerk: nothing
    assert await ids(None, finished=True) == [] and await ids(None, finished=False) == ["F-1", "F-2"]
    # the ID number is masked for a role that does not need it, in full for one that does
    masked, _ = await queries.search(world.conn, {"q": "F-1"}, sort=None, page=1, sees_pii=False)
    assert masked.items[0]["worker_ids"] == [worker.id_number[:6] + "********" + worker.id_number[-4:]]
    full, _ = await queries.search(world.conn, {"q": "F-1"}, sort="case", page=1, sees_pii=True)
    assert full.items[0]["worker_ids"] == [worker.id_number] and full.items[0]["employer_name"] == employer
    oldest, key = await queries.search(world.conn, {}, sort="received", page=1, sees_pii=False)
    assert key == "received" and [c["case_id"] for c in oldest.items][:2] == ["F-2", "F-1"]


async def test_the_mediators_figures_name_each_mediator_and_unit(world):
    t0 = world.now - timedelta(days=6)
    for n, case_id in enumerate(["M-1", "M-2", "M-3"], start=1):
        await received_and_dispatched(world, case_id, t0, n=50 + n)
    await settled(world, "M-1", t0)  # 王调解: settled 2 days after receipt
    await project(world, "deadline.met", clock_signal("M-1", "met", at=t0 + timedelta(days=2),
                                                      due_at=t0 + timedelta(days=15), on_time=True),
                  subject="M-1", at=t0 + timedelta(days=2))
    await project(world, "mediation.case_opened", CaseOpened(case_id="M-2", org_unit=UNIT, kind="union",
                                                             tier="general", due_at=t0 + timedelta(days=15)),
                  subject="M-2", at=t0)
    await project(world, "mediation.mediator_assigned",
                  MediatorAssigned(case_id="M-2", mediator_id="m-cd-1", mediator_name="王调解", org_unit=UNIT,
                                   reason="容量"), subject="M-2", at=t0 + timedelta(minutes=1))
    await project(world, "mediation.case_resolved",
                  CaseResolved(case_id="M-2", outcome="failed", resolved_at=world.now, org_unit=UNIT),
                  subject="M-2", at=world.now)
    await project(world, "mediation.mediator_assigned",
                  MediatorAssigned(case_id="M-3", mediator_id="m-cd-2", mediator_name="李调解", org_unit=UNIT,
                                   reason="容量"), subject="M-3", at=t0 + timedelta(minutes=1))

    figs = await stats.figures(world.conn, stats.Scope(org_units=tuple(queries.units_under(HIERARCHY, "QH-XN"))),
                               HIERARCHY)
    by_name = {m["mediator_name"]: m for m in figs["mediators"]}
    assert set(by_name) == {"王调解", "李调解"} and by_name["王调解"]["org_unit_name"] == "城东区总工会"
    wang = by_name["王调解"]
    assert (wang["open_cases"], wang["settled"], wang["concluded"], wang["success_rate"]) == (0, 1, 2, 0.5)
    assert (wang["on_time_rate"], wang["avg_days_to_settle"]) == (1.0, 2.0)
    li = by_name["李调解"]
    assert (li["open_cases"], li["success_rate"], li["on_time_rate"], li["avg_days_to_settle"]) == (1, None, None, None)
    [unit] = figs["units"]
    assert (unit["org_unit_name"], unit["mediators"], unit["open_cases"], unit["settled"]) == ("城东区总工会", 2, 1, 1)
    text = stats.figures_csv(figs)
    assert text.startswith("\ufeff调解员,所属单位,在办案件") and "王调解,城东区总工会,0,2,1,50.0%,100.0%,2.0" in text
    assert "m-cd-1" not in text

    rows = await stats.case_rows(world.conn, stats.Scope(org_units=(UNIT,)))
    csv_text = stats.cases_csv(rows, HIERARCHY)
    header, *lines = csv_text.lstrip("\ufeff").splitlines()
    assert header.startswith("案件编号,法院/仲裁案号,受理时间,受理渠道,分级,状态")
    [m1] = [line for line in lines if line.startswith("M-1,")]
    assert "城东区总工会" in m1 and "王调解" in m1 and "欠薪" in m1 and "调解成功" in m1 and "3000.00" in m1


async def test_a_supervisor_reports_an_alert_to_the_unit_above_at_once(world):
    t0 = world.now - timedelta(days=20)
    await received_and_dispatched(world, "E-1", t0)
    due = world.now - timedelta(hours=2)
    await project(world, "deadline.breached", clock_signal("E-1", "breached", at=due, due_at=due), subject="E-1",
                  at=due)
    [alert] = await queries.open_alerts(world.conn, kinds=["overdue"], units=None)
    up = await world.run(lambda ctx: alerts.escalate_now(ctx, alert_id=alert.alert_id, actor="城东区督办员",
                                                         note="用人单位拒不配合", hierarchy=HIERARCHY))
    assert (up.escalated_to, up.level) == ("QH-XN", 1)
    [published] = world.records("supervision.alert_escalated")
    data = json.loads(published.value)["data"]
    assert data["note"] == "用人单位拒不配合" and data["actor"] == "城东区督办员"
    # the level's clock stopped, the next level's runs
    assert await world.conn.fetchval("SELECT state FROM deadlines WHERE owner = 'supervision' AND kind = $1",
                                     f"escalate:{alert.alert_id}:0") == "cancelled"
    assert await world.conn.fetchval("SELECT state FROM deadlines WHERE owner = 'supervision' AND kind = $1",
                                     f"escalate:{alert.alert_id}:1") == "open"
    await world.run(lambda ctx: alerts.escalate_now(ctx, alert_id=alert.alert_id, actor="市总", note="再报",
                                                    hierarchy=HIERARCHY))
    with pytest.raises(Conflict, match="最高一级"):
        await world.run(lambda ctx: alerts.escalate_now(ctx, alert_id=alert.alert_id, actor="省总", note="再报",
                                                        hierarchy=HIERARCHY))


async def test_the_batch_update_of_cases_reads_each_change_once(world):
    """Every column of the batch's update reads the change's record: the planner must not expand
    ``(d.r).column`` into a call of jsonb_populate_record per column (thirty calls a case instead of one, four
    fifths of a rebuild's time in that statement)."""
    from services.supervision import repository

    plan = await world.conn.fetchval(f"EXPLAIN (VERBOSE, FORMAT JSON) {repository.UPDATE_CASES}", ['{"case_id": "X"}'])
    calls = json.dumps(plan).count("jsonb_populate_record(")
    assert calls == 1, f"jsonb_populate_record appears {calls} times in the plan"


async def test_a_batch_is_freed_by_reference_counting_alone(world, monkeypatch):
    """The batch's fold holds its alert work, and that work holds the fold: kept after the flush, each batch would
    be a reference cycle, everything it read (events, states, rows) garbage for the cyclic collector to walk.
    That collector's passes were near a tenth of a replaying process's CPU, and a replay that sets it aside
    would grow."""
    import gc
    import weakref

    from services.supervision import projection

    folds: list[weakref.ref[projection.Batch]] = []
    flush = projection.Batch.flush

    async def watched(self: projection.Batch, ctx: Any) -> None:
        folds.append(weakref.ref(self))
        await flush(self, ctx)

    monkeypatch.setattr(projection.Batch, "flush", watched)
    t0 = world.now - timedelta(days=20)
    due = world.now - timedelta(hours=2)
    gc.disable()
    try:
        await project_batch(world, [
            ("intake.case_received", CaseReceived(case_id="C-GC", facts=facts(t0)), "C-GC", t0),
            ("deadline.warning", clock_signal("C-GC", "open", at=due - timedelta(days=3), due_at=due), "C-GC",
             due - timedelta(days=3)),
            ("deadline.breached", clock_signal("C-GC", "breached", at=due, due_at=due), "C-GC", due)])
        assert len(folds) == 1 and folds[0]() is None, "the batch's fold outlived its batch"
    finally:
        gc.enable()
    assert [a.kind for a in await queries.open_alerts(world.conn, kinds=queries.KINDS["overdue"], units=None)] == [
        "overdue"]
