"""Render time of every document: ``python -m services.printing.bench`` prints milliseconds per document for
three runs of each kind (the first render of a process also registers the font; it is reported apart)."""

from __future__ import annotations

import time
from typing import Any

from services.printing import facts as printed
from services.printing.render import KINDS, render

FACTS = {"workers": [{"name": f"职工{i}", "id_number": f"63010219800101{i:04d}"} for i in range(12)],
         "employer": {"name": "西宁市城东区宏达建筑工程有限公司", "uscc": "91630102MA752ABC12"},
         "claims": [{"type": "wage_arrears", "amount_cny": "186000.00"}, {"type": "overtime", "amount_cny": "24000"}]}
SAMPLES: dict[str, dict[str, Any]] = {
    "receipt": {"channel": "window", "received_at": "2026-12-03T14:30:00+08:00", "tier": "complex",
                "due_at": "2026-12-18T23:59:59+08:00", "provisional": False, "query_code": None, "clerk": "赵敏",
                "issued_on": "2026-12-03", **printed.parties(FACTS, ids="masked")},
    "agreement": {"court_case_no": "(2026)青0102民诉前调1234号", "arbitration_case_no": None,
                  "representatives": ["职工1", "职工2"], "mediator_name": "王淑芬", "amount": "210000",
                  "amount_words": printed.amount_in_words("210000"), "terms": "被申请人为申请人出具离职证明。" * 5,
                  "instalments": [{"due_date": f"2027-{m:02d}-20", "amount_cny": "17500"} for m in range(1, 13)],
                  "settled_on": "2026-12-05", **printed.parties(FACTS, ids="full")},
    "feedback-letter": {"addressee": "西宁市城东区人民法院", "court_case_no": "(2026)青0102民诉前调1234号",
                        "arbitration_case_no": None, "referral_kind": "pre_filing",
                        "received_at": "2026-12-03T14:30:00+08:00", "mediator_name": "王淑芬",
                        "disputed_points": ["加班时长的计算", "十月工资是否已部分支付", "是否存在劳动关系"],
                        "failed_on": "2026-12-08", **printed.parties(FACTS, ids="none")},
    "legal-aid-decision": {"approved": False, "applied_on": "2026-12-03", "decided_on": "2026-12-06",
                           "reasons": ["家庭人均月收入 3,500.00 元，高于本地标准 2,200.00 元"],
                           **printed.parties(FACTS, ids="masked")},
}


def measure(runs: int = 3) -> tuple[float, dict[str, list[float]]]:
    started = time.perf_counter()
    render("receipt", {"case_id": "LC0", "unit_name": "城东区总工会", **SAMPLES["receipt"]})
    first = (time.perf_counter() - started) * 1000
    times: dict[str, list[float]] = {}
    for kind in KINDS:
        context = {"case_id": "LC20261203000123", "unit_name": "城东区总工会", **SAMPLES[kind]}
        for _ in range(runs):
            started = time.perf_counter()
            render(kind, context)
            times.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
    return first, times


def main() -> None:
    first, times = measure()
    print(f"first document of the process (registers the font): {first:.0f} ms")
    for kind, runs in times.items():
        print(f"{kind:<20} " + "  ".join(f"{t:6.1f} ms" for t in runs) + "   (target < 300 ms)")


if __name__ == "__main__":
    main()
