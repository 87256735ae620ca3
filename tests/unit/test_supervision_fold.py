"""The batch fold of supervision's projection (services/supervision/fold.py): folding a batch gives what applying
its events one by one gives — the last plain write, the newest guarded value, counters that add up, and deadlines
whose alerts follow only the events that were the newest when they came."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from services.supervision.fold import CaseChange, CodeChange, DeadlineState, fold_deadlines
from tests import clock

T0 = clock.now()


def at(minutes: int):
    return T0 + timedelta(minutes=minutes)


def test_plain_columns_keep_the_last_write_and_guarded_ones_the_newest_event():
    c = CaseChange("LC1")
    c.set(route="mediation")
    c.set(route="legal_aid")
    c.guard("status", "dispatched", at(5))
    c.guard("status", "received", at(1))  # older: ignored
    c.guard("status", "in_mediation", at(5))  # a tie: the later event wins, as the statement's <= does
    row = json.loads(c.row())
    assert row["route"] == "legal_aid" and row["status"] == "in_mediation"
    assert row["status_at"] == at(5).isoformat()


def test_a_count_set_after_additions_starts_them_again():
    c = CaseChange("LC1")
    c.add_workers(2, False)
    c.set(worker_count=3, group_dispute=False)  # the registration, seen after a link in the same batch
    c.add_workers(1, True)
    row = json.loads(c.row())
    assert row["worker_count"] == 3 and row["+workers"] == 1 and row["+group_dispute"] is True


def test_parties_are_a_union_and_a_reopening_clears_the_closing():
    c = CaseChange("LC1")
    c.add_parties(["张三", "李四"], ["1", "2"], "某公司")
    c.add_parties(["李四", "王五"], ["2", "3"], None)
    c.set(closed_at=at(1))
    c.count_reopening()
    row = json.loads(c.row())
    assert row["worker_names"] == ["张三", "李四", "王五"] and row["worker_ids"] == ["1", "2", "3"]
    assert row["employer_name"] == "某公司" and row["+parties"] is True
    assert row["closed_at"] is None and row["+reopened"] == 1


def test_a_column_the_projection_does_not_have_is_refused():
    with pytest.raises(ValueError, match="parties"):
        CaseChange("LC1").set(parties="x")


def state(minutes: int, signal_state: str = "open", **changes) -> DeadlineState:
    base = DeadlineState(deadline_id="d1", case_id="LC1", kind="tier", owner="intake", state=signal_state,
                         due_at=at(600), org_unit=None, provisional=False, on_time=None, changed_at=at(minutes))
    return replace(base, **changes)


def test_deadlines_fold_to_their_newest_state_and_say_which_events_were_newest():
    events = [state(1, org_unit="QH"), state(5, "met", on_time=True), state(3, "warned")]
    states, newest = fold_deadlines({}, events)
    assert newest == [True, True, False]  # the warning came after the clock was met: no alert follows it
    final = states["d1"]
    assert final.state == "met" and final.on_time is True and final.org_unit == "QH"  # the unit stays


def test_an_event_older_than_the_database_row_changes_nothing():
    known = {"d1": state(10, "met", org_unit="QH", kind="tier", case_id="LC1")}
    states, newest = fold_deadlines(known, [state(2, "open", kind="other", case_id="LC2")])
    assert newest == [False] and states == {}
    states, newest = fold_deadlines(known, [state(12, "cancelled", kind="other", case_id="LC2")])
    assert newest == [True] and states["d1"].kind == "tier" and states["d1"].case_id == "LC1"  # as first written


def test_query_codes_fold_as_their_events_apply_one_by_one():
    added = CodeChange().then("a", False).then("b", False).then("a", False)
    assert added == CodeChange(False, ("a", "b"))  # beside what the case holds; a code held once
    rotated = added.then("c", True).then("d", False)
    assert rotated == CodeChange(True, ("c", "d"))  # a rotation starts the list again, whatever came before
    assert CodeChange().then("e", True).then("e", False) == CodeChange(True, ("e",))
