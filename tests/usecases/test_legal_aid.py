"""Legal aid's use cases on real PostgreSQL, without a broker: an application arrives, is decided (with reasons,
never denied on means when exempt), gets a lawyer from the registry (not one with a conflict of interest), and
is concluded with the money recovered."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from events.deadlines import DeadlineHandover
from events.intake import CaseFacts, CaseReclassified
from services.backbone.errors import Conflict, Invalid, NotFound
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.legal_aid import applications, decisions, registry, repository, representation
from services.legal_aid.config import ASSIGNMENT, DECISION, LegalAidConfig
from tests import clock
from tests.usecases.conftest import world_fixture

#: every use case here starts, moves or meets clocks: run again at each shifted moment (tests/clock.py)
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.clock]

world = world_fixture("legal_aid")
CONFIG = LegalAidConfig.default()
EMPLOYER = make_uscc("630102", 5151)


def facts(claim: str = "wage_arrears") -> CaseFacts:
    return CaseFacts(channel="window", received_at=clock.now(), region_code="630102",
                     workers=[{"name": "马福祥", "id_number": make_id_number("632126", date(1983, 4, 9), 31),
                               "phone": "13709712345"}],
                     employer={"name": "西宁某劳务派遣有限公司", "uscc": EMPLOYER},
                     claims=[{"type": claim, "amount_cny": 36000}])


async def arrived(world, case_id: str = "LA-1", *, claim: str = "wage_arrears") -> str:
    await world.run(lambda ctx: applications.apply(ctx, case_id=case_id, org_unit="QH-XN-CD", facts=facts(claim),
                                                   source="dispatch", deadline=None, config=CONFIG))
    return case_id


async def approved(world, case_id: str = "LA-1") -> str:
    await arrived(world, case_id)
    await world.run(lambda ctx: applications.record_applicant(ctx, case_id, migrant_worker=True, monthly_income=None,
                                                              limitation_date=None, actor="援助中心", config=CONFIG))
    await world.run(lambda ctx: decisions.decide(ctx, case_id, decision="approved", reasons=["农民工追索劳动报酬"],
                                                 actor="援助中心", config=CONFIG))
    return case_id


async def clock_states(world, case_id: str) -> dict[str, str]:
    rows = await world.conn.fetch("SELECT kind, state FROM deadlines WHERE case_id = $1", case_id)
    return {r["kind"]: r["state"] for r in rows}


async def test_an_application_arrives_under_review_with_its_decision_clock(world):
    case_id = await arrived(world)
    case = await repository.get(world.conn, case_id)
    assert case is not None and case.state == "under_review" and case.source == "dispatch"
    assert case.claim_types == ["wage_arrears"] and case.employer_uscc == EMPLOYER
    assert await clock_states(world, case_id) == {DECISION: "open"}
    await arrived(world)  # the same application twice: nothing new
    assert world.events("legalaid.application_received") == ["legalaid.application_received"]


async def test_waiting_for_materials_pauses_the_decision_clock(world):
    case_id = await arrived(world)
    await world.run(lambda ctx: applications.request_materials(ctx, case_id, what="工资欠条", actor="援助中心"))
    assert await world.conn.fetchval("SELECT paused_at IS NOT NULL FROM deadlines WHERE case_id = $1", case_id)
    with pytest.raises(Conflict):  # paused already
        await world.run(lambda ctx: applications.request_materials(ctx, case_id, what="工资欠条", actor="援助中心"))
    await world.run(lambda ctx: applications.materials_received(ctx, case_id, actor="援助中心"))
    with pytest.raises(Conflict):  # running again
        await world.run(lambda ctx: applications.materials_received(ctx, case_id, actor="援助中心"))


async def test_a_decision_without_reasons_is_invalid(world):
    case_id = await arrived(world)
    with pytest.raises(Invalid) as refused:
        await world.run(lambda ctx: decisions.decide(ctx, case_id, decision="approved", reasons=["  "],
                                                     actor="援助中心", config=CONFIG))
    assert [e.field for e in refused.value.errors] == ["reasons"]
    assert (await repository.get(world.conn, case_id)).state == "under_review"  # type: ignore[union-attr]


async def test_an_applicant_exempt_from_the_means_test_is_not_denied_on_economic_grounds(world):
    case_id = await arrived(world)
    assessment = await world.run(lambda ctx: applications.record_applicant(
        ctx, case_id, migrant_worker=True, monthly_income=Decimal("5200.00"), limitation_date=None, actor="援助中心",
        config=CONFIG))
    assert assessment["means_test_skipped"] and assessment["recommendation"] == "approve"
    with pytest.raises(Invalid) as refused:
        await world.run(lambda ctx: decisions.decide(ctx, case_id, decision="denied", reasons=["收入超标"],
                                                     actor="援助中心", config=CONFIG))
    assert [e.field for e in refused.value.errors] == ["decision"]
    await world.run(lambda ctx: decisions.decide(ctx, case_id, decision="approved", reasons=["免予经济困难审查"],
                                                 actor="援助中心", config=CONFIG))
    case = await repository.get(world.conn, case_id)
    assert case is not None and case.state == "approved" and case.decision_reasons == ["免予经济困难审查"]
    assert await clock_states(world, case_id) == {DECISION: "met", ASSIGNMENT: "open"}
    assert world.events("legalaid.eligibility_decided") == ["legalaid.eligibility_decided"]


async def test_a_denial_objected_to_and_upheld_closes_the_case(world):
    case_id = await arrived(world)
    await world.run(lambda ctx: applications.record_applicant(
        ctx, case_id, migrant_worker=False, monthly_income=Decimal("5200.00"), limitation_date=None, actor="援助中心",
        config=CONFIG))
    with pytest.raises(Conflict):  # nothing to object to yet
        await world.run(lambda ctx: decisions.object_to_denial(ctx, case_id, reason="收入计算有误"))
    await world.run(lambda ctx: decisions.decide(ctx, case_id, decision="denied", reasons=["家庭人均月收入超过当地标准"],
                                                 actor="援助中心", config=CONFIG))
    await world.run(lambda ctx: decisions.object_to_denial(ctx, case_id, reason="收入计算有误"))
    await world.run(lambda ctx: decisions.review_objection(ctx, case_id, upheld=True, reason="维持原决定",
                                                           actor="上级", config=CONFIG))
    assert (await repository.get(world.conn, case_id)).state == "closed"  # type: ignore[union-attr]


async def test_a_lawyer_is_assigned_from_the_registry_never_one_with_a_conflict(world):
    await registry.sync_lawyers(world.conn, CONFIG.hierarchy)
    case_id = await arrived(world)
    with pytest.raises(Conflict):  # no decision yet, and not urgent
        await world.run(lambda ctx: representation.assign_lawyer(ctx, case_id, actor="援助中心", config=CONFIG))
    await world.run(lambda ctx: applications.record_applicant(ctx, case_id, migrant_worker=True, monthly_income=None,
                                                              limitation_date=None, actor="援助中心", config=CONFIG))
    await world.run(lambda ctx: decisions.decide(ctx, case_id, decision="approved", reasons=["农民工追索劳动报酬"],
                                                 actor="援助中心", config=CONFIG))

    with pytest.raises(Invalid) as refused:  # a Sichuan lawyer is not in Xining's registry
        await world.run(lambda ctx: representation.assign_lawyer(ctx, case_id, actor="援助中心", config=CONFIG,
                                                                 lawyer_id="L-SC-01"))
    assert [e.field for e in refused.value.errors] == ["lawyer_id"]
    await world.run(lambda ctx: registry.add_conflict(ctx, lawyer_id="L-CD-01", uscc=EMPLOYER, note="常年法律顾问"))
    with pytest.raises(Conflict, match="利益冲突"):
        await world.run(lambda ctx: representation.assign_lawyer(ctx, case_id, actor="援助中心", config=CONFIG,
                                                                 lawyer_id="L-CD-01"))

    chosen = await world.run(lambda ctx: representation.assign_lawyer(ctx, case_id, actor="援助中心", config=CONFIG))
    assert chosen != "L-CD-01"
    case = await repository.get(world.conn, case_id)
    assert case is not None and case.state == "represented" and case.lawyer_id == chosen
    assert case.stage == "consultation"
    assert (await clock_states(world, case_id))[ASSIGNMENT] == "met"
    assert world.events("legalaid.lawyer_assigned") == ["legalaid.lawyer_assigned"]
    loads = {e.lawyer.lawyer_id: e.open_cases for e in await repository.registry(world.conn, org_unit=None)}
    assert loads[chosen] == 1


async def test_urgent_aid_comes_before_the_decision(world):
    await registry.sync_lawyers(world.conn, CONFIG.hierarchy)
    case_id = await arrived(world, claim="work_injury")
    await world.run(lambda ctx: applications.record_applicant(
        ctx, case_id, migrant_worker=False, monthly_income=Decimal("5200.00"),
        limitation_date=clock.today() + timedelta(days=2), actor="援助中心", config=CONFIG))
    await world.run(lambda ctx: representation.assign_lawyer(ctx, case_id, actor="援助中心", config=CONFIG))
    case = await repository.get(world.conn, case_id)
    assert case is not None and case.state == "represented" and case.urgent and case.decision is None


async def test_representation_ends_with_the_money_recovered_and_resumes_when_not_honoured(world):
    await registry.sync_lawyers(world.conn, CONFIG.hierarchy)
    case_id = await approved(world)
    with pytest.raises(Conflict):  # no lawyer yet
        await world.run(lambda ctx: representation.conclude(ctx, case_id, outcome="won", method="award",
                                                            amount_recovered=Decimal("35000"), actor="援助中心"))
    await world.run(lambda ctx: representation.assign_lawyer(ctx, case_id, actor="援助中心", config=CONFIG))
    await world.run(lambda ctx: representation.record_progress(ctx, case_id, stage="arbitration", note="已申请仲裁",
                                                               actor="律师", arbitration_case_no="西劳人仲案字第1号"))
    assert await world.run(lambda ctx: representation.bureau_update(
        ctx, arbitration_case_no="西劳人仲案字第1号", stage="arbitration", at=ctx.now, amount=Decimal("35000")))
    assert not await world.run(lambda ctx: representation.bureau_update(
        ctx, arbitration_case_no="西劳人仲案字第2号", stage="arbitration", at=ctx.now))
    await world.run(lambda ctx: representation.conclude(ctx, case_id, outcome="won", method="award",
                                                        amount_recovered=Decimal("35000"), actor="律师"))
    case = await repository.get(world.conn, case_id)
    assert case is not None and case.state == "concluded" and case.amount_awarded == Decimal("35000")
    assert case.amount_recovered == Decimal("35000") and case.concluded_at is not None
    assert await world.run(lambda ctx: representation.reopen(ctx, case_id=case_id, reason="用人单位未按裁决支付"))
    case = await repository.get(world.conn, case_id)
    assert case is not None and case.state == "represented" and case.stage == "enforcement"
    assert case.concluded_at is None


async def test_a_case_that_is_not_here_is_not_found(world):
    for step in (
        lambda ctx: applications.record_applicant(ctx, "LA-X", migrant_worker=True, monthly_income=None,
                                                  limitation_date=None, actor="援助中心", config=CONFIG),
        lambda ctx: applications.request_materials(ctx, "LA-X", what="材料", actor="援助中心"),
        lambda ctx: decisions.decide(ctx, "LA-X", decision="approved", reasons=["理由"], actor="援助中心", config=CONFIG),
        lambda ctx: decisions.object_to_denial(ctx, "LA-X", reason="不服"),
        lambda ctx: representation.assign_lawyer(ctx, "LA-X", actor="援助中心", config=CONFIG),
        lambda ctx: representation.conclude(ctx, "LA-X", outcome="won", method="award", amount_recovered=Decimal(0),
                                            actor="援助中心"),
    ):
        with pytest.raises(NotFound, match="法律援助案件 LA-X 不存在"):
            await world.run(step)
    assert not await world.run(lambda ctx: representation.reopen(ctx, case_id="LA-X", reason="未履行"))


async def test_a_lawyer_number_is_registered_once(world):
    await world.run(lambda ctx: registry.add_lawyer(ctx, lawyer_id="L-T-01", name="测试律师", firm="测试律所",
                                                    org_unit="QH-XN-CD", capacity=3, specialties=["wage_arrears"]))
    with pytest.raises(Conflict):
        await world.run(lambda ctx: registry.add_lawyer(ctx, lawyer_id="L-T-01", name="测试律师", firm="测试律所",
                                                        org_unit="QH-XN-CD", capacity=3, specialties=[]))
    with pytest.raises(Invalid):
        registry.known_unit(CONFIG.hierarchy, "NOWHERE")
    assert await repository.lawyer_unit(world.conn, "L-T-01") == "QH-XN-CD"


async def test_the_worklist_reads_the_decision_clock(world):
    case_id = await arrived(world)
    rows, total = await repository.worklist(world.conn, units=["QH-XN-CD"], states=None)
    assert total == 1
    assert [(r["case_id"], r["clock_kind"], r["clock_state"]) for r in rows] == [(case_id, DECISION, "open")]
    assert rows[0]["worker_names"] == ["马福祥"] and rows[0]["employer_name"] == "西宁某劳务派遣有限公司"
    view = await repository.view(world.conn, case_id)
    assert view is not None and view.case.case_id == case_id and view.lawyer_name is None
    assert await repository.unit_of(world.conn, case_id) == "QH-XN-CD"


async def test_the_worklist_finds_by_worker_employer_or_number_and_leaves_finished_cases_out(world):
    """The officer's queue: open applications only unless asked, searched by what people remember, paged."""
    await registry.sync_lawyers(world.conn, CONFIG.hierarchy)
    await approved(world, "LA-1")
    await world.run(lambda ctx: representation.assign_lawyer(ctx, "LA-1", actor="援助中心", config=CONFIG))
    await world.run(lambda ctx: representation.conclude(ctx, "LA-1", outcome="won", method="award",
                                                        amount_recovered=Decimal("36000"), actor="援助中心"))
    await arrived(world, "LA-2")
    await arrived(world, "LA-3", claim="work_injury")
    queue = ["under_review", "approved", "denied", "objected", "represented"]

    async def ids(**kw) -> list[str]:
        rows, _ = await repository.worklist(world.conn, units=["QH-XN-CD"], **{"states": queue, **kw})
        return [r["case_id"] for r in rows]

    assert sorted(await ids()) == ["LA-2", "LA-3"]  # concluded LA-1 has left the queue
    assert sorted(await ids(states=None)) == ["LA-1", "LA-2", "LA-3"]  # …unless everything is asked for
    assert await ids(states=["concluded"]) == ["LA-1"]
    assert sorted(await ids(q="马福")) == ["LA-2", "LA-3"]  # worker
    assert sorted(await ids(q="劳务派遣")) == ["LA-2", "LA-3"]  # employer
    assert await ids(q="la-3") == ["LA-3"]  # case number, any case
    assert await ids(q="100%_") == []  # the search box's words are taken literally
    assert await ids(overdue=True) == []
    await world.conn.execute("UPDATE deadlines SET state = 'breached' WHERE case_id = 'LA-3'")
    assert await ids(overdue=True) == ["LA-3"]
    assert await ids(order="c.case_id DESC", limit=1) == ["LA-3"]
    rows, total = await repository.worklist(world.conn, units=["QH-XN-CD"], states=queue, order="c.case_id DESC",
                                            limit=1, offset=1)
    assert [r["case_id"] for r in rows] == ["LA-2"] and total == 2
    assert await ids(order=repository.WORKLIST_SORT["employer"] + " ASC") != []


