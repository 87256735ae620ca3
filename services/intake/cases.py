"""Intake's use cases: register (validate, de-duplicate or link, triage, dispatch), reclassify, decline.

Each runs inside the caller's unit of work (one transaction with its events and deadlines): the HTTP
routes and the partner-referral consumers share them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from events.common import Channel, Claim, Employer, Tier, Worker
from events.deadlines import DeadlineHandover
from events.intake import (
    CaseAnswered,
    CaseDeclined,
    CaseDispatched,
    CaseFacts,
    CaseLinked,
    CaseReceived,
    CaseReclassified,
    CaseRefs,
    CaseTriaged,
    DuplicateSuspected,
    ValidationWarning,
)
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.http import Problem
from services.backbone.usecase import Refused
from services.calendar.model import shanghai_iso
from services.calendar.rules import tier_rule
from services.hierarchy.orgunits import Hierarchy, OrgUnit, default_hierarchy
from services.hierarchy.regions import Regions, default_regions
from services.intake import repository as repo
from services.intake.domain.triage import TIER_ORDER, Facts, Policy, TriageError, default_policy
from services.intake.domain.validation import Finding, check

TIER_DEADLINE = "tier"
RESOLVED_IN_INTAKE = ("answered", "referred_elsewhere")
OUT_OF_AREA = "案发地不在本系统服务范围内，已告知职工向属地工会或劳动保障监察机构求助"


@dataclass(frozen=True)
class IntakeConfig:
    policy: Policy
    hierarchy: Hierarchy
    regions: Regions

    @classmethod
    def default(cls) -> IntakeConfig:
        return cls(default_policy(), default_hierarchy(), default_regions())


class IntakeRefused(Refused):
    """The request cannot be applied; ``status`` is the HTTP status, messages are for the clerk."""

    def __init__(self, status: int, message: str, *, code: str, findings: list[Finding] | None = None):
        super().__init__(status, message)
        self.code, self.findings = code, findings or []

    def problem(self) -> Problem:
        return Problem(self.status, self.message, type_=f"urn:laborcase:problem:{self.code.replace('_', '-')}",
                       errors=[{"field": f.field, "code": f.code, "reason": f.message} for f in self.findings])

    def describe(self) -> str:
        details = "; ".join(f"{f.field}: {f.code}" for f in self.findings)
        return f"{self.code}: {self.message}" + (f" ({details})" if details else "")


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

    @property
    def triage_facts(self) -> Facts:
        return Facts(str(self.channel), self.claims, len(self.workers))

    def facts(self, *, group_dispute: bool) -> CaseFacts:
        return CaseFacts(channel=self.channel, received_at=self.received_at, region_code=self.region_code,
                         workers=self.workers, employer=self.employer, claims=self.claims, summary=self.summary,
                         refs=self.refs, group_dispute=group_dispute)


@dataclass(frozen=True)
class Outcome:
    case_id: str
    status: str
    tier: str
    due_at: datetime
    provisional: bool
    org_unit: str | None
    route: str | None
    linked: bool = False
    warnings: list[ValidationWarning] = field(default_factory=list)

    def as_json(self, hierarchy: Hierarchy) -> dict[str, Any]:
        unit = hierarchy.get(self.org_unit) if self.org_unit else None
        return {"case_id": self.case_id, "status": self.status, "tier": self.tier, "due_at": shanghai_iso(self.due_at),
                "provisional": self.provisional, "org_unit": self.org_unit,
                "org_unit_name": unit.name if unit else None, "route": self.route, "linked": self.linked,
                "warnings": [w.model_dump() for w in self.warnings]}


def _outcome(row: asyncpg.Record, *, linked: bool = False) -> Outcome:
    return Outcome(row["case_id"], row["status"], row["tier"], row["due_at"], row["provisional"], row["org_unit"],
                   row["route"], linked, [ValidationWarning(**w) for w in row["warnings"]])


async def register(ctx: HandlerContext, sub: Submission, *, config: IntakeConfig,
                   visible: Callable[[str | None], bool] | None = None) -> Outcome:
    """Register a submission. ``visible``: which units' cases the submitter may see (a clerk's scope); a possible
    duplicate outside it is never linked, written into or disclosed — it is flagged to supervisors instead."""
    checked = check(received_at=sub.received_at, region_code=sub.region_code, workers=sub.workers,
                    employer=sub.employer, regions=config.regions, now=ctx.now)
    if checked.errors:
        raise IntakeRefused(422, "；".join(f.message for f in checked.errors), code="invalid", findings=checked.errors)
    unresolved = [] if sub.partner else checked.unresolved(sub.overrides)
    if unresolved:
        raise IntakeRefused(422, "以下信息未通过校验，请核对；确认无误的，请逐项说明理由后重新提交",
                            code="needs_override", findings=unresolved)
    if sub.route in RESOLVED_IN_INTAKE and not (sub.answer or "").strip():
        raise IntakeRefused(422, "当场答复或转出需要填写答复内容", code="invalid",
                            findings=[Finding("answer", "missing", "缺少答复内容")])
    warnings = [ValidationWarning(field=w.field, code=w.code, message=w.message,
                                  override_reason=sub.overrides.get(w.field),
                                  overridden_by=sub.actor if sub.overrides.get(w.field) else None)
                for w in checked.warnings]

    existing = await repo.by_partner_ref(ctx.conn, court_case_no=sub.refs.court_case_no,
                                         arbitration_case_no=sub.refs.arbitration_case_no)
    reason = "同一合作方案号已登记"
    if existing is not None and sub.partner and not _same_partner(existing, sub.refs):
        raise IntakeRefused(403, "该案号已由其他法院或仲裁委登记", code="out_of_scope")
    if existing is None:
        existing = await repo.open_match(ctx.conn, uscc=sub.employer.uscc,
                                         id_numbers=[w.id_number for w in sub.workers],
                                         claim_types=sorted(sub.triage_facts.claim_types))
        reason = "同一职工、同一用人单位、诉求重叠，原案件尚未办结"
    elsewhere: asyncpg.Record | None = None
    if existing is not None and visible is not None and not visible(existing["org_unit"]):
        existing, elsewhere = None, existing  # outside the submitter's scope: a new case, flagged, not disclosed
    if existing is not None:
        return await _link(ctx, existing, sub, reason=reason, config=config)
    outcome = await _new_case(ctx, sub, warnings, config=config)
    if elsewhere is not None:
        ctx.publish("intake.duplicate_suspected", DuplicateSuspected(
            case_id=outcome.case_id, org_unit=outcome.org_unit, other_case_id=elsewhere["case_id"],
            other_org_unit=elsewhere["org_unit"], reason=reason, detected_at=ctx.now), subject=outcome.case_id)
        await caselog.log(ctx, outcome.case_id, actor=None, action="duplicate_suspected", reason=reason)
    return outcome


def _same_partner(row: asyncpg.Record, refs: CaseRefs) -> bool:
    """A partner's referral may join only a case it (the same court or bureau) referred."""
    if refs.court_code and row["court_code"] and row["court_code"] != refs.court_code:
        return False
    return not (refs.bureau_code and row["bureau_code"] and row["bureau_code"] != refs.bureau_code)


