"""Value types shared by the event models: people, employers, claims, money, region codes."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

#: 居民身份证号 (GB 11643): 17 digits and a check character. The checksum itself is validated by
#: intake and may be overridden by a clerk (real registries contain invalid numbers), so the
#: contract only fixes the shape.
IdNumber = Annotated[str, Field(pattern=r"^\d{17}[\dX]$", description="居民身份证号 (GB 11643), 18 characters")]

#: 统一社会信用代码 (GB 32100): 18 characters from the code's alphabet (no I, O, S, V, Z).
Uscc = Annotated[
    str,
    Field(
        pattern=r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$",
        description="统一社会信用代码 (GB 32100), 18 characters",
    ),
]

#: Mainland mobile (11 digits starting with 1) or a landline with its area code.
Phone = Annotated[str, Field(pattern=r"^(1\d{10}|0\d{2,3}-?\d{7,8})$", description="mobile or landline number")]

#: 6-digit administrative division code (行政区划代码, GB/T 2260).
RegionCode = Annotated[str, Field(pattern=r"^\d{6}$", description="行政区划代码, 6 digits")]

#: An amount of money in yuan with at most two decimals. Exact (Decimal) inside, a JSON number on
#: the wire: 12 integer digits + 2 decimals stay exact through an IEEE double.
AmountCNY = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("999999999999.99"), decimal_places=2),
    PlainSerializer(lambda v: float(v), return_type=float, when_used="json"),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 999999999999.99,
                    "description": "amount in CNY (元), at most two decimals"}),
]

Timestamp = AwareDatetime
"""An RFC 3339 instant with an explicit UTC offset; naive times are rejected."""


class ClaimType(StrEnum):
    """The kinds of claim a worker brings (诉求类型)."""

    wage_arrears = "wage_arrears"  # 欠薪
    work_injury = "work_injury"  # 工伤
    social_insurance = "social_insurance"  # 社保
    termination = "termination"  # 解除/终止劳动合同经济补偿
    overtime = "overtime"  # 加班费
    labor_relationship = "labor_relationship"  # 确认劳动关系
    other = "other"


#: How each claim type is named to people (pages, statistics, exports).
CLAIM_ZH: dict[str, str] = {
    ClaimType.wage_arrears: "欠薪", ClaimType.work_injury: "工伤", ClaimType.social_insurance: "社保",
    ClaimType.termination: "解除补偿", ClaimType.overtime: "加班费", ClaimType.labor_relationship: "劳动关系确认",
    ClaimType.other: "其他",
}


class Channel(StrEnum):
    """How a case reached the union (受理渠道)."""

    hotline = "hotline"  # 12351 热线
    window = "window"  # 服务窗口
    online = "online"  # 网上申请
    court = "court"  # 法院委派/委托调解
    bureau = "bureau"  # 劳动人事争议仲裁委 裁前调解


class Tier(StrEnum):
    """Resolution tier of the 12351 rule (一般/难点/特别复杂)."""

    general = "general"  # 一般问题 当天办结
    difficult = "difficult"  # 难点问题 5个工作日办完
    complex = "complex"  # 特别复杂问题 15天内研究解决


class Contract(BaseModel):
    """Base of our own event payloads: a tolerant reader (unknown fields are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class PartnerContract(BaseModel):
    """Base of what partners send us: strict, unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Worker(PartnerContract):
    name: str = Field(min_length=1, max_length=50)
    id_number: IdNumber
    phone: Phone


class Employer(PartnerContract):
    name: str = Field(min_length=1, max_length=200)
    uscc: Uscc


class Claim(PartnerContract):
    type: ClaimType
    amount_cny: AmountCNY | None = None


class Instalment(Contract):
    """One payment of a settlement (分期履行)."""

    due_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="calendar date, Asia/Shanghai")
    amount_cny: AmountCNY


class Agreement(Contract):
    """调解协议: what the parties agreed."""

    amount_cny: AmountCNY
    instalments: list[Instalment] = Field(default_factory=list, max_length=60)
    terms: str = Field(default="", max_length=4000)
