"""Rows become table models through ``from_row``: the same model ``model_validate`` would give, usable and
assignable, without validating the database's values twice; a row that lacks a column is still refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest

from services.backbone.models import from_row
from services.mediation.models import Mediator

ROW = {"mediator_id": "M-1", "name": "王调解", "org_unit": "cd", "capacity": 5, "specialties": ["wage_arrears"],
       "active": True, "created_at": datetime(2026, 3, 2, tzinfo=UTC), "updated_at": datetime(2026, 3, 2, tzinfo=UTC)}


def row_of(model):
    return {k: ROW.get(k) for k in model.model_fields}


def test_a_row_is_the_model_validate_would_give():
    row = row_of(Mediator)
    fast, slow = from_row(Mediator, row), Mediator.model_validate(row)
    assert fast == slow and fast.model_dump() == slow.model_dump() and type(fast) is Mediator
    fast.capacity = 7
    assert fast.capacity == 7 and fast.model_dump()["capacity"] == 7


def test_extra_columns_of_a_join_are_left_out():
    row = {**row_of(Mediator), "open_cases": 3}
    assert "open_cases" not in from_row(Mediator, row).model_dump()


def test_a_row_missing_a_column_is_refused():
    row = row_of(Mediator)
    del row["name"]
    with pytest.raises(pydantic.ValidationError):
        from_row(Mediator, row)