async def _new_case(ctx: HandlerContext, sub: Submission, warnings: list[ValidationWarning], *,
                    config: IntakeConfig) -> Outcome:
    facts = sub.triage_facts
    try:
        policy = config.policy
        decision = policy.override(facts, sub.tier, sub.tier_reason) if sub.tier else policy.classify(facts)
    except TriageError as exc:
        raise IntakeRefused(422, str(exc), code="invalid", findings=[Finding("tier", "tier_rule", str(exc))]) from exc
    case_id = await repo.next_case_id(ctx.conn, sub.received_at)
    group = config.policy.is_group(facts)
    rule = tier_rule(decision.tier, sub.received_at)
    due_at, provisional = await ctx.due(rule, case_id=case_id)
    case_facts = sub.facts(group_dispute=group)
    await repo.insert_case(ctx.conn, {
        "case_id": case_id, "status": "received", "channel": str(sub.channel), "received_at": sub.received_at,
        "region_code": sub.region_code, "employer_uscc": sub.employer.uscc, "employer_name": sub.employer.name,
        "claim_types": sorted(facts.claim_types), "worker_count": len(sub.workers), "group_dispute": group,
        "tier": str(decision.tier), "tier_rule": decision.rule, "tier_reason": decision.reason, "due_at": due_at,
        "provisional": provisional, "court_code": sub.refs.court_code, "court_case_no": sub.refs.court_case_no,
        "bureau_code": sub.refs.bureau_code, "arbitration_case_no": sub.refs.arbitration_case_no,
        "facts": case_facts.model_dump(mode="json"), "warnings": [w.model_dump() for w in warnings],
    })
    await repo.add_workers(ctx.conn, case_id, sub.workers)
    await repo.add_refs(ctx.conn, case_id, court_case_no=sub.refs.court_case_no,
                        arbitration_case_no=sub.refs.arbitration_case_no)
    await caselog.log(ctx, case_id, actor=sub.actor, action="received", channel=str(sub.channel),
                     tier=str(decision.tier), rule=decision.rule, warnings=[w.code for w in warnings])
    ctx.publish("intake.case_received", CaseReceived(case_id=case_id, facts=case_facts, warnings=warnings,
                                                     actor=sub.actor), subject=case_id)
    ctx.publish("intake.case_triaged", CaseTriaged(
        case_id=case_id, tier=decision.tier, rule=decision.rule, reason=decision.reason,
        received_at=sub.received_at, due_at=due_at, provisional=provisional,
        actor=sub.actor if decision.rule == "clerk_override" else None), subject=case_id)
    clock = await ctx.deadlines.start(case_id=case_id, kind=TIER_DEADLINE, started_at=sub.received_at, due_at=due_at,
                                      provisional=provisional, rule=rule, attributes={"tier": str(decision.tier)})

    route = sub.route or config.policy.route(facts)
    answer = sub.answer
    unit = config.hierarchy.serving(sub.region_code, home_province=sub.workers[0].id_number[:2])
    if route not in RESOLVED_IN_INTAKE and unit is None:
        route, answer = "referred_elsewhere", OUT_OF_AREA
    if route in RESOLVED_IN_INTAKE:
        return await _resolve_in_intake(ctx, case_id, route, answer or "", actor=sub.actor,
                                        org_unit=unit.code if unit else None)
    assert unit is not None
    handover = await ctx.deadlines.hand_over(case_id=case_id, kind=TIER_DEADLINE, at=ctx.now, to=route, current=clock)
    return await _dispatch(ctx, case_id, unit, route, attempt=1, handover=handover, actor=sub.actor)


