"""A consumed batch folded per case, in memory, before anything is written (no I/O here).

The projection's handlers no longer send a few statements per event: each event's effect is added to the
batch's fold, and the fold is written at the batch's end in a few set-based statements (services/supervision/
projection.py ``Batch``). Folding gives the same rows as applying the events one by one, in the same order:

- a plain column keeps the last value the batch set (applied in order, the last write wins);
- a guarded column (status, stage, unit, tier) keeps the value of the newest event, a later event winning a tie
  (the statement's ``<=``), and is written only where the database's own time is not newer;
- counters add up, flags are or-ed, the parties' names and ID numbers are a union;
- a deadline keeps the newest state, each event compared with the state before it (the database's row, then the
  batch's earlier events), and an event that was the newest when it came is the one whose alerts follow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

#: The columns whose value carries the time of the event that set it (``<column>_at``).
GUARDED = ("status", "stage", "org_unit", "tier")
#: The columns the last event of the batch to set them decides.
PLAIN = ("channel", "region_code", "received_at", "worker_count", "claim_types", "claim_amount", "group_dispute",
         "partner_code", "route", "resolved_at", "mediator_id", "mediator_name", "settled_amount",
         "mediation_outcome", "returned_to", "legal_aid", "amount_recovered", "satisfaction", "closed_at", "on_time",
         "employer_name")


def _plain(value: Any) -> Any:
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value")


@dataclass
class CaseChange:
    """What one batch does to one projected case."""

    case_id: str
    plain: dict[str, Any] = field(default_factory=dict)
    guarded: dict[str, tuple[Any, datetime]] = field(default_factory=dict)
    new_workers: int = 0
    group_dispute: bool = False
    reopened: int = 0
    names: dict[str, None] = field(default_factory=dict)  # insertion-ordered sets
    ids: dict[str, None] = field(default_factory=dict)
    parties: bool = False

    def set(self, **values: Any) -> None:
        unknown = set(values) - set(PLAIN)
        if unknown:
            raise ValueError(f"not a plain column of a projected case: {sorted(unknown)}")
        if "worker_count" in values:  # counted from here on
            self.new_workers = 0
        if "group_dispute" in values:
            self.group_dispute = False
        self.plain.update(values)

    def guard(self, column: str, value: Any, at: datetime) -> None:
        held = self.guarded.get(column)
        if held is None or held[1] <= at:
            self.guarded[column] = (value, at)

    def add_workers(self, count: int, group_dispute: bool) -> None:
        self.new_workers += count
        self.group_dispute = self.group_dispute or group_dispute

    def add_parties(self, names: list[str], ids: list[str], employer: str | None) -> None:
        self.names.update(dict.fromkeys(names))
        self.ids.update(dict.fromkeys(ids))
        if employer is not None:
            self.plain["employer_name"] = employer
        self.parties = True

    def count_reopening(self) -> None:
        self.reopened += 1
        self.plain["closed_at"] = None

    @property
    def changes_nothing(self) -> bool:
        """Only the case's row is needed (a deadline's event, the timeline's): no column to change."""
        return not (self.plain or self.guarded or self.new_workers or self.group_dispute or self.reopened
                    or self.parties)

    def row(self) -> str:
        """The change as one JSON object (read with ``jsonb_populate_record`` against the cases table)."""
        out: dict[str, Any] = {"case_id": self.case_id, **self.plain}
        for column, (value, at) in self.guarded.items():
            out[column], out[f"{column}_at"] = value, at
        if self.new_workers:
            out["+workers"] = self.new_workers
        if self.group_dispute:
            out["+group_dispute"] = True
        if self.reopened:
            out["+reopened"] = self.reopened
        if self.parties:
            out["worker_names"], out["worker_ids"], out["+parties"] = list(self.names), list(self.ids), True
        try:  # orjson writes times as isoformat() does, ten times faster; the standard library for what it refuses
            return orjson.dumps(out, default=_plain).decode()
        except TypeError:
            return json.dumps(out, default=_plain, ensure_ascii=False)


@dataclass(frozen=True)
class CodeChange:
    """What one batch does to a case's query codes (their hashes), folded from its events in order: a code that
    replaces starts the list again (a rotation: every earlier code stops working); another is added unless held."""

    replaces: bool = False
    hashes: tuple[str, ...] = ()

    def then(self, code_hash: str, replaces: bool) -> CodeChange:
        if replaces:
            return CodeChange(True, (code_hash,))
        if code_hash in self.hashes:
            return self
        return CodeChange(self.replaces, (*self.hashes, code_hash))


@dataclass(frozen=True)
class DeadlineState:
    """A deadline as the projection keeps it (case_deadlines), or as one event says it is now."""

    deadline_id: str
    case_id: str
    kind: str
    owner: str
    state: str
    due_at: datetime
    org_unit: str | None
    provisional: bool
    on_time: bool | None
    changed_at: datetime

    def then(self, newer: DeadlineState) -> DeadlineState:
        """This state after a newer event: the case and kind stay; a unit or an on-time the event leaves out
        stays as it was (the upsert's COALESCE)."""
        return DeadlineState(newer.deadline_id, self.case_id, self.kind, newer.owner, newer.state, newer.due_at,
                             newer.org_unit or self.org_unit, newer.provisional,
                             newer.on_time if newer.on_time is not None else self.on_time, newer.changed_at)


def fold_deadlines(known: dict[str, DeadlineState], events: list[DeadlineState]
                   ) -> tuple[dict[str, DeadlineState], list[bool]]:
    """The newest state of each deadline the events touch, starting from what is ``known`` (the database's
    rows); and, for each event in order, whether it was the newest when it came (its alerts follow)."""
    states: dict[str, DeadlineState] = {}
    newest: list[bool] = []
    for event in events:
        held = states.get(event.deadline_id) or known.get(event.deadline_id)
        if held is not None and held.changed_at > event.changed_at:
            newest.append(False)
            continue
        states[event.deadline_id] = held.then(event) if held is not None else event
        newest.append(True)
    return states, newest
