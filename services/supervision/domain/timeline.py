"""How each event reads on a case's timeline, in the users' language. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from events.glossary import zh
from services.web.words import day, money, when


def clock(kind: str) -> str:
    """A clock's name (per-instance clocks such as ``instalment_check:2`` by their kind)."""
    return zh("clock", kind)


def _t(value: Any) -> str:
    """An instant as users read it: Asia/Shanghai, to the minute, in Chinese (``2026年12月3日 14:30``)."""
    return when(value) if value else ""


def describe(event_type: str, data: dict[str, Any], names: Mapping[str, str] | None = None) -> str:
    d = data
    unit = (names or {}).get(d.get("org_unit", ""), d.get("org_unit"))
    match event_type:
        case "intake.case_received":
            f = d.get("facts", {})
            return f"受理登记（{zh('channel', f.get('channel'))}），职工{len(f.get('workers', []))}人"
        case "intake.case_triaged":
            return f"分级：{zh('tier_short', d.get('tier'))}，办结期限 {_t(d.get('due_at'))}" + \
                ("（暂定）" if d.get("provisional") else "")
        case "intake.case_reclassified":
            return (f"调整分级：{zh('tier_short', d.get('from_tier'))}→{zh('tier_short', d.get('to_tier'))}，"
                    f"理由：{d.get('reason')}")
        case "intake.case_linked":
            return f"同一争议再次来访，已关联（新增职工{d.get('new_workers', 0)}人）"
        case "intake.case_dispatched":
            return f"派单至 {unit}（{zh('route', d.get('route'))}），第{d.get('attempt', 1)}次"
        case "intake.case_declined":
            return f"{unit} 退单：{d.get('reason')}"
        case "mediation.case_opened":
            return f"调解立案，承办单位 {unit}"
        case "intake.attachment_added":
            return (f"上传证据材料：{zh('attachment_kind', d.get('kind'))}（{d.get('filename')}），"
                    f"上传人 {d.get('uploaded_by_name')}")
        case "intake.case_answered":
            return f"{zh('route', d.get('resolution'))}：{d.get('answer', '')[:60]}"
        case "mediation.mediator_assigned":
            return f"分派调解员 {d.get('mediator_name')}"
        case "mediation.assignment_accepted":
            return "调解员签收"
        case "mediation.assignment_declined":
            return f"调解员拒绝：{d.get('reason')}"
        case "mediation.session_scheduled":
            return f"安排调解会 {_t(d.get('scheduled_at'))} {d.get('location')}"
        case "mediation.session_held":
            return f"召开调解会，到场：{'、'.join(d.get('parties_present', []))}"
        case "mediation.settled":
            return f"达成调解协议，金额 {money(d.get('agreement', {}).get('amount_cny'))}" + \
                ("，申请司法确认" if d.get("confirmation_requested") else "")
        case "mediation.confirmation_recorded":
            return "法院裁定确认调解协议有效" if d.get("decision") == "confirmed" else f"法院不予确认：{d.get('reason')}"
        case "mediation.failed":
            return f"调解不成，争议焦点：{'；'.join(d.get('disputed_points', []))}"
        case "mediation.case_resolved":
            return f"调解结束：{zh('outcome', d.get('outcome'))}"
        case "mediation.handed_to_legal_aid":
            return "转法律援助"
        case "mediation.case_reopened":
            return f"重新调解：{d.get('reason')}"
        case "legalaid.application_received":
            return "法律援助申请"
        case "legalaid.eligibility_decided":
            return f"{'给予' if d.get('decision') == 'approved' else '不予'}法律援助：{'；'.join(d.get('reasons', []))}"
        case "legalaid.lawyer_assigned":
            return f"指派律师 {d.get('lawyer_name')}（{d.get('firm')}）"
        case "legalaid.progress_recorded":
            return f"代理进展：{zh('legal_aid_stage', d.get('stage'))} {d.get('note', '')}"
        case "legalaid.case_concluded":
            return f"法律援助办结，挽回 {money(d.get('amount_recovered_cny'))}"
        case "followup.scheduled":
            n = d.get("instalment_no")
            return f"安排回访 {day(d.get('due_date'))}" + (f"（第{n}期履行核查）" if n else "")
        case "followup.completed":
            return f"回访：满意度 {d.get('satisfaction')} 分 {d.get('comment', '')}"
        case "followup.instalment_paid":
            return f"第{d.get('instalment_no')}期已履行"
        case "followup.instalment_missed":
            return f"第{d.get('instalment_no')}期未履行"
        case "followup.case_closed":
            return f"结案：{d.get('reason')}"
        case "followup.case_reopened":
            return f"重新办理：{d.get('reason')}"
        case "union.mediation_settled" | "union.confirmation_requested" | "union.mediation_failed":
            return {"union.mediation_settled": "向合作方反馈：调解成功", "union.confirmation_requested": "向法院申请司法确认",
                    "union.mediation_failed": "向合作方发送委托调解反馈函"}[event_type]
        case "court.case_referred":
            return f"法院{'委派' if d.get('referral_kind') == 'pre_filing' else '委托'}调解（{d.get('court_case_no')}）"
        case "court.confirmation_decided":
            return f"法院司法确认：{'确认' if d.get('decision') == 'confirmed' else '不予确认'}"
        case "court.case_filed":
            return "法院立案"
        case "bureau.case_referred":
            return f"仲裁委裁前调解（{d.get('arbitration_case_no')}）"
        case "bureau.arbitration_accepted":
            return "仲裁委受理仲裁申请"
        case "bureau.award_issued":
            return f"仲裁裁决，裁决金额 {money(d.get('amount_awarded_cny'))}"
    if event_type.startswith("deadline."):
        signal = event_type.split(".", 1)[1]
        label = {"started": "开始计时", "warning": "临近期限预警", "breached": "已超期", "paused": "暂停计时",
                 "resumed": "恢复计时", "extended": "调整期限", "met": "按期完成" if d.get("on_time") else "完成",
                 "cancelled": "取消", "handed_over": "移交"}.get(signal, signal)
        extra = f"，至 {_t(d.get('due_at'))}" if signal in ("started", "extended") else ""
        return f"{clock(d.get('kind', ''))}：{label}{extra}" + (f"（{d['reason']}）" if d.get("reason") and signal in (
            "paused", "extended", "resumed") else "")
    if event_type.startswith("supervision.alert_"):
        up = (names or {}).get(d.get("escalated_to", ""), d.get("escalated_to"))
        return {"raised": "督办提醒", "escalated": f"升级督办至 {up}",
                "acknowledged": f"督办已确认：{d.get('note', '')}", "resolved": "督办解除"}[event_type.rsplit("_", 1)[1]]
    return event_type


