"""Registering a submission (受理登记): validate it, link it to the open case of the same dispute or register a new
case, triage it, and send it on its way (``dispatch``).

A submission comes from a clerk (hotline, window, online form) or a partner's referral (court, arbitration
bureau). It links to an open case known by the same partner case number, or of the same worker(s) against the
same employer with an overlapping claim — only inside the submitter's scope: a possible duplicate elsewhere is
never linked, written into or disclosed; supervisors are told instead (``intake.duplicate_suspected``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from events.common import Channel, Claim, Employer, Tier, Worker
from events.intake import CaseFacts, CaseLinked, CaseReceived, CaseRefs, CaseTriaged, DuplicateSuspected, ValidationWarning
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.errors import FieldError, Forbidden, Invalid
from services.backbone.usecase import found
from services.calendar.model import shanghai_iso
from services.calendar.rules import tier_rule
from services.intake import query_codes
from services.intake import repository as repo
from services.intake.config import IntakeConfig
from services.intake.dispatch import TIER_DEADLINE, Outcome, dispatch, resolve_in_intake
from services.intake.domain.duplicates import DuplicateChoice, DuplicateChoiceError, case_to_link
from services.intake.domain.plan import RESOLVED_IN_INTAKE, Plan, plan
from services.intake.domain.triage import TIER_ORDER, Facts, TriageError
from services.intake.domain.validation import Finding, check
from services.intake.models import IntakeCase
from services.intake.tiering import apply_tier, tier_refused

SAME_PARTNER_REF = "同一合作方案号已登记"
SAME_DISPUTE = "同一职工、同一用人单位、诉求重叠，原案件尚未办结"
BECAME_GROUP = "关联后人数达到集体争议标准，至少按难点问题办理"


@dataclass(frozen=True)
class Submission:
    channel: Channel
    received_at: datetime
    region_code: str
    workers: list[Worker]
    employer: Employer
    claims: list[Claim]
    summary: str = ""
    refs: CaseRefs = field(default_factory=CaseRefs)
    tier: Tier | None = None
    tier_reason: str | None = None
    route: str | None = None
    answer: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    actor: str | None = None
    partner: bool = False
    """Partner referrals are accepted with checksum warnings recorded (no clerk to override them)."""
    duplicate: DuplicateChoice | None = None
    """The clerk's choice about the possible duplicates the preview showed (None: join the oldest, as before)."""
    registered_by: str | None = None
    """The login of the clerk registering it at the desk."""

    @property
    def triage_facts(self) -> Facts:
        return Facts(str(self.channel), self.claims, len(self.workers))

    def facts(self, *, group_dispute: bool) -> CaseFacts:
        return CaseFacts(channel=self.channel, received_at=self.received_at, region_code=self.region_code,
                         workers=self.workers, employer=self.employer, claims=self.claims, summary=self.summary,
                         refs=self.refs, group_dispute=group_dispute)


@dataclass(frozen=True)
class Preview:
    """What registering would do, before anything is written (登记预览): the triage, the due time, the route and
    unit, and the open cases of the same dispute within the clerk's scope that the submission could join."""

    plan: Plan
    due_at: datetime
    provisional: bool
    duplicates: list[IntakeCase]
    #: the names of the submission's workers on each possible duplicate
    matched_workers: dict[str, list[str]]
    warnings: list[ValidationWarning]

    def as_json(self, config: IntakeConfig) -> dict[str, Any]:
        unit = self.plan.unit
        decision = self.plan.decision
        return {
            "tier": str(decision.tier), "tier_rule": decision.rule, "tier_reason": decision.reason,
            "due_at": shanghai_iso(self.due_at), "provisional": self.provisional, "route": self.plan.route,
            "org_unit": unit.code if unit else None, "org_unit_name": unit.name if unit else None,
            "group_dispute": self.plan.group_dispute, "answer": self.plan.answer,
            "warnings": [w.model_dump() for w in self.warnings],
            "duplicates": [{
                "case_id": c.case_id, "status": c.status, "received_at": shanghai_iso(c.received_at),
                "employer_name": c.employer_name, "claim_types": c.claim_types, "worker_count": c.worker_count,
                "workers": self.matched_workers.get(c.case_id, []), "tier": c.tier, "due_at": shanghai_iso(c.due_at),
                "org_unit": c.org_unit, "org_unit_name": _unit_name(config, c.org_unit), "route": c.route,
            } for c in self.duplicates],
        }


