"""What the worker sees of their own case (进度查询): the case events, written for them. Pure.

Only what the worker needs and may know: where the case is and who serves them (a union unit's name, a mediator
as "王调解员", their own lawyer), when and where a session is — never internal notes, reasons written for staff,
staff ids, deadlines' bookkeeping, other people's personal data or codes. An event with no step here is not shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from events.glossary import zh
from services.web.words import day, money, when

RECEIVED, IN_PROGRESS, MEDIATING, AGREED, RESOLVED, CLOSED = (
    "已受理", "办理中", "调解中", "已达成调解协议", "已办结", "已结案")


@dataclass(frozen=True)
class Step:
    title: str
    #: the case's state in the worker's words once this step happened (None: unchanged)
    status: str | None = None
    #: True: the case is resolved (the worker may rate it); False: it is open again; None: unchanged
    resolved: bool | None = None


def mediator(name: str | None) -> str:
    """A mediator as the worker reads them: the surname and the role (王调解员), never the full name or an id."""
    return f"{name[0]}调解员" if name else "调解员"


def step(event_type: str, d: Mapping[str, Any], units: Mapping[str, str]) -> Step | None:
    unit = units.get(d.get("org_unit") or "", "工会")
    match event_type:
        case "intake.case_received":
            channel = (d.get("facts") or {}).get("channel")
            how = "网上申请已收到" if channel == "online" else f"您的来件已登记受理（{zh('channel', channel)}）"
            return Step(how, RECEIVED)
        case "intake.case_dispatched":
            return Step(f"已转交{unit}办理（{zh('route', d.get('route'))}）", IN_PROGRESS)
        case "intake.case_answered":
            return Step(f"{unit}已答复（{zh('route', d.get('resolution'))}），本件办结", RESOLVED, True)
        case "mediation.mediator_assigned":
            return Step(f"已安排调解员：{mediator(d.get('mediator_name'))}", MEDIATING)
        case "mediation.session_scheduled":
            place = f"，地点：{d['location']}" if d.get("location") else ""
            return Step(f"调解会安排在 {when(d.get('scheduled_at'))}{place}", MEDIATING)
        case "mediation.session_held":
            return Step("调解会已召开")
        case "mediation.settled":
            amount = (d.get("agreement") or {}).get("amount_cny")
            title = "双方达成调解协议" + (f"，金额 {money(amount)}" if amount is not None else "")
            if d.get("confirmation_requested"):
                title += "；已向法院申请司法确认"
            return Step(title, AGREED)
        case "mediation.confirmation_recorded":
            return Step("法院已裁定调解协议有效（司法确认）" if d.get("decision") == "confirmed"
                        else "法院未确认调解协议，工作人员将与您联系")
        case "mediation.failed":
            return Step("调解未能达成协议")
        case "mediation.withdrawn":
            return Step("调解申请已撤回")
        case "mediation.case_resolved":
            if d.get("to_legal_aid"):
                return Step("调解结束，转为法律援助", IN_PROGRESS)
            after = {"court": "，可回到法院继续诉讼", "arbitration": "，可向劳动人事争议仲裁委员会申请仲裁"}
            return Step(f"调解结束：{zh('outcome', d.get('outcome'))}{after.get(d.get('returned_to') or '', '')}",
                        RESOLVED, True)
        case "mediation.case_reopened" | "followup.case_reopened":
            return Step("案件重新办理", IN_PROGRESS, False)
        case "legalaid.application_received":
            return Step("法律援助申请已受理", IN_PROGRESS)
        case "legalaid.eligibility_decided":
            if d.get("decision") == "approved":
                return Step("决定给予法律援助")
            return Step("决定不予法律援助：" + "；".join(d.get("reasons") or []) + "。如有异议，可向工作人员提出")
        case "legalaid.objection_reviewed":
            return Step("您的异议已复查，结果将由工作人员告知")
        case "legalaid.lawyer_assigned":
            firm = f"（{d['firm']}）" if d.get("firm") else ""
            return Step(f"已指派律师：{d.get('lawyer_name') or ''}{firm}", "法律援助中")
        case "legalaid.case_concluded":
            return Step(f"法律援助办结：{zh('legal_aid_outcome', d.get('outcome'))}", RESOLVED, True)
        case "followup.scheduled":
            n = d.get("instalment_no")
            what = f"第{n}期履行情况核查" if n else "回访"
            return Step(f"工作人员将于 {day(d.get('due_date'))} 前后电话{what}")
        case "followup.completed":
            return Step("已完成回访")
        case "followup.case_closed":
            return Step("案件已结案", CLOSED, True)
    return None


#: the event types that make a step (the projection keeps the rest out), in the order steps of the same moment read
ORDER = (
    "intake.case_received", "intake.case_dispatched", "intake.case_answered", "mediation.mediator_assigned",
    "mediation.session_scheduled", "mediation.session_held", "mediation.settled", "mediation.confirmation_recorded",
    "mediation.failed", "mediation.withdrawn", "mediation.case_resolved", "mediation.case_reopened",
    "followup.case_reopened", "legalaid.application_received", "legalaid.eligibility_decided",
    "legalaid.objection_reviewed", "legalaid.lawyer_assigned", "legalaid.case_concluded", "followup.scheduled",
    "followup.completed", "followup.case_closed",
)
SHOWN = frozenset(ORDER)


def status_of(steps: list[Mapping[str, Any]], *, resolved: bool = False) -> str:
    """The case's state: the latest step that says one (a resolved case reads at least 已办结)."""
    for s in reversed(steps):
        if resolved and s.get("status") not in (RESOLVED, CLOSED):
            return RESOLVED
        if s.get("status"):
            return str(s["status"])
    return RECEIVED