async def _resolve_in_intake(ctx: HandlerContext, case_id: str, resolution: str, answer: str, *,
                             actor: str | None, org_unit: str | None) -> Outcome:
    row = await repo.update_case(ctx.conn, case_id, status=resolution, route=resolution, answer=answer,
                                 org_unit=org_unit)
    ctx.publish("intake.case_answered", CaseAnswered(case_id=case_id, resolution=resolution,  # type: ignore[arg-type]
                                                     answer=answer, answered_at=ctx.now, actor=actor, org_unit=org_unit),
                subject=case_id)
    await ctx.deadlines.meet(case_id=case_id, kind=TIER_DEADLINE, at=ctx.now, actor=actor, reason=resolution)
    await caselog.log(ctx, case_id, actor=actor, action=resolution, answer=answer)
    return _outcome(row)


async def _dispatch(ctx: HandlerContext, case_id: str, unit: OrgUnit, route: str, *, attempt: int,
                    handover: DeadlineHandover | None, actor: str | None) -> Outcome:
    row = await repo.update_case(ctx.conn, case_id, status="dispatched", org_unit=unit.code, route=route,
                                 dispatch_attempt=attempt)
    assert row is not None
    ctx.publish("intake.case_dispatched", CaseDispatched(
        case_id=case_id, org_unit=unit.code, route=route, tier=row["tier"], due_at=row["due_at"],  # type: ignore[arg-type]
        provisional=row["provisional"], facts=CaseFacts.model_validate(row["facts"]), attempt=attempt,
        deadline=handover), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="dispatched", org_unit=unit.code, route=route,
                      attempt=attempt)
    return _outcome(row)