def _unit_name(config: IntakeConfig, code: str | None) -> str | None:
    unit = config.hierarchy.get(code) if code else None
    return unit.name if unit else None


def field_errors(findings: list[Finding]) -> list[FieldError]:
    return [FieldError(f.field, reason=f.message, code=f.code) for f in findings]


async def register(ctx: HandlerContext, sub: Submission, *, config: IntakeConfig,
                   visible: Callable[[str | None], bool] | None = None) -> Outcome:
    """Register a submission. ``visible``: which units' cases the submitter may see (a clerk's scope); a possible
    duplicate outside it is never linked, written into or disclosed — it is flagged to supervisors instead."""
    warnings = _validated(ctx, sub, config)
    existing = await repo.by_partner_ref(ctx.conn, court_case_no=sub.refs.court_case_no,
                                         arbitration_case_no=sub.refs.arbitration_case_no)
    reason = SAME_PARTNER_REF
    if existing is not None and sub.partner and not _same_partner(existing, sub.refs):
        raise Forbidden("该案号已由其他法院或仲裁委登记", code="out-of-scope")
    elsewhere: IntakeCase | None = None
    declined: list[str] = []
    if existing is not None and visible is not None and not visible(existing.org_unit):
        existing, elsewhere = None, existing  # outside the submitter's scope: a new case, flagged, not disclosed
    elif existing is None:
        reason = SAME_DISPUTE
        inside, outside = await _possible_duplicates(ctx.conn, sub, visible, lock=True)
        try:
            chosen = case_to_link(sub.duplicate, [c.case_id for c in inside])
        except DuplicateChoiceError as exc:
            raise Invalid(str(exc), errors=[FieldError("duplicate.case_id", reason=str(exc), code="not_a_duplicate")],
                          code="not-a-duplicate") from exc
        existing = next((c for c in inside if c.case_id == chosen), None)
        if existing is None:
            declined = [c.case_id for c in inside]
            elsewhere = outside[0] if outside else None
    if existing is not None:
        return await _link(ctx, existing, sub, reason=reason, config=config)
    outcome = await _new_case(ctx, sub, warnings, config=config)
    outcome = replace(outcome, query_code=await query_codes.issue(
        ctx, outcome.case_id, phones=[w.phone for w in sub.workers], reason="registered", actor=sub.actor))
    if declined:  # the clerk saw the possible duplicates and registered a new case: the log says so
        caselog.log(ctx, outcome.case_id, actor=sub.actor, action="not_linked", other_cases=declined,
                    reason=(sub.duplicate.reason if sub.duplicate else None) or "受理员确认不是同一争议")
    if elsewhere is not None:
        ctx.publish("intake.duplicate_suspected", DuplicateSuspected(
            case_id=outcome.case_id, org_unit=outcome.org_unit, other_case_id=elsewhere.case_id,
            other_org_unit=elsewhere.org_unit, reason=reason, detected_at=ctx.now), subject=outcome.case_id)
        caselog.log(ctx, outcome.case_id, actor=None, action="duplicate_suspected", reason=reason)
    return outcome


async def preview(ctx: HandlerContext, sub: Submission, *, config: IntakeConfig,
                  visible: Callable[[str | None], bool] | None = None) -> Preview:
    """登记预览: the same checks as ``register`` (the same refusals), then what registering would do — nothing is
    written. The possible duplicates are only those within the clerk's scope."""
    warnings = _validated(ctx, sub, config)
    chosen = _planned(sub, config)
    due_at, provisional = tier_rule(chosen.decision.tier, sub.received_at).due(ctx.calendar)
    inside, _ = await _possible_duplicates(ctx.conn, sub, visible, lock=False)
    names = await repo.workers_among(ctx.conn, [c.case_id for c in inside], [w.id_number for w in sub.workers])
    return Preview(chosen, due_at, provisional, inside, names, warnings)


async def _possible_duplicates(conn: Any, sub: Submission, visible: Callable[[str | None], bool] | None, *,
                               lock: bool) -> tuple[list[IntakeCase], list[IntakeCase]]:
    """The open cases of the same dispute: (within the submitter's scope, outside it)."""
    matches = await repo.open_matches(conn, uscc=sub.employer.uscc, id_numbers=[w.id_number for w in sub.workers],
                                      claim_types=sorted(sub.triage_facts.claim_types), lock=lock)
    inside = [c for c in matches if visible is None or visible(c.org_unit)]
    return inside, [c for c in matches if c not in inside]


