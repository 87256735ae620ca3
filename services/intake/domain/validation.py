"""Checks beyond the schema: identifiers, regions, times. Pure.

Checksum failures (ID number, USCC) are *warnings*: real registries contain invalid codes, so a
clerk may override them with a reason. Everything else is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from events.common import Employer, Worker
from services.hierarchy.regions import Regions
from services.intake.domain.identifiers import id_birth_date, id_checksum_ok, uscc_checksum_ok

CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Finding:
    field: str
    code: str
    message: str


@dataclass(frozen=True)
class Checked:
    errors: list[Finding]
    warnings: list[Finding]

    def unresolved(self, overrides: Mapping[str, str]) -> list[Finding]:
        return [w for w in self.warnings if not (overrides.get(w.field) or "").strip()]


def check(*, received_at: datetime, region_code: str, workers: Sequence[Worker], employer: Employer,
          regions: Regions, now: datetime) -> Checked:
    errors: list[Finding] = []
    warnings: list[Finding] = []
    if received_at > now + CLOCK_SKEW:
        errors.append(Finding("received_at", "in_future", "受理时间不能晚于当前时间"))
    if not regions.is_known(region_code):
        errors.append(Finding("region_code", "unknown_region", f"未知的行政区划代码：{region_code}"))
    seen: set[str] = set()
    today = now.date()
    for i, w in enumerate(workers):
        field = f"workers[{i}].id_number"
        if w.id_number in seen:
            errors.append(Finding(field, "duplicate_worker", "同一职工重复填写"))
        seen.add(w.id_number)
        birth = id_birth_date(w.id_number)
        if birth is None or not date(1900, 1, 1) <= birth <= today:
            errors.append(Finding(field, "id_birth_date", "身份证号中的出生日期无效"))
        if not regions.province_known(w.id_number[:2]):
            errors.append(Finding(field, "id_area", "身份证号前两位不是有效的省级行政区划代码"))
        if not id_checksum_ok(w.id_number):
            warnings.append(Finding(field, "id_checksum",
                                    "身份证号校验位不符（GB 11643），请核对；确认无误可说明理由后提交"))
    if not uscc_checksum_ok(employer.uscc):
        warnings.append(Finding("employer.uscc", "uscc_checksum",
                                "统一社会信用代码校验位不符（GB 32100），请核对；确认无误可说明理由后提交"))
    return Checked(errors, warnings)
