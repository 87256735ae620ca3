"""How a mediation ends or comes back: settled (调解成功, with the court's judicial confirmation for court
cases), failed (调解不成, to the court, the bureau or legal aid), withdrawn (撤回), closed by the court's filing,
reopened when an agreement is not honoured (重新调解) — and the partners' progress reports on the case."""

from __future__ import annotations

from datetime import datetime

from events.common import Agreement
from events.intake import CaseFacts
from events.mediation import (
    CaseReopened,
    CaseResolved,
    ConfirmationRecorded,
    Failed,
    HandedToLegalAid,
    PartnerProgress,
    Settled,
    Withdrawn,
)
from events.partner import UnionConfirmationRequested, UnionMediationFailed, UnionMediationSettled
from services.backbone import caselog
from services.backbone.consumer import HandlerContext, Reject
from services.backbone.errors import Invalid
from services.backbone.usecase import step
from services.calendar.model import local_date
from services.calendar.rules import tier_rule
from services.mediation import repository as repo
from services.mediation.assignment import assign
from services.mediation.clocks import ALL, TIER, WINDOWS, Clocks, meet_clocks, pause_clocks, resume_clocks
from services.mediation.config import MediationConfig
from services.mediation.domain.case import MediationCase, MediationError, check_agreement
from services.mediation.models import MediationCaseRecord


def _partner(record: MediationCaseRecord) -> tuple[str, str, dict[str, str]] | None:
    """Where the outcome is reported: (topic, key, reference) of the referring court or bureau, if any."""
    if record.court_case_no and record.kind.startswith("court"):
        return "court.feedback", record.court_case_no, {"court_case_no": record.court_case_no}
    if record.arbitration_case_no:
        return "bureau.feedback", record.arbitration_case_no, {"arbitration_case_no": record.arbitration_case_no}
    return None


def _referred_by_sender(ctx: HandlerContext, record: MediationCaseRecord, kind: str) -> None:
    """A court's (bureau's) event applies only to a case that court (bureau) referred: bound to the signer."""
    sender = getattr(ctx.partner, "code", None)
    code = record.court_code if kind == "court" else record.bureau_code
    if ctx.partner is not None and code != sender:
        raise Reject(f"out_of_scope: the case was not referred by {kind} {sender}")


async def _resolve(ctx: HandlerContext, case: MediationCase, *, outcome: str, agreement: Agreement | None = None,
                   confirmed: bool = False, returned_to: str | None = None, actor: str | None = None,
                   meet_tier: bool = True, to_legal_aid: bool = False, clocks: Clocks | None = None) -> None:
    """The case's clocks are met and its end published; its row, saved resolved (with ``resolved_at``), is the
    caller's. ``clocks``: its clocks as this transaction already holds them locked."""
    await meet_clocks(ctx, case.case_id, ALL if meet_tier else WINDOWS, actor=actor, reason=outcome, clocks=clocks)
    ctx.publish("mediation.case_resolved", CaseResolved(
        case_id=case.case_id, outcome=outcome, resolved_at=ctx.now, org_unit=case.org_unit,  # type: ignore[arg-type]
        mediator_id=case.mediator_id, agreement=agreement, confirmed_by_court=confirmed,
        returned_to=returned_to, to_legal_aid=to_legal_aid), subject=case.case_id)  # type: ignore[arg-type]