def _planned(sub: Submission, config: IntakeConfig) -> Plan:
    try:
        return plan(config.policy, config.hierarchy, sub.triage_facts, region_code=sub.region_code,
                    home_province=sub.workers[0].id_number[:2], tier=sub.tier, tier_reason=sub.tier_reason,
                    route=sub.route, answer=sub.answer)
    except TriageError as exc:
        raise tier_refused(exc) from exc


def _validated(ctx: HandlerContext, sub: Submission, config: IntakeConfig) -> list[ValidationWarning]:
    """Errors refuse the submission; checksum warnings need a clerk's reason each (partners: recorded)."""
    checked = check(received_at=sub.received_at, region_code=sub.region_code, workers=sub.workers,
                    employer=sub.employer, regions=config.regions, now=ctx.now)
    if checked.errors:
        raise Invalid("；".join(f.message for f in checked.errors), errors=field_errors(checked.errors))
    unresolved = [] if sub.partner else checked.unresolved(sub.overrides)
    if unresolved:
        raise Invalid("以下信息未通过校验，请核对；确认无误的，请逐项说明理由后重新提交", errors=field_errors(unresolved),
                      code="needs-override")
    if sub.route in RESOLVED_IN_INTAKE and not (sub.answer or "").strip():
        raise Invalid("当场答复或转出需要填写答复内容", errors=[FieldError("answer", reason="缺少答复内容", code="missing")])
    return [ValidationWarning(field=w.field, code=w.code, message=w.message,
                              override_reason=sub.overrides.get(w.field),
                              overridden_by=sub.actor if sub.overrides.get(w.field) else None)
            for w in checked.warnings]


def _same_partner(case: IntakeCase, refs: CaseRefs) -> bool:
    """A partner's referral may join only a case it (the same court or bureau) referred."""
    if refs.court_code and case.court_code and case.court_code != refs.court_code:
        return False
    return not (refs.bureau_code and case.bureau_code and case.bureau_code != refs.bureau_code)


async def _new_case(ctx: HandlerContext, sub: Submission, warnings: list[ValidationWarning], *,
                    config: IntakeConfig) -> Outcome:
    facts = sub.triage_facts
    chosen = _planned(sub, config)
    decision, group = chosen.decision, chosen.group_dispute
    case_id = await repo.next_case_id(ctx.conn, sub.received_at)
    rule = tier_rule(decision.tier, sub.received_at)
    due_at, provisional = await ctx.due(rule, case_id=case_id)
    case_facts = sub.facts(group_dispute=group)
    route, answer, unit = chosen.route, chosen.answer, chosen.unit
    dispatched = not chosen.resolved_in_intake  # 派单 as it is registered: the row is written dispatched at once
    case = await repo.insert_case(
        ctx.conn, case_id=case_id, status="dispatched" if dispatched else "received", channel=str(sub.channel),
        received_at=sub.received_at, region_code=sub.region_code, employer_uscc=sub.employer.uscc,
        employer_name=sub.employer.name, claim_types=sorted(facts.claim_types), worker_count=len(sub.workers),
        group_dispute=group, tier=str(decision.tier), tier_rule=decision.rule, tier_reason=decision.reason,
        due_at=due_at, provisional=provisional, court_code=sub.refs.court_code, court_case_no=sub.refs.court_case_no,
        bureau_code=sub.refs.bureau_code, arbitration_case_no=sub.refs.arbitration_case_no,
        facts=case_facts.model_dump(mode="json"), warnings=[w.model_dump() for w in warnings],
        registered_by=sub.registered_by, org_unit=unit.code if dispatched and unit else None,
        route=route if dispatched else None, dispatch_attempt=1 if dispatched else 0)
    await repo.add_workers(ctx.conn, case_id, sub.workers)
    await repo.add_refs(ctx.conn, case_id, court_case_no=sub.refs.court_case_no,
                        arbitration_case_no=sub.refs.arbitration_case_no)
    caselog.log(ctx, case_id, actor=sub.actor, action="received", channel=str(sub.channel),
                tier=str(decision.tier), rule=decision.rule, warnings=[w.code for w in warnings])
    ctx.publish("intake.case_received", CaseReceived(case_id=case_id, facts=case_facts, warnings=warnings,
                                                     actor=sub.actor), subject=case_id)
    ctx.publish("intake.case_triaged", CaseTriaged(
        case_id=case_id, tier=decision.tier, rule=decision.rule, reason=decision.reason,
        received_at=sub.received_at, due_at=due_at, provisional=provisional,
        actor=sub.actor if decision.rule == "clerk_override" else None), subject=case_id)
    attributes = {"tier": str(decision.tier)}
    if not dispatched:
        await ctx.deadlines.start(case_id=case_id, kind=TIER_DEADLINE, started_at=sub.received_at, due_at=due_at,
                                  provisional=provisional, rule=rule, attributes=attributes)
        return await resolve_in_intake(ctx, case_id, route, answer or "", actor=sub.actor,
                                       org_unit=unit.code if unit else None)
    assert unit is not None
    handover = await ctx.deadlines.start_handed_over(case_id=case_id, kind=TIER_DEADLINE, started_at=sub.received_at,
                                                     due_at=due_at, to=route, provisional=provisional, rule=rule,
                                                     attributes=attributes)
    return await dispatch(ctx, case_id, unit, route, attempt=1, handover=handover, actor=sub.actor, written=case)


