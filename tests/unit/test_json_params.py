"""json/jsonb parameters (services/backbone/db.py ``json_text``): orjson, and the standard library for what
orjson refuses, both writing times and ids alike — the timeline's rows are sent as one JSON array of them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.backbone.db import json_text, json_value


def test_times_and_ids_are_written_alike_whichever_encoder_writes_them():
    row = [uuid.UUID(int=7), datetime(2026, 12, 4, 1, 2, 3, 456, tzinfo=UTC),
           datetime(2026, 12, 4, 9, 0, tzinfo=timezone(timedelta(hours=8))), {"金额": "1.50"}, None]
    fast = json_text(row)
    slow = json_text([*row, 2**70])  # orjson refuses an integer beyond 64 bits: the standard library writes it
    assert json.loads(fast) == json.loads(slow)[:-1]
    assert json.loads(slow)[-1] == 2**70
    assert json.loads(fast)[:3] == ["00000000-0000-0000-0000-000000000007", "2026-12-04T01:02:03.000456+00:00",
                                    "2026-12-04T09:00:00+08:00"]
    assert json_value(fast)[3] == {"金额": "1.50"}


def test_what_neither_encoder_can_write_is_refused():
    with pytest.raises(TypeError):
        json_text({"x": object(), "big": 2**70})
