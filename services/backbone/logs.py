"""Structured JSON logs on stderr, with personal information masked (个人信息保护法)."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_ID_NUMBER = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)")
_MOBILE = re.compile(r"(?<!\d)(1\d{2})\d{4}(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3}-?)\d{3,4}(\d{4})(?!\d)")


#: every number the patterns above mask holds a run of at least seven digits (a landline's after its area code)
_SEVEN_DIGITS = re.compile(r"\d{7}")


def mask_pii(text: str) -> str:
    """Mask ID numbers (keep area code and last 4) and phone numbers (keep prefix and last 4)."""
    if _SEVEN_DIGITS.search(text) is None:  # most log lines: one scan instead of three
        return text
    text = _ID_NUMBER.sub(r"\1********\2", text)
    text = _MOBILE.sub(r"\1****\2", text)
    return _LANDLINE.sub(r"\1****\2", text)


def mask_id_number(value: str) -> str:
    return value[:6] + "*" * 8 + value[-4:] if len(value) == 18 else "*" * len(value)


def mask_phone(value: str) -> str:
    return value[:3] + "****" + value[-4:] if len(value) >= 7 else "*" * len(value)


_RESERVED = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return mask_pii(json.dumps(entry, ensure_ascii=False, default=str))


def configure(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "uvicorn.access", "faststream.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