async def _link(ctx: HandlerContext, case: IntakeCase, sub: Submission, *, reason: str,
                config: IntakeConfig) -> Outcome:
    """关联: the submission joins the open case — new workers and partner case numbers; a link that makes it a
    group dispute raises its tier to at least 难点."""
    case_id = case.case_id
    new_workers = await repo.add_workers(ctx.conn, case_id, sub.workers)
    refs: dict[str, Any] = {}
    for key in ("court_code", "court_case_no", "bureau_code", "arbitration_case_no"):
        value = getattr(sub.refs, key)
        if value and not getattr(case, key):
            refs[key] = value
    new_refs = await repo.add_refs(ctx.conn, case_id, court_case_no=sub.refs.court_case_no,
                                   arbitration_case_no=sub.refs.arbitration_case_no)
    total = await repo.workers_of(ctx.conn, case_id)
    group = case.group_dispute or config.policy.is_group(Facts(case.channel, sub.claims, total))
    if refs or new_workers:
        await repo.update_case(ctx.conn, case_id, worker_count=total, group_dispute=group, **refs)
    ctx.publish("intake.case_linked", CaseLinked(case_id=case_id, submission=sub.facts(group_dispute=group),
                                                 reason=reason, new_workers=new_workers, group_dispute=group),
                subject=case_id)
    caselog.log(ctx, case_id, actor=sub.actor, action="linked", reason=reason, new_workers=new_workers,
                channel=str(sub.channel), refs=new_refs)
    if group and not case.group_dispute and TIER_ORDER[Tier(case.tier)] < TIER_ORDER[Tier.difficult]:
        await apply_tier(ctx, case, Tier.difficult, BECAME_GROUP, actor=sub.actor)
    outcome = Outcome.of(found(await repo.get(ctx.conn, case_id), f"案件 {case_id} 不存在"), linked=True)
    if new_workers or not sub.partner:  # whoever came brings a code of their own; earlier codes keep working
        outcome = replace(outcome, query_code=await query_codes.issue(
            ctx, case_id, phones=[w.phone for w in sub.workers], reason="registered", actor=sub.actor))
    return outcome


@dataclass
class Statuses:
    """The statuses follow-up's events set in a consumed batch (closed, open again), the later event winning, written
    in one statement when the batch's work is done (``HandlerContext.gather``) instead of one a event — or
    before, when a referral in the same batch is about to look for open cases (``write_statuses``)."""

    by_case: dict[str, str] = field(default_factory=dict)

    async def flush(self, ctx: HandlerContext) -> None:
        if self.by_case:
            statuses, self.by_case = self.by_case, {}
            await repo.set_statuses(ctx.conn, statuses)


def _statuses(ctx: HandlerContext) -> Statuses:
    return ctx.gather("intake.statuses", Statuses)


async def write_statuses(ctx: HandlerContext) -> None:
    """The statuses this batch has set so far, written now: what reads open cases next sees them."""
    held = ctx.gathered.get("intake.statuses")
    if held is not None:
        await held.flush(ctx)


def case_closed(ctx: HandlerContext, case_id: str) -> None:
    """Follow-up closed the case (结案): new submissions of the same dispute no longer link to it."""
    _statuses(ctx).by_case[case_id] = "closed"


def case_reopened(ctx: HandlerContext, case_id: str) -> None:
    """Follow-up reopened the case: open again, new submissions link to it."""
    _statuses(ctx).by_case[case_id] = "dispatched"