#: What a court or bureau sees of a case it referred (docs/domain/security.md data minimisation — the same as the feedback
#: events carry): where the case is and the mediation's course; never legal aid, follow-up calls, deadlines'
#: bookkeeping, supervisors' alerts, internal reasons or the workers' personal data.
PARTNER_TIMELINE = frozenset({
    "intake.case_received", "intake.case_dispatched", "mediation.case_opened", "mediation.mediator_assigned",
    "mediation.session_scheduled", "mediation.session_held", "mediation.settled", "mediation.confirmation_recorded",
    "mediation.failed", "mediation.withdrawn", "mediation.case_resolved", "mediation.window_extended",
    "union.mediation_settled", "union.confirmation_requested", "union.mediation_failed",
    "court.case_referred", "court.confirmation_decided", "court.case_filed", "bureau.case_referred",
    "bureau.arbitration_accepted", "bureau.award_issued",
})
PARTNER_CASE_FIELDS = ("case_id", "partner_code", "status", "stage", "org_unit", "org_unit_name", "received_at",
                       "due_at", "mediation_outcome", "returned_to", "settled_amount", "resolved_at", "closed_at", "refs")
PARTNER_CLOCKS = frozenset({"tier", "union_mediation", "court_entrusted"})


def for_partner_case(case: Mapping[str, Any]) -> dict[str, Any]:
    """A case row as a partner may read it."""
    return {k: case[k] for k in PARTNER_CASE_FIELDS if k in case}


def for_partner(case: Mapping[str, Any]) -> dict[str, Any]:
    """A case's whole view as the court or bureau that referred it may read it."""
    out = for_partner_case(case)
    out["deadlines"] = [{k: d[k] for k in ("kind", "state", "due_at") if k in d}
                        for d in case.get("deadlines", []) if d.get("kind") in PARTNER_CLOCKS]
    out["timeline"] = [{k: t[k] for k in ("type", "at", "summary")} for t in case.get("timeline", [])
                       if t.get("type") in PARTNER_TIMELINE]
    return out


#: the printable documents a case's events say it has (each served by the service that owns its stage)
_DOCUMENT_EVENTS = (("receipt", ("intake.case_dispatched",)), ("agreement", ("mediation.settled",)),
                    ("feedback-letter", ("union.mediation_failed",)),
                    ("legal-aid-decision", ("legalaid.eligibility_decided",)))


def documents_of(case: Mapping[str, Any]) -> list[str]:
    seen = {t.get("type") for t in case.get("timeline", [])}
    return [kind for kind, types in _DOCUMENT_EVENTS if seen & set(types)]
