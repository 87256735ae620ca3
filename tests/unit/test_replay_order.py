"""The rebuild's merge places each record by its CloudEvents time as a POSIX timestamp (a float, compared
cheaply): that must order any two times as the times themselves order, a microsecond apart, whatever their
offsets (services/supervision/rebuild.py ``decoded_in_time``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, TypeAdapter

OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))])
#: the years where floats near a timestamp are less than a microsecond apart (rebuild.py's claim)
TIMES = st.datetimes(min_value=datetime(1698, 1, 1), max_value=datetime(2242, 1, 1))


@settings(max_examples=500, deadline=None)
@given(TIMES, st.integers(0, 3), OFFSETS, OFFSETS)
def test_a_timestamp_orders_times_as_they_order_to_the_microsecond(at, apart, first, second):
    a = at.replace(tzinfo=UTC).astimezone(first)
    b = (a + timedelta(microseconds=apart)).astimezone(second)
    assert (a.timestamp() < b.timestamp()) == (a < b)
    assert (a.timestamp() == b.timestamp()) == (a == b)


def test_times_parsed_from_events_order_by_timestamp_as_they_do_themselves():
    parse = TypeAdapter(AwareDatetime).validate_python
    texts = ["2026-03-02T09:00:00.000001+08:00", "2026-03-02T01:00:00Z", "2026-03-02T09:00:00+08:00",
             "2026-03-01T20:00:00.000002-05:00", "2026-03-02T01:00:00.000003+00:00"]
    times = [parse(t) for t in texts]
    assert sorted(times) == sorted(times, key=lambda t: t.timestamp())
