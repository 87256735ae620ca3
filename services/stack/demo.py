"""Demo data for ``laborcase up --demo``: Qinghai's 12351 hotline and Xining's courts, Sichuan's stations.

Every case goes through the public API of the console, exactly as a clerk or a court would send it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from services.backbone.settings import Settings
from services.calendar.model import SHANGHAI
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.security.partners import signed_headers

EMPLOYERS = [
    ("西宁市城东区宏达建筑劳务有限公司", "630102", 101),
    ("青海高原乳业有限公司", "630103", 102),
    ("西宁西关大街商贸有限公司", "630104", 103),
    ("青海生物科技园某制药有限公司", "630105", 104),
    ("北京某外卖平台合作配送站", "110105", 105),
]
STATUS_ZH = {"answered": "已当场答复", "referred_elsewhere": "已转属地处理"}
NAMES = ["马建军", "李秀兰", "韩文忠", "张海燕", "祁玉梅", "才让多杰", "王福林", "赵国庆", "冶成林", "周晓东",
         "杨春花", "刘德胜", "陈志强"]


def _now() -> datetime:
    """Business time, as the services read it (shifted only in test mode)."""
    return Settings().clock.now().astimezone(SHANGHAI)


def _worker(i: int, area: str = "630102") -> dict[str, str]:
    birth = date(1975 + i % 25, 1 + i % 12, 3 + i % 25)
    return {"name": NAMES[i % len(NAMES)], "id_number": make_id_number(area, birth, i),
            "phone": f"139{7100_0000 + i:08d}"}


def _employer(n: int) -> dict[str, str]:
    name, region, serial = EMPLOYERS[n]
    return {"name": name, "uscc": make_uscc(region, serial)}


def _case(n: int, *, hours_ago: float, workers: list[dict[str, str]], claims: list[dict[str, Any]], summary: str,
          channel: str = "hotline", **extra: Any) -> dict[str, Any]:
    received = _now() - timedelta(hours=hours_ago)
    region = EMPLOYERS[n][1]
    return {"channel": channel, "received_at": received.replace(microsecond=0).isoformat(), "region_code": region,
            "workers": workers, "employer": _employer(n), "claims": claims, "summary": summary,
            "actor": "12351热线 坐席1", **extra}


def _court_referral(case_no: str, *, days_ago: int, worker: int = 40) -> dict[str, Any]:
    at = (_now() - timedelta(days=days_ago)).replace(microsecond=0).isoformat()
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "court/QH0103", "type": "court.case_referred",
            "time": at, "subject": case_no, "datacontenttype": "application/json",
            "data": {"court_code": "QH0103", "court_case_no": case_no, "referral_kind": "pre_filing",
                     "region_code": "630103", "referred_at": at, "workers": [_worker(worker, "630103")],
                     "employer": _employer(1), "claims": [{"type": "termination", "amount_cny": 32000}],
                     "summary": "违法解除劳动合同赔偿金纠纷，诉前委派调解"}}


def _court_event(kind: str, case_no: str, data: dict[str, Any]) -> dict[str, Any]:
    at = _now().replace(microsecond=0).isoformat()
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "court/QH0103", "type": kind,
            "time": at, "subject": case_no, "datacontenttype": "application/json",
            "data": {"court_case_no": case_no, **data}}


def _bureau_referral(case_no: str) -> dict[str, Any]:
    at = _now().replace(microsecond=0).isoformat()
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "bureau/XNLZ", "type": "bureau.case_referred",
            "time": at, "subject": case_no, "datacontenttype": "application/json",
            "data": {"bureau_code": "XNLZ", "arbitration_case_no": case_no, "region_code": "630104",
                     "referred_at": at, "workers": [_worker(50, "630104")], "employer": _employer(2),
                     "claims": [{"type": "social_insurance", "amount_cny": 18500}],
                     "summary": "未依法缴纳社会保险，裁前调解"}}


def credentials(home: Path) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    passwords = dict(line.split("\t") for line in (home / "initial-passwords.txt").read_text().splitlines())
    accounts = json.loads((home / "accounts.json").read_text())
    return passwords, {p["kind"]: p for p in accounts["partners"]}


def seed(console: str, home: Path) -> Iterator[str]:
    """Cases for every role: the clerk's registrations and follow-up calls, each mediator's worklist (a court case
    settled and waiting for the court, one confirmed), a legal-aid application, an overdue case for supervisors."""
    now = _now()
    stamp, year = now.strftime("%m%d%H%M"), now.year
    passwords, partners = credentials(home)
    with httpx.Client(base_url=console, timeout=30) as http:
        tokens: dict[str, dict[str, str]] = {}

        def bearer(user: str) -> dict[str, str]:
            if user not in tokens:
                login = http.post("/api/v1/auth/login", json={"username": user, "password": passwords[user]}).json()
                tokens[user] = {"authorization": f"Bearer {login['access_token']}"}
            return tokens[user]

        def send_partner(event: dict[str, Any]) -> int:
            body = json.dumps(event, ensure_ascii=False).encode()
            partner = partners[event["type"].split(".")[0]]
            return http.post("/api/v1/events", content=body, headers={
                "content-type": "application/cloudevents+json",
                **signed_headers(partner["key_id"], partner["secret"], body)}).status_code

        cases = [
            ("一般问题：欠薪咨询", _case(0, hours_ago=2, workers=[_worker(1)],
                                 claims=[{"type": "wage_arrears", "amount_cny": 4200}], summary="拖欠一个月工资")),
            ("当场答复", _case(2, hours_ago=1, workers=[_worker(2, "630104")], claims=[{"type": "other"}],
                           summary="咨询试用期工资标准", route="answered",
                           answer="已告知：试用期工资不得低于本单位相同岗位最低档工资的80%，并不得低于当地最低工资标准")),
            ("难点问题：加班费", _case(3, hours_ago=30, workers=[_worker(3, "630105")],
                                 claims=[{"type": "overtime", "amount_cny": 26000}], summary="长期加班未支付加班费")),
            ("集体争议：农民工欠薪", _case(0, hours_ago=5, workers=[_worker(10 + i) for i in range(12)],
                                   claims=[{"type": "wage_arrears", "amount_cny": 386000}],
                                   summary="12名农民工被拖欠工程款中的工资")),
            ("特别复杂：工伤（转法律援助）", _case(1, hours_ago=50, workers=[_worker(30, "630103")],
                                       claims=[{"type": "work_injury", "amount_cny": 120000}],
                                       summary="车间机械伤手，单位未申报工伤认定", route="legal_aid")),
            ("省际联动：四川籍骑手在北京", _case(4, hours_ago=3, workers=[_worker(60, "511502")],
                                      claims=[{"type": "labor_relationship"},
                                              {"type": "wage_arrears", "amount_cny": 9000}],
                                      summary="新就业形态劳动者，确认劳动关系并追讨报酬", channel="online")),
            ("已超期：一般问题未当天办结", _case(0, hours_ago=24 * 4, workers=[_worker(4)],
                                      claims=[{"type": "wage_arrears", "amount_cny": 3600}],
                                      summary="拖欠半个月工资，单位承诺后仍未支付")),
            ("已调解成功（待回访）", _case(0, hours_ago=6, workers=[_worker(5)],
                                   claims=[{"type": "wage_arrears", "amount_cny": 18600}],
                                   summary="拖欠三个月工资，双方同意分两期支付")),
        ]
        registered: dict[str, str] = {}
        for label, body in cases:
            r = http.post("/api/v1/cases", json=body,
                          headers=bearer("clerk-sc" if body["region_code"] == "110105" else "clerk"))
            if r.is_success:
                c = r.json()
                registered[label] = c["case_id"]
                where = STATUS_ZH.get(c["status"]) or f"派往 {c['org_unit_name']}"
                yield f"{label}：{c['case_id']} 办结期限 {c['due_at'][:16].replace('T', ' ')}，{where}"
            else:
                yield f"{label}：失败 {r.status_code} {r.text[:200]}"
        court_open, court_confirmed = f"({year})青0103民诉前调{stamp}号", f"({year})青0103民诉前调{stamp}1号"
        for label, event in (("法院诉前委派调解（待调解员办理）", _court_referral(court_open, days_ago=1)),
                             ("法院诉前委派调解（已调解、法院已确认）", _court_referral(court_confirmed, days_ago=3, worker=41)),
                             ("仲裁委裁前调解", _bureau_referral(f"西劳人仲案字〔{year}〕{stamp}号"))):
            status = send_partner(event)
            ref = event["data"].get("court_case_no") or event["data"].get("arbitration_case_no")
            yield f"{label}：{ref} → {status}（案件由受理服务从事件流中登记）"
        yield from _work(http, bearer, send_partner, registered, court_open, court_confirmed)


def _work(http: httpx.Client, bearer: Callable[[str], dict[str, str]], send_partner: Callable[[dict[str, Any]], int],
          registered: dict[str, str], court_open: str, court_confirmed: str) -> Iterator[str]:
    """Take some cases further, as their mediators would, so each role's pages show work in several states."""
    from services.security.accounts import DEMO_MEDIATORS

    account_of = {mediator: user for user, mediator in DEMO_MEDIATORS.items()}
    supervisor = bearer("supervisor-qh")

    def offered(ref: str, *, by: str = "case_id") -> dict[str, Any] | None:
        """The mediation case once a mediator has been offered it (events travel between services)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if by == "case_id":
                r = http.get(f"/api/v1/mediation/cases/{ref}", headers=supervisor)
                case = r.json() if r.status_code == 200 else None
            else:
                r = http.get("/api/v1/mediation/worklist", params={"all": "true", "limit": 1000, "org_unit": "QH-XN-CZ"},
                             headers=supervisor)
                found = [c for c in (r.json().get("cases", []) if r.status_code == 200 else [])
                         if c.get("court_case_no") == ref]
                case = http.get(f"/api/v1/mediation/cases/{found[0]['case_id']}", headers=supervisor).json() \
                    if found else None
            if case and case.get("mediator_id") and case.get("state") == "offered":
                return case
            time.sleep(0.3)
        return None

    def take(case: dict[str, Any] | None, label: str) -> tuple[str, dict[str, str]] | None:
        if case is None or case["mediator_id"] not in account_of:
            return None
        user = account_of[case["mediator_id"]]
        r = http.post(f"/api/v1/mediation/cases/{case['case_id']}/accept", json={}, headers=bearer(user))
        return (user, bearer(user)) if r.is_success else None

    def settle(case_id: str, as_: dict[str, str], amount: int, court: bool = False) -> int:
        today = _now().date()
        first, second = today + timedelta(days=10), today + timedelta(days=40)
        agreement = {"amount_cny": amount, "terms": "用人单位分两期支付，逾期未付职工可申请强制执行",
                     "instalments": [{"due_date": first.isoformat(), "amount_cny": amount // 2},
                                     {"due_date": second.isoformat(), "amount_cny": amount - amount // 2}]}
        return http.post(f"/api/v1/mediation/cases/{case_id}/settle", headers=as_,
                         json={"agreement": agreement, "request_confirmation": court}).status_code

    tomorrow = (_now() + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    steps: list[str] = []
    taken = take(offered(registered.get("一般问题：欠薪咨询", "")), "一般问题")
    if taken:
        user, as_ = taken
        http.post(f"/api/v1/mediation/cases/{registered['一般问题：欠薪咨询']}/sessions", headers=as_,
                  json={"scheduled_at": tomorrow.isoformat(), "location": "城东区职工服务中心调解室"})
        steps.append(f"{user} 已签收“一般问题：欠薪咨询”，明天 10:00 调解")
    settled_id = registered.get("已调解成功（待回访）", "")
    taken = take(offered(settled_id), "已调解成功")
    if taken and settle(settled_id, taken[1], 18600) < 300:
        steps.append(f"{taken[0]} 已调解成功 {settled_id}（分两期履行，回访待办）")
    court_case = offered(court_open, by="court_case_no")
    taken = take(court_case, "法院委派")
    if taken and court_case:
        steps.append(f"{taken[0]} 已签收法院委派案件 {court_open}")
    court_case = offered(court_confirmed, by="court_case_no")
    taken = take(court_case, "法院委派（已确认）")
    if taken and court_case and settle(court_case["case_id"], taken[1], 32000, court=True) < 300:
        status = send_partner(_court_event("court.confirmation_decided", court_confirmed,
                                           {"decision": "confirmed", "decided_at": _now().replace(
                                               microsecond=0).isoformat()}))
        steps.append(f"{taken[0]} 已调解成功 {court_confirmed}，法院司法确认 → {status}")
    yield from steps or ["（调解员尚未接到案件：演示案件的后续办理可在控制台中完成）"]