async def settle(ctx: HandlerContext, case_id: str, *, agreement: Agreement, representatives: list[str],
                 actor: str, request_confirmation: bool = True) -> str:
    """调解成功: a court case waits for the court's judicial confirmation (unless not requested)."""
    record, case = await repo.held(ctx, case_id)
    problems = check_agreement(agreement, settled_on=local_date(ctx.now))
    names = {w["name"] for w in record.facts["workers"]}
    if record.group_dispute and not representatives:
        problems.append(("representatives", "集体争议须登记职工代表"))
    problems += [("representatives", f"{n} 不是本案职工") for n in representatives if n not in names]
    if problems:
        raise Invalid("调解协议信息有误", errors=problems)
    wants_court = case.is_court_case and request_confirmation
    if not wants_court and case.is_court_case:
        case = MediationCase(**{**case.__dict__, "court_case_no": None})  # settled without judicial confirmation
    settled = step(case.settle, refusal=MediationError)
    await repo.save(ctx.conn, settled, agreement=agreement.model_dump(mode="json"), representatives=representatives,
                    resolved_at=None if wants_court else ctx.now)
    ctx.publish("mediation.settled", Settled(case_id=case_id, settled_at=ctx.now, agreement=agreement,
                                             representatives=representatives, confirmation_requested=wants_court,
                                             actor=actor), subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action="settled", amount_cny=str(agreement.amount_cny),
                instalments=len(agreement.instalments), confirmation_requested=wants_court)
    partner = _partner(record)
    if partner is not None:
        topic, key, ref = partner
        ctx.publish("union.mediation_settled", UnionMediationSettled(
            case_id=case_id, org_unit=record.org_unit, settled_at=ctx.now, agreement=agreement, **ref),
            subject=case_id, topic=topic, key=key)
    if wants_court:
        ctx.publish("union.confirmation_requested", UnionConfirmationRequested(
            case_id=case_id, org_unit=record.org_unit, requested_at=ctx.now, agreement=agreement,
            court_case_no=record.court_case_no), subject=case_id, topic="court.feedback", key=record.court_case_no)
        await pause_clocks(ctx, case_id, actor=actor)
        return settled.state
    await _resolve(ctx, settled, outcome="settled", agreement=agreement, actor=actor)
    return settled.state


async def confirmation_decided(ctx: HandlerContext, *, court_case_no: str, decision: str, decided_at: datetime,
                               reason: str) -> bool:
    """The court's decision on a settlement. False when the case is not (yet) waiting for it here: the caller
    parks the event."""
    record = await repo.by_ref(ctx.conn, "court_case_no", court_case_no)
    if record is None or record.state != "awaiting_confirmation":
        return False
    _referred_by_sender(ctx, record, "court")
    case = repo.domain(record)
    after = step(case.confirmation, decision, refusal=MediationError)
    confirmed = decision == "confirmed"  # resolved; else back to mediation, the agreement set aside
    await repo.save(ctx.conn, after, **({"resolved_at": ctx.now} if confirmed else {"agreement": None}))
    ctx.publish("mediation.confirmation_recorded", ConfirmationRecorded(
        case_id=case.case_id, court_case_no=court_case_no, decision=decision,  # type: ignore[arg-type]
        decided_at=decided_at, reason=reason), subject=case.case_id)
    caselog.log(ctx, case.case_id, actor=f"court:{record.court_code}", action=f"confirmation_{decision}",
                reason=reason)
    clocks = await ctx.deadlines.active_of(case.case_id, ALL)
    await resume_clocks(ctx, clocks, (TIER,), actor="court", reason=f"司法确认：{decision}")
    if confirmed:
        await _resolve(ctx, after, outcome="settled", agreement=Agreement.model_validate(record.agreement),
                       confirmed=True, actor="court", clocks=clocks)
    else:
        await resume_clocks(ctx, clocks, WINDOWS, actor="court", reason=f"法院不予确认：{reason}")
    return True


async def fail(ctx: HandlerContext, case_id: str, *, disputed_points: list[str], summary: str, to_legal_aid: bool,
               actor: str) -> None:
    """调解不成: the disputed points go back to the referring court or bureau, or with the case to legal aid."""
    record, case = await repo.held(ctx, case_id)
    points = [p.strip() for p in disputed_points if p.strip()]
    if not points:
        raise Invalid("调解不成须列明争议焦点", errors=[("disputed_points", "至少填写一项争议焦点")])
    failed = step(case.fail, refusal=MediationError)
    await repo.save(ctx.conn, failed, disputed_points=points, resolved_at=ctx.now)
    ctx.publish("mediation.failed", Failed(case_id=case_id, failed_at=ctx.now, disputed_points=points,
                                           summary=summary, to_legal_aid=to_legal_aid, actor=actor), subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action="failed", disputed_points=points, to_legal_aid=to_legal_aid)
    partner = _partner(record)
    returned_to = None
    if partner is not None:
        topic, key, ref = partner
        returned_to = "court" if topic == "court.feedback" else "arbitration"
        ctx.publish("union.mediation_failed", UnionMediationFailed(
            case_id=case_id, org_unit=record.org_unit, failed_at=ctx.now, disputed_points=points, summary=summary,
            **ref), subject=case_id, topic=topic, key=key)
    handover = None
    if to_legal_aid:
        handover = await ctx.deadlines.hand_over(case_id=case_id, kind=TIER, at=ctx.now, to="legal_aid")
        ctx.publish("mediation.handed_to_legal_aid", HandedToLegalAid(
            case_id=case_id, org_unit=record.org_unit, facts=CaseFacts.model_validate(record.facts),
            disputed_points=points, summary=summary, deadline=handover), subject=case_id)
    await _resolve(ctx, failed, outcome="failed", returned_to=returned_to, actor=actor,
                   meet_tier=handover is None, to_legal_aid=handover is not None)


