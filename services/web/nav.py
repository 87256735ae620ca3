"""What each role is offered: the sections of the console a role can open (and nothing it cannot)."""

from __future__ import annotations

from dataclasses import dataclass

from services.security.policy import Principal


@dataclass(frozen=True)
class Section:
    path: str
    label: str
    roles: frozenset[str]
    hint: str


SECTIONS: tuple[Section, ...] = (
    Section("/intake", "受理登记", frozenset({"clerk"}), "登记 12351 热线和窗口来件，查重、分级、派单"),
    Section("/supervision/cases", "案件查询", frozenset({"clerk", "supervisor"}),
            "按案件编号、案号、职工、用人单位、状态查找案件"),
    Section("/mediation", "调解工作台", frozenset({"mediator", "supervisor"}), "签收、安排调解会、记录、达成协议或调解不成"),
    Section("/legal-aid", "法律援助", frozenset({"legal_aid_officer", "supervisor"}), "审查申请、补充材料、决定、指派律师"),
    Section("/followup", "回访", frozenset({"clerk", "supervisor"}), "今日待回访、分期履行核查、结案"),
    Section("/supervision", "督办看板", frozenset({"supervisor"}), "超期与临期、督办签收、统计与导出"),
    Section("/notification", "通知", frozenset({"clerk", "mediator", "legal_aid_officer", "supervisor", "operator"}),
            "我的通知；发给职工的短信及发送状态（运维、督办）；登记退订"),
    Section("/", "系统状态", frozenset({"operator"}), "各服务、数据库与消息消费的运行状态"),
)


def sections_for(p: Principal | None) -> list[Section]:
    if p is None:
        return []
    return [s for s in SECTIONS if p.role in s.roles]
