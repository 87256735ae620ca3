"""Every code a person may meet, with the words people read (Simplified Chinese). Pure data, one place.

Pages, exports and error messages name things through ``zh(kind, code)``; a code missing here is shown as
"未知（code）" on a page and fails the console's crawl test, which walks every page for every role and looks for
the raw codes of this glossary (docs/domain/console.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from events.catalog import EVENTS

CLAIM: dict[str, str] = {
    "wage_arrears": "欠薪", "work_injury": "工伤待遇", "social_insurance": "社会保险", "termination": "解除劳动合同补偿",
    "overtime": "加班费", "labor_relationship": "确认劳动关系", "other": "其他",
}
CHANNEL = {"hotline": "12351热线", "window": "服务窗口", "online": "网上申请", "court": "法院委派/委托",
           "bureau": "仲裁委裁前调解"}
TIER = {"general": "一般问题（当天办结）", "difficult": "难点问题（5个工作日）", "complex": "特别复杂问题（15天）"}
TIER_SHORT = {"general": "一般", "difficult": "难点", "complex": "特别复杂"}
ROUTE = {"mediation": "调解", "legal_aid": "法律援助", "answered": "当场答复", "referred_elsewhere": "转属地处理"}
CASE_KIND = {"union": "工会受理调解", "court_pre_filing": "法院诉前委派调解", "court_post_filing": "法院诉中委托调解",
             "bureau": "仲裁委裁前调解"}
MEDIATION_STATE = {"awaiting_assignment": "待分派", "offered": "待接收", "in_mediation": "调解中",
                   "awaiting_confirmation": "待司法确认", "resolved": "已结束"}
OUTCOME = {"settled": "调解成功", "failed": "调解不成", "withdrawn": "已撤回", "closed_by_court": "法院已立案"}
CONFIRMATION = {"confirmed": "法院已确认", "rejected": "法院不予确认", "requested": "待法院确认"}
LEGAL_AID_STATE = {"under_review": "审查中", "approved": "已批准", "denied": "不予援助", "objected": "异议审查中",
                   "represented": "代理中", "concluded": "已办结", "closed": "已终结"}
LEGAL_AID_STAGE = {"consultation": "法律咨询", "drafting": "代写文书", "arbitration": "仲裁代理", "litigation": "诉讼代理",
                   "enforcement": "申请执行"}
LEGAL_AID_OUTCOME = {"won": "胜诉/支持", "partly_won": "部分支持", "settled": "和解", "lost": "败诉/驳回",
                     "withdrawn": "撤回"}
LEGAL_AID_METHOD = {"settlement": "和解", "award": "仲裁裁决", "judgment": "判决", "enforcement": "强制执行", "none": "无"}
LEGAL_AID_SOURCE = {"dispatch": "受理派单", "mediation": "调解不成转入"}
DECISION = {"approved": "给予法律援助", "denied": "不予法律援助"}
STATUS = {"received": "已受理", "dispatched": "已派单", "in_mediation": "调解中", "represented": "法律援助代理中",
          "resolved": "已办结（待回访）", "closed": "已结案", "reopened": "重新办理",
          "answered": "已当场答复", "referred_elsewhere": "已告知转属地处理"}
STAGE = {"intake": "受理", "mediation": "调解", "legal_aid": "法律援助", "followup": "回访", "closed": "结案",
         "answered": "当场答复", "referred_elsewhere": "转属地"}
DEADLINE_STATE = {"open": "计时中", "paused": "已暂停", "met": "按期完成", "breached": "已超期", "cancelled": "已取消",
                  "handed_over": "已移交"}
PAUSE_REASON = {"awaiting_materials": "等待补充材料", "awaiting_court_decision": "等待法院决定",
                "party_unreachable": "当事人无法联系"}
CLOCK = {"tier": "办结期限", "union_mediation": "工会调解15日", "court_entrusted": "法院委托调解期限",
         "legal_aid_decision": "法律援助审查7日", "lawyer_assignment": "指派律师3日", "followup_first": "首次回访",
         "instalment_check": "分期履行核查", "escalate": "督办升级"}
#: legal aid's case log (办理记录): what an entry's action says happened
LEGAL_AID_LOG = {"application_received": "收到法律援助申请", "applicant_recorded": "登记申请人情况",
                 "materials_requested": "要求补充材料（审查期限暂停）", "materials_received": "材料已补齐（审查期限恢复）",
                 "eligibility_approved": "决定给予法律援助", "eligibility_denied": "决定不予法律援助",
                 "objection_filed": "申请人提出异议", "objection_reviewed": "异议审查结果", "lawyer_assigned": "指派律师",
                 "progress": "代理进展", "concluded": "办结", "reopened_for_enforcement": "回访发现未履行，重新代理"}
#: the eligibility assessment's recommendation (审查意见)
LEGAL_AID_ADVICE = {"approve": "建议给予法律援助", "deny": "建议不予法律援助", "needs_income": "待申请人补充收入材料"}
#: follow-up's case log
FOLLOWUP_LOG = {"followup_scheduled": "安排回访", "call_first": "完成首次回访", "call_instalment": "完成分期履行核查",
                "not_reached": "回访未接通", "unreachable": "多次未接通", "closed": "结案", "reopened": "重新办理",
                "worker_rated": "职工网上评价"}
#: which calls a follow-up list shows
FOLLOWUP_PERIOD = {"today": "今日待办（含逾期）", "overdue": "逾期", "later": "以后", "all": "全部"}
FOLLOWUP_KIND = {"first": "首次回访", "instalment": "分期履行核查"}
FOLLOWUP_STATE = {"due": "待回访", "scheduled": "待回访", "done": "已完成", "cancelled": "已取消", "unreachable": "无法联系"}
FLAG_REASON = {"low_satisfaction": "满意度低", "unreachable": "多次无法联系"}
SERVICE = {"intake": "受理", "mediation": "调解", "legal_aid": "法律援助", "followup": "回访", "supervision": "督办",
           "notification": "通知", "court": "法院", "bureau": "仲裁委", "console": "控制台",
           # the first word of an event type, as a timeline names who spoke
           "legalaid": "法律援助", "deadline": "计时", "union": "工会", "calendar": "工作日历"}
ROLE = {"clerk": "受理员", "mediator": "调解员", "legal_aid_officer": "法律援助工作人员", "supervisor": "督办人员",
        "partner": "合作单位（法院、仲裁委）", "operator": "运维人员"}
ALERT_LEVEL = {"warning": "临期预警", "breach": "已超期", "escalation": "督办升级", "calendar": "日历缺失"}
ALERT_STATE = {"open": "待处理", "acknowledged": "已签收", "resolved": "已解除"}
REFERRAL_KIND = {"pre_filing": "诉前委派", "post_filing": "诉中委托"}
PROCEDURE = {"ordinary": "普通程序", "simplified": "简易程序"}
PARTY = {"worker": "职工", "employer": "用人单位", "lawyer": "律师", "representative": "职工代表"}

#: what a mediation case's log (办理记录) records, as the case page names it
MEDIATION_ACTION = {
    "opened": "调解立案", "assigned": "分派调解员", "accepted": "签收", "declined": "拒绝接收", "reassigning": "改派",
    "session_scheduled": "安排调解会", "session_held": "召开调解会", "settled": "调解成功", "failed": "调解不成",
    "withdrawn": "撤回", "confirmation_confirmed": "法院确认调解协议", "confirmation_rejected": "法院不予确认调解协议",
    "court_filed": "法院立案", "window_extended": "延长委托调解期限", "reopened": "重新调解", "moved": "转交其他单位",
    "assignment_pending": "待分派（暂无可接案的调解员）", "arbitration_accepted": "仲裁委受理",
    "award_issued": "仲裁裁决", "reclassified": "调整分级", "enforcement_requested": "申请强制执行",
    "clock_paused": "暂停计时", "clock_resumed": "恢复计时",
}
#: the details a mediation log entry carries, by the words that introduce them
MEDIATION_DETAIL = {
    "reason": "理由", "mediator_name": "调解员", "mediator_id": "调解员", "previous": "原调解员", "at": "时间",
    "location": "地点", "parties_present": "到场", "result": "结果", "amount_cny": "协议金额", "instalments": "分期",
    "confirmation_requested": "申请司法确认", "disputed_points": "争议焦点", "to_legal_aid": "转法律援助",
    "due_at": "新的期限", "consent": "双方同意", "org_unit": "单位", "kind": "来源", "tier": "分级",
    "attempt": "次数", "amount_awarded_cny": "裁决金额",
}
#: what happened at a mediation session (调解会), as the mediator records it
SESSION_RESULT = {"continue": "继续调解", "agreed": "达成一致", "no_agreement": "未能达成一致",
                  "absent": "当事人未到场"}
#: who acts in a case log without being a person: the partners and the services themselves
SYSTEM_ACTOR = {"court": "人民法院", "bureau": "仲裁委", "followup": "回访", "system": "系统自动", "intake": "受理"}

#: the events of the catalog as a timeline or a notice names them
EVENT: dict[str, str] = {
    "court.case_referred": "法院委派/委托调解", "court.confirmation_decided": "法院司法确认决定",
    "court.case_filed": "法院立案", "bureau.case_referred": "仲裁委裁前委派调解",
    "bureau.arbitration_accepted": "仲裁委受理", "bureau.award_issued": "仲裁裁决",
    "union.mediation_settled": "向法院/仲裁委反馈调解成功", "union.confirmation_requested": "申请司法确认",
    "union.mediation_failed": "向法院/仲裁委反馈调解不成",
    "intake.case_received": "受理登记", "intake.case_linked": "合并为重复来件", "intake.case_triaged": "分级",
    "intake.case_reclassified": "调整分级", "intake.case_dispatched": "派单", "intake.case_declined": "不予受理",
    "intake.case_answered": "当场答复/转属地", "intake.submission_rejected": "来件被拒收",
    "intake.duplicate_suspected": "疑似重复来件",
    "intake.attachment_added": "上传证据材料",
    "mediation.case_opened": "调解立案", "mediation.mediator_assigned": "分派调解员",
    "mediation.assignment_accepted": "调解员签收", "mediation.assignment_declined": "调解员拒绝接收",
    "mediation.assignment_pending": "等待可用调解员", "mediation.session_scheduled": "安排调解会",
    "mediation.session_held": "召开调解会", "mediation.settled": "调解成功",
    "mediation.confirmation_recorded": "司法确认结果", "mediation.failed": "调解不成", "mediation.withdrawn": "撤回调解",
    "mediation.case_resolved": "调解结束", "mediation.handed_to_legal_aid": "转法律援助",
    "mediation.partner_progress": "法院/仲裁委进展", "mediation.window_extended": "延长委托调解期限",
    "mediation.case_reopened": "重新调解",
    "legalaid.application_received": "法律援助申请", "legalaid.eligibility_decided": "法律援助审查决定",
    "legalaid.objection_filed": "提出异议", "legalaid.objection_reviewed": "异议审查结果",
    "legalaid.lawyer_assigned": "指派律师", "legalaid.progress_recorded": "代理进展", "legalaid.case_concluded": "法律援助办结",
    "followup.scheduled": "安排回访", "followup.attempted": "回访未接通", "followup.completed": "完成回访",
    "followup.instalment_paid": "分期已履行", "followup.instalment_missed": "分期未履行",
    "followup.escalated": "回访督办", "followup.case_closed": "结案", "followup.case_reopened": "回访后重新办理",
    "followup.flagged": "回访标记关注",
    "supervision.alert_raised": "督办提醒", "supervision.alert_escalated": "督办升级",
    "supervision.alert_resolved": "督办解除", "supervision.alert_acknowledged": "督办签收",
    "deadline.started": "开始计时", "deadline.warning": "临期预警", "deadline.breached": "超期",
    "deadline.paused": "暂停计时", "deadline.resumed": "恢复计时", "deadline.extended": "延长期限",
    "deadline.met": "按期完成", "deadline.cancelled": "取消计时", "deadline.handed_over": "移交计时",
    "calendar.year_loaded": "工作日历已载入", "calendar.year_missing": "工作日历缺失",
    "auth.session_revoked": "登录已注销",
    "intake.query_code_set": "查询码已生成", "intake.query_code_issued": "查询码已发送",
    "supervision.worker_rated": "职工评价", "notification.sent": "短信已发送", "notification.failed": "短信发送失败",
}

#: what a message to a worker tells of (services/notification/templates.toml), and where it is
NOTIFICATION_KIND = {"received": "受理通知（含查询码）", "code_rotated": "查询码更新", "dispatched": "派单通知",
                     "mediator_assigned": "调解员确定", "session_scheduled": "调解会安排", "settled": "达成调解协议",
                     "confirmed": "司法确认通过", "confirmation_rejected": "司法确认未通过",
                     "followup_due": "回访提醒", "closed": "结案通知"}
NOTIFICATION_STATE = {"queued": "待发送", "held": "夜间暂缓（8:00发送）", "sent": "已发送", "delivered": "已送达",
                      "failed": "发送失败", "skipped": "未发送"}
NOTICE_KIND = {"case_assigned": "新分派案件", "deadline_warning": "期限临近", "deadline_breached": "已超期"}

#: kinds of evidence attached to a case (证据材料类别; services/evidence/checks.py KINDS)
ATTACHMENT_KIND = {"contract": "劳动合同", "payslip": "工资条/工资流水", "attendance": "考勤记录", "chat": "聊天记录截图",
                   "photo": "照片", "medical": "病历/工伤材料", "other": "其他材料"}

TABLES: dict[str, Mapping[str, str]] = {
    "attachment_kind": ATTACHMENT_KIND,
    "claim": CLAIM, "channel": CHANNEL, "tier": TIER, "tier_short": TIER_SHORT, "route": ROUTE, "case_kind": CASE_KIND,
    "mediation_state": MEDIATION_STATE, "outcome": OUTCOME, "confirmation": CONFIRMATION,
    "legal_aid_state": LEGAL_AID_STATE, "legal_aid_stage": LEGAL_AID_STAGE, "legal_aid_outcome": LEGAL_AID_OUTCOME,
    "legal_aid_method": LEGAL_AID_METHOD, "legal_aid_source": LEGAL_AID_SOURCE, "decision": DECISION,
    "status": STATUS, "stage": STAGE, "deadline_state": DEADLINE_STATE, "pause_reason": PAUSE_REASON, "clock": CLOCK,
    "followup_kind": FOLLOWUP_KIND, "followup_state": FOLLOWUP_STATE, "flag_reason": FLAG_REASON, "service": SERVICE,
    "legal_aid_log": LEGAL_AID_LOG, "legal_aid_advice": LEGAL_AID_ADVICE, "followup_log": FOLLOWUP_LOG,
    "followup_period": FOLLOWUP_PERIOD,
    "role": ROLE, "alert_level": ALERT_LEVEL, "alert_state": ALERT_STATE, "referral_kind": REFERRAL_KIND,
    "procedure": PROCEDURE, "party": PARTY, "event": EVENT, "mediation_action": MEDIATION_ACTION,
    "notification_kind": NOTIFICATION_KIND, "notification_state": NOTIFICATION_STATE, "notice_kind": NOTICE_KIND,
    "mediation_detail": MEDIATION_DETAIL, "session_result": SESSION_RESULT, "system_actor": SYSTEM_ACTOR,
}


def zh(kind: str, code: object) -> str:
    """The label of ``code`` in table ``kind``; "—" for nothing; "未知（code）" for a code the glossary lacks."""
    if code is None or code == "":
        return "—"
    key = str(getattr(code, "value", code))
    table = TABLES[kind]
    if key in table:
        return table[key]
    if kind == "clock":  # per-instance clocks: instalment_check:<n>, escalate:<level>
        head = key.split(":", 1)[0]
        if head in table:
            return table[head]
    return f"未知（{key}）"


def raw_codes() -> Iterator[str]:
    """Codes that must never reach a person's page: every event type and every multi-word code (``a_b``)."""
    yield from EVENTS
    for table in TABLES.values():
        yield from (code for code in table if "_" in code or "." in code)


def missing_event_labels() -> list[str]:
    return [t for t in EVENTS if t not in EVENT]