async def test_lawyer_choices_name_the_lawyers_and_rule_out_a_conflict_of_interest(world):
    await registry.sync_lawyers(world.conn, CONFIG.hierarchy)
    case_id = await approved(world)
    await world.run(lambda ctx: registry.add_conflict(ctx, lawyer_id="L-CD-01", uscc=EMPLOYER, note="曾代理该公司"))
    choices = await representation.choices(world.conn, case_id, CONFIG)
    by_id = {c["lawyer_id"]: c for c in choices}
    assert by_id["L-CD-01"]["name"] == "韩明" and by_id["L-CD-01"]["conflicted"]
    assert choices[-1]["lawyer_id"] == "L-CD-01"  # the conflicted one last
    assert by_id["L-XN-01"]["fits"] and not by_id["L-XN-01"]["conflicted"]  # 孙海涛: wage arrears
    with pytest.raises(Conflict):
        await world.run(lambda ctx: representation.assign_lawyer(ctx, case_id, actor="援助中心", config=CONFIG,
                                                                 lawyer_id="L-CD-01"))
    assert await world.run(lambda ctx: representation.assign_lawyer(
        ctx, case_id, actor="援助中心", config=CONFIG, lawyer_id="L-XN-01")) == "L-XN-01"


async def test_an_objection_overturned_approves_with_the_reviews_reason_and_starts_the_assignment_clock(world):
    case_id = await arrived(world)
    await world.run(lambda ctx: applications.record_applicant(
        ctx, case_id, migrant_worker=False, monthly_income=Decimal("5200.00"), limitation_date=None, actor="援助中心",
        config=CONFIG))
    assessment = applications.assess(await repository.get(world.conn, case_id), CONFIG,  # type: ignore[arg-type]
                                     today=clock.today())
    assert assessment["reasons"] == ["家庭人均月收入 5,200.00 元，超过当地标准 2,200.00 元"]
    await world.run(lambda ctx: decisions.decide(ctx, case_id, decision="denied", reasons=["家庭人均月收入超过当地标准"],
                                                 actor="援助中心", config=CONFIG))
    await world.run(lambda ctx: decisions.object_to_denial(ctx, case_id, reason="医疗支出未计入"))
    await world.run(lambda ctx: decisions.review_objection(ctx, case_id, upheld=False, reason="核实医疗支出后低于标准",
                                                           actor="上级", config=CONFIG))
    case = await repository.get(world.conn, case_id)
    assert case is not None and case.state == "approved" and case.decision == "approved"
    assert case.decision_reasons == ["异议审查：核实医疗支出后低于标准"]  # not the denial's reasons any more
    assert (await clock_states(world, case_id))[ASSIGNMENT] == "open"