async def withdraw(ctx: HandlerContext, case_id: str, *, reason: str, actor: str) -> None:
    """撤回: the applicant withdraws."""
    _, case = await repo.held(ctx, case_id)
    after = step(case.withdraw, refusal=MediationError)
    await repo.save(ctx.conn, after, resolved_at=ctx.now)
    ctx.publish("mediation.withdrawn", Withdrawn(case_id=case_id, withdrawn_at=ctx.now, reason=reason, actor=actor),
                subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action="withdrawn", reason=reason)
    await _resolve(ctx, after, outcome="withdrawn", actor=actor)


async def reopen(ctx: HandlerContext, *, case_id: str, route: str, reason: str, config: MediationConfig) -> None:
    """Follow-up found the agreement not honoured (docs/domain/case.md: a case can be reopened)."""
    record = await repo.get(ctx.conn, case_id, lock=True)
    if record is None or record.state != "resolved":
        return
    if route == "legal_aid":  # a confirmed agreement is enforceable: legal aid applies for enforcement
        ctx.publish("mediation.handed_to_legal_aid", HandedToLegalAid(
            case_id=case_id, org_unit=record.org_unit, facts=CaseFacts.model_validate(record.facts),
            disputed_points=["调解协议未履行，申请强制执行"], summary=reason), subject=case_id)
        caselog.log(ctx, case_id, actor="followup", action="enforcement_requested", reason=reason)
        return
    after = step(repo.domain(record).reopen, refusal=MediationError)
    await repo.save(ctx.conn, after, resolved_at=None)
    rule = tier_rule(record.tier, ctx.now)
    due_at, provisional = await ctx.due(rule, case_id=case_id)
    await ctx.deadlines.start(case_id=case_id, kind=TIER, started_at=ctx.now, due_at=due_at, provisional=provisional,
                              org_unit=record.org_unit, rule=rule, actor="followup", reason=f"重新调解：{reason}")
    ctx.publish("mediation.case_reopened", CaseReopened(case_id=case_id, reason=reason, mediator_id=after.mediator_id,
                                                        due_at=due_at), subject=case_id)
    caselog.log(ctx, case_id, actor="followup", action="reopened", reason=reason)
    if after.state == "awaiting_assignment":
        await assign(ctx, case_id, config=config, reason="重新调解")


async def court_filed(ctx: HandlerContext, *, court_case_no: str, filed_at: datetime) -> bool:
    """The court filed the case it referred (法院立案): an open mediation ends there. False when unknown here."""
    record = await repo.by_ref(ctx.conn, "court_case_no", court_case_no)
    if record is None:
        return False
    _referred_by_sender(ctx, record, "court")
    case = repo.domain(record)
    ctx.publish("mediation.partner_progress", PartnerProgress(
        case_id=case.case_id, kind="case_filed", at=filed_at, court_case_no=court_case_no), subject=case.case_id)
    caselog.log(ctx, case.case_id, actor=f"court:{record.court_code}", action="court_filed")
    if case.state != "resolved":
        after = case.court_filed()
        await repo.save(ctx.conn, after, resolved_at=ctx.now)
        await _resolve(ctx, after, outcome="closed_by_court", returned_to="court", actor="court")
    return True


async def bureau_progress(ctx: HandlerContext, *, arbitration_case_no: str, kind: str, at: datetime,
                          amount: float | None = None) -> bool:
    """The arbitration bureau accepted the case or issued its award: recorded on the case."""
    record = await repo.by_ref(ctx.conn, "arbitration_case_no", arbitration_case_no)
    if record is None:
        return False
    _referred_by_sender(ctx, record, "bureau")
    ctx.publish("mediation.partner_progress", PartnerProgress(
        case_id=record.case_id, kind=kind, at=at, arbitration_case_no=arbitration_case_no,  # type: ignore[arg-type]
        amount_awarded_cny=amount), subject=record.case_id)
    caselog.log(ctx, record.case_id, actor=f"bureau:{record.bureau_code}", action=kind,
                amount_awarded_cny=amount)
    return True