async def _link(ctx: HandlerContext, row: asyncpg.Record, sub: Submission, *, reason: str,
                config: IntakeConfig) -> Outcome:
    case_id = row["case_id"]
    new_workers = await repo.add_workers(ctx.conn, case_id, sub.workers)
    refs: dict[str, Any] = {}
    for key in ("court_code", "court_case_no", "bureau_code", "arbitration_case_no"):
        value = getattr(sub.refs, key)
        if value and not row[key]:
            refs[key] = value
    new_refs = await repo.add_refs(ctx.conn, case_id, court_case_no=sub.refs.court_case_no,
                                   arbitration_case_no=sub.refs.arbitration_case_no)
    total = await repo.workers_of(ctx.conn, case_id)
    group = row["group_dispute"] or config.policy.is_group(Facts(row["channel"], sub.claims, total))
    if refs or new_workers:
        await repo.update_case(ctx.conn, case_id, worker_count=total, group_dispute=group, **refs)
    ctx.publish("intake.case_linked", CaseLinked(case_id=case_id, submission=sub.facts(group_dispute=group),
                                                 reason=reason, new_workers=new_workers, group_dispute=group),
                subject=case_id)
    await caselog.log(ctx, case_id, actor=sub.actor, action="linked", reason=reason, new_workers=new_workers,
                     channel=str(sub.channel), refs=new_refs)
    if group and not row["group_dispute"] and TIER_ORDER[Tier(row["tier"])] < TIER_ORDER[Tier.difficult]:
        await _reclassify(ctx, row, Tier.difficult, "关联后人数达到集体争议标准，至少按难点问题办理", actor=sub.actor)
    return _outcome(await repo.get(ctx.conn, case_id), linked=True)


async def reclassify(ctx: HandlerContext, case_id: str, *, tier: Tier, reason: str, actor: str,
                     config: IntakeConfig) -> Outcome:
    row = await repo.get(ctx.conn, case_id, lock=True)
    if row is None:
        raise IntakeRefused(404, f"案件 {case_id} 不存在", code="not_found")
    if row["status"] not in repo.OPEN:
        raise IntakeRefused(409, "案件已办结，不能调整分级", code="closed")
    if row["tier"] == tier:
        raise IntakeRefused(409, "分级未变化", code="unchanged")
    try:
        config.policy.override(Facts(row["channel"], [], row["worker_count"]), tier, reason)
    except TriageError as exc:
        raise IntakeRefused(422, str(exc), code="invalid", findings=[Finding("tier", "tier_rule", str(exc))]) from exc
    await _reclassify(ctx, row, tier, reason.strip(), actor=actor)
    return _outcome(await repo.get(ctx.conn, case_id))


async def _reclassify(ctx: HandlerContext, row: asyncpg.Record, tier: Tier, reason: str, *, actor: str | None) -> None:
    case_id = row["case_id"]
    rule = tier_rule(tier, row["received_at"])
    due_at, provisional = await ctx.due(rule, case_id=case_id)
    await repo.update_case(ctx.conn, case_id, tier=str(tier), tier_rule="reclassified", tier_reason=reason,
                           due_at=due_at, provisional=provisional)
    await caselog.log(ctx, case_id, actor=actor, action="reclassified", from_tier=row["tier"], to_tier=str(tier),
                     reason=reason, due_at=due_at.isoformat())
    ctx.publish("intake.case_reclassified", CaseReclassified(
        case_id=case_id, from_tier=row["tier"], to_tier=tier, reason=reason, actor=actor or "system",
        received_at=row["received_at"], due_at=due_at, provisional=provisional), subject=case_id)
    if row["status"] == "received":  # intake still holds the clock
        await ctx.deadlines.reschedule(case_id=case_id, kind=TIER_DEADLINE, due_at=due_at, provisional=provisional,
                                       at=ctx.now, actor=actor, reason=reason, rule=rule)


async def decline(ctx: HandlerContext, case_id: str, *, org_unit: str, reason: str, actor: str,
                  config: IntakeConfig) -> Outcome:
    """退单: the unit gives the case back with a reason; it goes to the parent unit."""
    row = await repo.get(ctx.conn, case_id, lock=True)
    if row is None:
        raise IntakeRefused(404, f"案件 {case_id} 不存在", code="not_found")
    if row["status"] != "dispatched":
        raise IntakeRefused(409, "只有已派单、未办结的案件可以退单", code="not_dispatched")
    if row["org_unit"] != org_unit:
        raise IntakeRefused(409, "只能由当前承办单位退单", code="not_holder")
    parent = config.hierarchy.parent(org_unit)
    if parent is None:
        raise IntakeRefused(409, "最高一级工会不能退单，请自行办理或转出", code="no_parent")
    ctx.publish("intake.case_declined", CaseDeclined(case_id=case_id, org_unit=org_unit, reason=reason, actor=actor,
                                                     redispatched_to=parent.code), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="declined", org_unit=org_unit, reason=reason)
    return await _dispatch(ctx, case_id, parent, row["route"], attempt=row["dispatch_attempt"] + 1, handover=None,
                           actor=actor)