def tier_clock(*, days: int = 5) -> DeadlineHandover:
    start = clock.now()
    return DeadlineHandover(deadline_id=str(uuid.uuid4()), kind="tier", started_at=start,
                            due_at=start + timedelta(days=days), warn_at=start + timedelta(days=days * 0.8),
                            warn_ratio=0.8)


async def with_tier_clock(world, case_id: str) -> str:
    await world.run(lambda ctx: applications.apply(ctx, case_id=case_id, org_unit="QH-XN-CD", facts=facts(),
                                                   source="dispatch", deadline=tier_clock(), config=CONFIG))
    return case_id


async def test_a_change_of_tier_moves_the_tier_clock_of_a_case_legal_aid_holds(world):
    case_id = await with_tier_clock(world, "LA-RT")
    due = clock.now() + timedelta(days=15)
    change = CaseReclassified(case_id=case_id, from_tier="difficult", to_tier="complex", reason="涉及多名职工和多个用工主体",
                              actor="受理员", received_at=clock.now(), due_at=due)
    await world.run(lambda ctx: applications.reclassified(ctx, change))
    row = await world.conn.fetchrow("SELECT state, due_at FROM deadlines WHERE case_id = $1 AND kind = 'tier'", case_id)
    assert row["state"] == "open" and row["due_at"] == due
    unknown = CaseReclassified(**{**change.model_dump(), "case_id": "LA-NOT-HERE"})
    await world.run(lambda ctx: applications.reclassified(ctx, unknown))  # not legal aid's case (yet): nothing to move
    assert not await world.conn.fetchval("SELECT count(*) FROM deadlines WHERE case_id = 'LA-NOT-HERE'")


