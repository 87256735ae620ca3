"""The projection: every event of every service becomes the case as a whole, its timeline, deadlines and alerts.

Order-insensitive on purpose — events of one case arrive on several topics with no order between them, and a
rebuild replays topics one after another: each guarded field keeps the time of the event that set it, the
timeline is sorted by event time when read, and alerts follow the deadline's latest known state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from events.deadlines import DeadlineSignal
from events.envelope import CloudEvent
from services.backbone import tracing
from services.backbone.consumer import HandlerContext, Handlers
from services.hierarchy.orgunits import Hierarchy
from services.supervision import alerts, fold, repository
from services.supervision.domain import worker_steps
from services.supervision.domain.timeline import describe

PARTNER_INBOUND = ("court.case_referred", "court.confirmation_decided", "court.case_filed", "bureau.case_referred",
                   "bureau.arbitration_accepted", "bureau.award_issued")
#: the signals after which a deadline's alerts are resolved (extended or resumed: only when it is open again)
_RESOLVING = ("met", "cancelled")
AfterWrite = Callable[[], Awaitable[None]]


@dataclass
class _DeadlineEvent:
    state: fold.DeadlineState
    signal: str


@dataclass
class Batch:
    """A consumed batch's effect on the projection, folded in memory (services/supervision/fold.py) and written
    at the batch's end in a few set-based statements, in this order: the cases (made, then changed at once), the
    court and arbitration numbers, the deadlines (folded against what the database holds) and each case's due
    time, the timeline, the worker's view (made, then changed at once); then, event by event in the batch's order,
    what reads those rows back: the alerts."""

    cases: dict[str, fold.CaseChange] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    timeline: list[tuple[Any, ...]] = field(default_factory=list)
    deadlines: list[_DeadlineEvent] = field(default_factory=list)
    #: the worker's view (services/supervision/repository.py PUBLIC_VIEWS): steps, resolved, unit, query codes
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    resolved: dict[str, tuple[bool, datetime]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    codes: dict[str, fold.CodeChange] = field(default_factory=dict)
    #: alert work in event order; a deadline event's is given whether the event was the newest when it came
    after: list[Callable[[list[bool]], Awaitable[None]]] = field(default_factory=list)
    #: deadlines of the batch looked up for alerts not resolved (``checked``), and those that have one
    checked: set[str] = field(default_factory=set)
    alerted: set[str] = field(default_factory=set)

    def case(self, case_id: str) -> fold.CaseChange:
        change = self.cases.get(case_id)
        if change is None:
            change = self.cases[case_id] = fold.CaseChange(case_id)
        return change

    def add_refs(self, case_id: str, refs: dict[str, Any]) -> None:
        for key in ("court_case_no", "arbitration_case_no"):
            if refs.get(key):
                self.refs.setdefault(refs[key], case_id)

    def add_code(self, case_id: str, code_hash: str, replaces: bool) -> None:
        self.codes[case_id] = self.codes.get(case_id, fold.CodeChange()).then(code_hash, replaces)

    def resolved_for_worker(self, case_id: str, resolved: bool, at: datetime) -> None:
        held = self.resolved.get(case_id)
        if held is None or held[1] <= at:
            self.resolved[case_id] = (resolved, at)

    async def flush(self, ctx: HandlerContext) -> None:
        conn = ctx.conn
        if self.cases:
            await repository.write_cases(conn, list(self.cases.values()))
        if self.refs:
            await repository.write_refs(conn, self.refs)
        newest: list[bool] = []
        if self.deadlines:
            ids = sorted({e.state.deadline_id for e in self.deadlines})
            if len(ids) == len(self.deadlines):  # each deadline once: one upsert says which were newest
                kept = await repository.upsert_deadlines(conn, [e.state for e in self.deadlines])
                newest = [e.state.deadline_id in kept for e in self.deadlines]
            else:  # several events of one deadline: folded against what the database holds
                known = await repository.known_deadlines(conn, ids)
                states, newest = fold.fold_deadlines(known, [e.state for e in self.deadlines])
                await repository.upsert_deadlines(conn, list(states.values()))
            tier_cases = {e.state.case_id for e in self.deadlines if e.state.kind == "tier"}
            if tier_cases:
                await repository.follow_tier_deadlines(conn, list(tier_cases))
        if self.timeline:
            await repository.write_timeline(conn, self.timeline)
        if self.steps or self.resolved or self.units or self.codes:
            await repository.write_public_views(conn, self.steps, self.resolved, self.units, self.codes)
        after, self.after = self.after, []  # each work holds the batch: kept, it would hold the batch in a cycle
        for work in after:
            await work(newest)


def _batch(ctx: HandlerContext) -> Batch:
    return ctx.gather("supervision.projection", Batch)


# --- per event type: what it does to its case ------------------------------------------------------------------

Apply = Callable[[Batch, fold.CaseChange, CloudEvent, dict[str, Any]], None]


def _received(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    f = d["facts"]
    amount = sum(float(x.get("amount_cny") or 0) for x in f["claims"])
    c.set(channel=f["channel"], region_code=f["region_code"], received_at=f["received_at"],
          worker_count=len(f["workers"]), claim_types=sorted({x["type"] for x in f["claims"]}), claim_amount=amount,
          group_dispute=f.get("group_dispute", False))
    c.add_parties([w["name"] for w in f["workers"]], [w["id_number"] for w in f["workers"]], f["employer"]["name"])
    refs = f.get("refs", {})
    b.add_refs(c.case_id, refs)
    if refs.get("court_code") or refs.get("bureau_code"):
        c.set(partner_code=refs.get("court_code") or refs.get("bureau_code"))
    c.guard("status", "received", e.time)
    c.guard("stage", "intake", e.time)


def _tier(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    c.guard("tier", d.get("tier") or d.get("to_tier"), e.time)


def _linked(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    c.add_workers(d.get("new_workers", 0), d.get("group_dispute", False))
    workers = d["submission"].get("workers", [])
    c.add_parties([w["name"] for w in workers], [w["id_number"] for w in workers], None)
    b.add_refs(c.case_id, d["submission"].get("refs", {}))


def _dispatched(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    c.guard("org_unit", d["org_unit"], e.time)
    c.guard("status", "dispatched", e.time)
    c.guard("stage", d["route"], e.time)
    c.set(route=d["route"])


def _answered(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    c.guard("status", "resolved", e.time)
    if d.get("org_unit"):
        c.guard("org_unit", d["org_unit"], e.time)
    c.set(route=d["resolution"], resolved_at=d["answered_at"])


def _mediation_opened(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    c.guard("stage", "mediation", e.time)
    c.guard("org_unit", d["org_unit"], e.time)


def _assigned(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    c.set(mediator_id=d["mediator_id"], mediator_name=d["mediator_name"])
    c.guard("status", "in_mediation", e.time)


def _settled(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    c.set(settled_amount=float(d["agreement"]["amount_cny"]))


def _mediation_resolved(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    c.set(mediation_outcome=d["outcome"], returned_to=d.get("returned_to"))
    if d.get("to_legal_aid"):
        c.guard("stage", "legal_aid", e.time)
        return
    c.set(resolved_at=d["resolved_at"])
    c.guard("status", "resolved", e.time)
    c.guard("stage", "followup", e.time)


def _reopened(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    c.count_reopening()
    c.guard("status", "reopened", e.time)


def _legal_aid(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    c.set(legal_aid=True)
    c.guard("stage", "legal_aid", e.time)
    if d.get("org_unit"):
        c.guard("org_unit", d["org_unit"], e.time)


def _represented(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    c.guard("status", "represented", e.time)


def _concluded(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    c.set(amount_recovered=float(d["amount_recovered_cny"]), resolved_at=d["concluded_at"])
    c.guard("status", "resolved", e.time)
    c.guard("stage", "followup", e.time)


def _satisfaction(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    if d.get("satisfaction"):
        c.set(satisfaction=d["satisfaction"])


def _closed(b: Batch, c: fold.CaseChange, e: CloudEvent, d: dict[str, Any]) -> None:
    c.set(closed_at=d["closed_at"])
    c.guard("status", "closed", e.time)
    c.guard("stage", "closed", e.time)


APPLY: dict[str, Apply] = {
    "intake.case_received": _received,
    "intake.case_triaged": _tier,
    "intake.case_reclassified": _tier,
    "intake.case_linked": _linked,
    "intake.case_dispatched": _dispatched,
    "intake.case_answered": _answered,
    "mediation.case_opened": _mediation_opened,
    "mediation.mediator_assigned": _assigned,
    "mediation.settled": _settled,
    "mediation.case_resolved": _mediation_resolved,
    "mediation.case_reopened": _reopened,
    "followup.case_reopened": _reopened,
    "legalaid.application_received": _legal_aid,
    "legalaid.lawyer_assigned": _represented,
    "legalaid.case_concluded": _concluded,
    "followup.completed": _satisfaction,
    "followup.case_closed": _closed,
}


def handlers(*, hierarchy: Hierarchy) -> Handlers:
    """One handler for every event type but supervision's own and sessions' (auth.* concern sessions, not cases:
    the runtime keeps the revocations)."""
    from events.catalog import EVENTS

    names = {code: unit.name for code, unit in hierarchy.units.items()}

    async def project(ctx: HandlerContext, event: CloudEvent, data: Any) -> None:
        raw = event.data or {}  # stored as published
        if event.type in PARTNER_INBOUND:
            d = data.model_dump()  # typed: datetimes, amounts
            await repository.record_partner_event(
                ctx.conn, event_id=event.id, ref=d.get("court_case_no") or d.get("arbitration_case_no"),
                type=event.type, source=event.source, at=event.time, summary=describe(event.type, raw, names),
                data=raw, sender=getattr(ctx.partner, "code", None))
            return
        b = _batch(ctx)
        if event.type == "intake.duplicate_suspected":
            duplicate = data.model_dump()
            b.after.append(lambda _: _duplicate(ctx, duplicate))
            return
        if event.type == "calendar.year_missing":
            b.after.append(lambda _: alerts.raise_alert(
                ctx, kind="calendar", case_id=None, deadline_id=f"calendar-{data.year}", deadline_kind="calendar",
                org_unit=None, at=event.time, detail={"year": data.year, "service": data.service}))
            return
        case_id = getattr(data, "case_id", None) or event.subject
        if not case_id or event.type.startswith("supervision.") or event.type == "calendar.year_loaded":
            return
        if event.type == "intake.query_code_set":  # the worker's door only: a hash, never on the timeline
            b.add_code(case_id, data.code_hash, data.replaces)
            return
        if event.type in worker_steps.SHOWN:
            _worker_step(b, case_id, event, raw)
        change = b.case(case_id)
        b.timeline.append((event.id, case_id, event.type, event.source, event.time, describe(event.type, raw, names),
                           raw, tracing.trace_id((event.model_extra or {}).get("traceparent"))))
        if event.type.startswith("deadline."):
            _deadline(ctx, b, change, event, data)  # the typed signal's fields, read as they are
        elif event.type == "followup.flagged":
            d = data.model_dump()

            async def flagged(_: list[bool]) -> None:
                await alerts.raise_alert(ctx, kind=d["reason"], case_id=case_id,
                                         deadline_id=f"flag-{case_id}-{d['reason']}", deadline_kind=None,
                                         org_unit=await repository.case_unit(ctx.conn, case_id), at=event.time,
                                         detail={"satisfaction": d.get("satisfaction"),
                                                 "comment": d.get("comment", "")})
            b.after.append(flagged)
        elif event.type in APPLY:
            APPLY[event.type](b, change, event, data.model_dump())

    def _worker_step(b: Batch, case_id: str, event: CloudEvent, raw: dict[str, Any]) -> None:
        """The worker's view (进度查询): the step written for them, whether they may rate, the unit serving them."""
        shown = worker_steps.step(event.type, raw, names)
        if shown is None:
            return
        at = event.time.astimezone(UTC)
        b.steps.setdefault(case_id, []).append({"id": str(event.id), "at": at.isoformat(timespec="microseconds"),
                                                "title": shown.title, "status": shown.status,
                                                "rank": worker_steps.ORDER.index(event.type)})
        if shown.resolved is not None:
            b.resolved_for_worker(case_id, shown.resolved, event.time)
        if raw.get("org_unit") and event.type in ("intake.case_dispatched", "intake.case_answered"):
            b.units[case_id] = raw["org_unit"]

    def _deadline(ctx: HandlerContext, b: Batch, change: fold.CaseChange, event: CloudEvent, d: DeadlineSignal
                  ) -> None:
        """A service's clock changed: the case's copy follows (folded), and the alerts follow its newest state."""
        signal = event.type.split(".", 1)[1]
        state = fold.DeadlineState(
            deadline_id=d.deadline_id, case_id=change.case_id, kind=d.kind, owner=d.owner, state=d.state,
            due_at=d.due_at, org_unit=d.org_unit, provisional=d.provisional, on_time=d.on_time, changed_at=d.at)
        if d.kind == "tier" and signal == "met":
            change.set(on_time=d.on_time)
        index = len(b.deadlines)
        b.deadlines.append(_DeadlineEvent(state, signal))
        if signal not in ("warning", "breached", *_RESOLVING) and not (
                signal in ("extended", "resumed") and state.state == "open"):
            return  # nothing to do on the board
        b.after.append(lambda newest: _alerts(ctx, b, state, signal, newest[index]))

    async def _alerts(ctx: HandlerContext, b: Batch, d: fold.DeadlineState, signal: str, newest: bool) -> None:
        """The board follows a deadline's newest state: warned, overdue (and escalating), or done with."""
        if not newest:
            return  # an older event about this deadline
        alerted = b.alerted
        if d.deadline_id not in b.checked:  # which of the batch's deadlines have alerts to resolve: one read
            ids = sorted({e.state.deadline_id for e in b.deadlines} - b.checked)
            alerted |= await repository.alerted_deadlines(ctx.conn, ids)
            b.checked.update(ids)
        at = d.changed_at
        if signal == "warning":
            await alerts.raise_alert(ctx, kind="warning", case_id=d.case_id, deadline_id=d.deadline_id,
                                     deadline_kind=d.kind, org_unit=await _unit(ctx, d), at=at, due_at=d.due_at)
            alerted.add(d.deadline_id)
        elif signal == "breached":
            if d.deadline_id in alerted:
                await alerts.resolve(ctx, deadline_id=d.deadline_id, at=at, kinds=("warning",))
            alert = await alerts.raise_alert(ctx, kind="overdue", case_id=d.case_id, deadline_id=d.deadline_id,
                                             deadline_kind=d.kind, org_unit=await _unit(ctx, d), at=at,
                                             due_at=d.due_at)
            alerted.add(d.deadline_id)
            if alert is not None:  # the breach happened at the due time, whenever it was noticed
                await alerts.start_escalation(ctx.deadlines, alert, breach_at=d.due_at, calendar=ctx.calendar,
                                              hierarchy=hierarchy)
        elif d.deadline_id in alerted:  # met, cancelled, or open again
            for alert in await repository.open_overdue_alerts(ctx.conn, d.deadline_id):
                await alerts.stop_escalation(ctx.deadlines, alert, at=at, reason="期限已完成或调整")
            await alerts.resolve(ctx, deadline_id=d.deadline_id, at=at)

    async def _unit(ctx: HandlerContext, d: fold.DeadlineState) -> str | None:
        return d.org_unit or await repository.case_unit(ctx.conn, d.case_id)

    async def _duplicate(ctx: HandlerContext, d: dict[str, Any]) -> None:
        """A possible duplicate across scopes: those who may see both cases are told both; where nobody may (two
        provinces), each side's province is told of its own case and that the other province has one."""
        mine, theirs = d.get("org_unit"), d.get("other_org_unit")
        common = hierarchy.common_ancestor(mine, theirs) if mine and theirs else None
        if common is not None:
            await alerts.raise_alert(ctx, kind="duplicate", case_id=d["case_id"], deadline_id=f"duplicate-{d['case_id']}",
                                     deadline_kind=None, org_unit=common, at=d["detected_at"],
                                     detail={"other_case_id": d["other_case_id"], "reason": d["reason"]})
            return
        for case_id, unit, other in ((d["case_id"], mine, theirs), (d["other_case_id"], theirs, mine)):
            root = hierarchy.root(unit) if unit else None
            other_root = hierarchy.root(other) if other else None
            await alerts.raise_alert(ctx, kind="duplicate", case_id=case_id,
                                     deadline_id=f"duplicate-{d['case_id']}-{case_id}", deadline_kind=None,
                                     org_unit=root.code if root else None, at=d["detected_at"],
                                     detail={"reason": d["reason"], "other_province": other_root.name if other_root
                                             else None})

    # the plain-text query code is for the notification service alone (it is not on a topic read here either)
    return {t: project for t in EVENTS if not t.startswith(("supervision.", "auth.")) and t != "intake.query_code_issued"}
