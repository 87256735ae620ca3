"""The long-poll front reads the frames aiokafka writes (services/stack/long_poll.py): every Fetch and Produce
version it claims to read, encoded by aiokafka's own protocol classes."""

from __future__ import annotations

import asyncio
import struct
import time

import pytest
from aiokafka.protocol import fetch as kfetch
from aiokafka.protocol import produce as kproduce
from aiokafka.protocol.api import RequestHeader_v1

from services.stack import long_poll as lp

TOPICS = [("mediation.events", [(0, 17, 1 << 20), (1, 4, 1 << 20)]), ("intake.events", [(1, 0, 1 << 20)])]


def request_frame(struct_: object, correlation: int = 7, client: str = "laborcase-mediation") -> bytes:
    return RequestHeader_v1(struct_, correlation_id=correlation, client_id=client).encode() + struct_.encode()


def fetch_frame(version: int, wait_ms: int = 500) -> bytes:
    cls = getattr(kfetch, f"FetchRequest_v{version}")
    return request_frame(kfetch.FetchRequest(wait_ms, 1, 52428800, 0, TOPICS).build(cls))


@pytest.mark.parametrize("version", lp.FETCH_VERSIONS)
def test_a_fetch_is_read_and_asked_again_without_its_wait(version: int) -> None:
    frame = fetch_frame(version)
    head = lp.request_header(frame)
    assert (head.api_key, head.version, head.correlation) == (lp.FETCH, version, 7)
    fetch = lp.read_fetch(frame, head)
    assert fetch is not None
    assert (fetch.wait_ms, fetch.topics) == (500, frozenset({"mediation.events", "intake.events"}))
    assert fetch.partitions == {("mediation.events", 0), ("mediation.events", 1), ("intake.events", 1)}
    now = lp.without_wait(frame, fetch)
    assert len(now) == len(frame)
    assert now == fetch_frame(version, wait_ms=lp.BROKER_WAIT_MS)  # only the wait differs


def test_a_fetch_of_a_version_not_read_goes_on_unchanged() -> None:
    frame = fetch_frame(11)
    head = lp.Request(lp.FETCH, 12, 7, lp.request_header(frame).body_at)
    assert lp.read_fetch(frame, head) is None


def response_frame(version: int, partitions: list[tuple[int, bytes | None]], *, top_error: int = 0) -> bytes:
    cls = getattr(kfetch, f"FetchResponse_v{version}")
    rows = []
    for error, records in partitions:
        row: list[object] = [0, error, 42]
        if version >= 4:
            row.append(42)  # last stable offset
        if version >= 5:
            row.append(0)  # log start offset
        if version >= 4:
            row.append([])  # aborted transactions
        if version >= 11:
            row.append(-1)  # preferred read replica
        row.append(records)
        rows.append(tuple(row))
    head: list[object] = [0] if version >= 1 else []
    if version >= 7:
        head += [top_error, 0]
    return struct.pack(">i", 7) + cls(*head, [("mediation.events", rows)]).encode()


@pytest.mark.parametrize("version", lp.FETCH_VERSIONS)
def test_an_empty_answer_is_told_from_one_with_records_or_an_error(version: int) -> None:
    assert lp.fetch_found_nothing(response_frame(version, [(0, b""), (0, None)]), version)
    assert not lp.fetch_found_nothing(response_frame(version, [(0, b""), (0, b"\x00" * 70)]), version)
    assert not lp.fetch_found_nothing(response_frame(version, [(1, b"")]), version)  # offset out of range
    if version >= 7:
        assert not lp.fetch_found_nothing(response_frame(version, [(0, b"")], top_error=70), version)


@pytest.mark.parametrize("version", lp.PRODUCE_VERSIONS)
def test_a_produce_names_its_partitions(version: int) -> None:
    cls = getattr(kproduce, f"ProduceRequest_v{version}")
    body = cls(*([None] if version >= 3 else []), -1, 30000, [("intake.events", [(0, b"\x01" * 90), (1, b"\x02" * 12)]),
                                  ("notification.events", [(0, b"\x03" * 5)])])
    frame = request_frame(body)
    head = lp.request_header(frame)
    assert head.api_key == lp.PRODUCE
    assert lp.produced_partitions(frame, head) == {("intake.events", 0), ("intake.events", 1),
                                                    ("notification.events", 0)}


def test_a_truncated_frame_is_not_read() -> None:
    frame = fetch_frame(11)[:-9]
    assert lp._read_or_none(lp.read_fetch, frame, lp.request_header(frame)) is None


async def test_a_produce_wakes_the_fetches_on_its_topics_only() -> None:
    topics = lp._Topics()
    on_a, on_b = asyncio.Event(), asyncio.Event()
    with topics.waiting_on(["a"], on_a), topics.waiting_on(["b", "c"], on_b):
        topics.wrote(frozenset({("a", 0)}))
        assert on_a.is_set() and not on_b.is_set()
        topics.wrote(None)  # a Produce this front could not read wakes everyone
        assert on_b.is_set()
    assert topics.waiting == {}


def fetch_of(*partitions: lp.Partition) -> lp.Fetch:
    return lp.Fetch(500, 0, frozenset(partitions))


def test_a_held_fetch_asks_again_for_its_own_partitions_and_goes_back_for_the_others() -> None:
    """A fetch naming partition 1 only (its client still holds partition 0's records) asks the broker again when
    partition 1 is written, and goes back empty at once when partition 0 is: its client's next fetch names 0."""
    topics = lp._Topics()
    fetch = fetch_of(("a", 1), ("b", 0))
    seen = topics.seen(fetch)
    assert topics.since(fetch, seen) == (False, False)
    topics.wrote(frozenset({("c", 0)}))  # another topic: nothing to do with this fetch
    assert topics.since(fetch, seen) == (False, False)
    topics.wrote(frozenset({("a", 0)}))
    assert topics.since(fetch, seen) == (False, True)
    seen = topics.seen(fetch)
    topics.wrote(frozenset({("a", 1)}))
    assert topics.since(fetch, seen) == (True, False)
    seen = topics.seen(fetch)
    topics.wrote(None)  # not read: it may have written anything
    assert topics.since(fetch, seen)[0]


def test_a_record_written_after_a_clients_last_answer_is_one_it_cannot_have() -> None:
    """What tells the front that an empty answer is the broker's lag (ask again shortly), not an empty log."""
    topics = lp._Topics()
    fetch = fetch_of(("a", 1))
    before = time.monotonic()
    assert not topics.written_since(fetch, before)
    topics.wrote(frozenset({("a", 0)}))  # another partition
    assert not topics.written_since(fetch, before)
    topics.wrote(frozenset({("a", 1)}))
    assert topics.written_since(fetch, before)
    assert not topics.written_since(fetch, time.monotonic() + 1)