async def test_a_change_of_tier_that_arrives_before_the_case_moves_its_clock_when_the_case_comes(world):
    """intake.case_reclassified and mediation.handed_to_legal_aid travel on different topics: either may be first."""
    due = clock.now() + timedelta(days=15)
    change = CaseReclassified(case_id="LA-EARLY", from_tier="difficult", to_tier="complex", reason="涉及多个用工主体",
                              actor="受理员", received_at=clock.now(), due_at=due)
    await world.run(lambda ctx: applications.reclassified(ctx, change))
    await with_tier_clock(world, "LA-EARLY")  # the hand-over brings the clock as it stood: 5 days
    row = await world.conn.fetchrow("SELECT state, due_at FROM deadlines WHERE case_id = 'LA-EARLY' AND kind = 'tier'")
    assert row["state"] == "open" and row["due_at"] == due
    assert not await world.conn.fetchval("SELECT count(*) FROM pending_tier_changes WHERE case_id = 'LA-EARLY'")


async def test_a_denial_is_the_unions_answer_and_meets_the_tier_clock(world):
    case_id = await with_tier_clock(world, "LA-DN")
    await world.run(lambda ctx: applications.record_applicant(
        ctx, case_id, migrant_worker=False, monthly_income=Decimal("5200.00"), limitation_date=None, actor="援助中心",
        config=CONFIG))
    await world.run(lambda ctx: decisions.decide(ctx, case_id, decision="denied", reasons=["家庭人均月收入超过当地标准"],
                                                 actor="援助中心", config=CONFIG))
    assert (await clock_states(world, case_id))["tier"] == "met"  # not overdue while the worker may still object
    await world.run(lambda ctx: decisions.object_to_denial(ctx, case_id, reason="医疗支出未计入"))
    await world.run(lambda ctx: decisions.review_objection(ctx, case_id, upheld=False, reason="核实后低于标准",
                                                           actor="上级", config=CONFIG))
    assert (await clock_states(world, case_id)) == {DECISION: "met", "tier": "met", ASSIGNMENT: "open"}
