"""What every document says about the parties and the money, from a case's facts (``events.intake.CaseFacts``
as JSON). Pure.

ID numbers are personal information (docs/domain/security.md): a document carries the full number only where
the law needs it (the agreement the parties sign); the worker's receipt and decision show it masked, and what
goes to a court shows none.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

IdShown = Literal["full", "masked", "none"]
DIGITS = "零壹贰叁肆伍陆柒捌玖"


def masked_id(id_number: str) -> str:
    """``630102198001011234`` → ``6301**********1234``."""
    if len(id_number) <= 8:
        return "*" * len(id_number)
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def parties(facts: dict[str, Any], *, ids: IdShown) -> dict[str, Any]:
    def shown(number: str) -> str | None:
        return number if ids == "full" else masked_id(number) if ids == "masked" else None

    employer = facts.get("employer") or {}
    return {
        "workers": [{"name": w.get("name", ""), "id_shown": shown(w.get("id_number", ""))}
                    for w in facts.get("workers") or []],
        "employer": {"name": employer.get("name", ""), "uscc": employer.get("uscc") if ids != "none" else None},
        "claims": [{"type": c.get("type"), "amount_cny": c.get("amount_cny")} for c in facts.get("claims") or []],
    }


def amount_in_words(value: Any) -> str:
    """A sum of money as written on a financial document (人民币大写): ``18600.50`` → ``壹万捌仟陆佰元伍角整``."""
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    if amount < 0:
        raise ValueError("negative amount")
    yuan, cents = divmod(int(amount * 100), 100)
    text = _integer(yuan) + "元" if yuan else ""
    jiao, fen = divmod(cents, 10)
    if not cents:
        return (text or "零元") + "整"
    if jiao:
        text += DIGITS[jiao] + "角"
    elif yuan:
        text += "零"
    if fen:
        text += DIGITS[fen] + "分"
    else:
        text += "整"
    return text


def _integer(n: int) -> str:
    groups: list[int] = []  # 4-digit groups, lowest first
    while n:
        n, chunk = divmod(n, 10000)
        groups.append(chunk)
    out, gap = "", False
    for index in reversed(range(len(groups))):
        chunk = groups[index]
        if not chunk:
            gap = bool(out)
            continue
        if out and (gap or chunk < 1000):
            out += "零"
        out += _four(chunk) + ("", "万", "亿", "万亿")[index]
        gap = False
    return out


def _four(chunk: int) -> str:
    text, zero = "", False
    for power, unit in ((3, "仟"), (2, "佰"), (1, "拾"), (0, "")):
        digit = chunk // 10**power % 10
        if digit:
            text += ("零" if zero and text else "") + DIGITS[digit] + unit
            zero = False
        else:
            zero = True
    return text
