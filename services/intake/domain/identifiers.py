"""Checksums of Chinese identifiers: 居民身份证号 (GB 11643-1999) and 统一社会信用代码 (GB 32100-2015)."""

from __future__ import annotations

from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def id_checksum_ok(id_number: str) -> bool:
    return len(id_number) == 18 and id_number[:17].isdigit() and id_check_char(id_number[:17]) == id_number[17]


def id_birth_date(id_number: str) -> date | None:
    """The birth date encoded in positions 7–14, or None when it is not a real date."""
    try:
        return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_checksum_ok(uscc: str) -> bool:
    if len(uscc) != 18 or any(c not in USCC_ALPHABET for c in uscc):
        return False
    return uscc_check_char(uscc[:17]) == uscc[17]


def make_id_number(area: str, birth: date, sequence: int) -> str:
    """A checksum-valid ID number (for demo data and tests)."""
    first17 = f"{area}{birth:%Y%m%d}{sequence % 1000:03d}"
    return first17 + id_check_char(first17)


def make_uscc(region: str, serial: int) -> str:
    """A checksum-valid USCC for an enterprise (registration authority 9, type 1) in ``region``."""
    body = f"{serial:09d}"
    first17 = f"91{region}" + "".join(USCC_ALPHABET[int(c)] for c in body)
    return first17 + uscc_check_char(first17)
