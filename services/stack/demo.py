"""Demo data for ``laborcase up --demo``: Qinghai's 12351 hotline and Xining's courts, Sichuan's stations.

Every case goes through the public API of the console, exactly as a clerk or a court would send it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
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


def _court_referral(case_no: str, *, days_ago: int) -> dict[str, Any]:
    at = (_now() - timedelta(days=days_ago)).replace(microsecond=0).isoformat()
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "court/QH0103", "type": "court.case_referred",
            "time": at, "subject": case_no, "datacontenttype": "application/json",
            "data": {"court_code": "QH0103", "court_case_no": case_no, "referral_kind": "pre_filing",
                     "region_code": "630103", "referred_at": at, "workers": [_worker(40, "630103")],
                     "employer": _employer(1), "claims": [{"type": "termination", "amount_cny": 32000}],
                     "summary": "违法解除劳动合同赔偿金纠纷，诉前委派调解"}}


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
    now = _now()
    stamp, year = now.strftime("%m%d%H%M"), now.year
    passwords, partners = credentials(home)
    with httpx.Client(base_url=console, timeout=30) as http:
        def bearer(user: str) -> dict[str, str]:
            login = http.post("/api/v1/auth/login", json={"username": user, "password": passwords[user]}).json()
            return {"authorization": f"Bearer {login['access_token']}"}

        qinghai, sichuan = bearer("clerk"), bearer("clerk-sc")
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
                                       summary="车间机械伤手，单位未申报工伤认定")),
            ("省际联动：四川籍骑手在北京", _case(4, hours_ago=3, workers=[_worker(60, "511502")],
                                      claims=[{"type": "labor_relationship"},
                                              {"type": "wage_arrears", "amount_cny": 9000}],
                                      summary="新就业形态劳动者，确认劳动关系并追讨报酬", channel="online")),
        ]
        for label, body in cases:
            r = http.post("/api/v1/cases", json=body, headers=sichuan if body["region_code"] == "110105" else qinghai)
            if r.is_success:
                c = r.json()
                where = STATUS_ZH.get(c["status"]) or f"派往 {c['org_unit_name']}"
                yield f"{label}：{c['case_id']} 分级={c['tier']} 办结期限={c['due_at'][:19]} {where}"
            else:
                yield f"{label}：失败 {r.status_code} {r.text[:200]}"
        for label, event in (("法院诉前委派调解", _court_referral(f"({year})青0103民诉前调{stamp}号", days_ago=1)),
                             ("仲裁委裁前调解", _bureau_referral(f"西劳人仲案字〔{year}〕{stamp}号"))):
            body = json.dumps(event, ensure_ascii=False).encode()
            partner = partners[event["type"].split(".")[0]]
            r = http.post("/api/v1/events", content=body, headers={
                "content-type": "application/cloudevents+json",
                **signed_headers(partner["key_id"], partner["secret"], body)})
            ref = event["data"].get("court_case_no") or event["data"].get("arbitration_case_no")
            yield f"{label}：{ref} → {r.status_code}（案件由受理服务从事件流中登记）"
