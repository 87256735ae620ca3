"""Hostile records against the consumer's decoding path: whatever the bytes and headers, decoding never raises —
every record is handled, passed over, or dead-lettered with a reason and its original bytes."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.catalog import EVENTS
from services.backbone.consumer import EventProcessor, Inbound
from tests.contract_examples import example

TYPES = sorted(EVENTS)


async def _noop(ctx: Any, event: Any, data: Any) -> None:
    return None


def processor() -> EventProcessor:
    """Handles every catalogued type, so that every record is decoded all the way (no database needed)."""
    return EventProcessor(pool=None, service="fuzz", topic="fuzz.events",  # type: ignore[arg-type]
                          handlers=dict.fromkeys(TYPES, _noop), max_event_bytes=64 * 1024)


def envelope(event_type: str, data: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "court/QH0103", "type": event_type,
            "time": "2026-03-02T09:00:00+08:00", "subject": "X", "data": data}


def test_every_catalogued_type_has_a_valid_example_to_mutate():
    for event_type, spec in EVENTS.items():
        spec.model.model_validate(example(event_type))
    items, dead = processor()._decode([Inbound("fuzz.in", 0, n, None, json.dumps(envelope(t, example(t))).encode())
                                       for n, t in enumerate(TYPES)])
    assert len(items) == len(TYPES) and not dead


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                                      max_size=4), max_leaves=20)
HEADER = st.tuples(st.sampled_from(["content-type", "ce_type", "ce_specversion", "ce_id", "ce_time", "ce_source",
                                    "traceparent", "x-dlq-reason", "junk"]) | st.text(max_size=12),
                   st.binary(max_size=40) | st.sampled_from([b"application/cloudevents+json", b"application/json",
                                                             b"1.0", b"\xff\xfe", b"court.case_referred"]))


@st.composite
def mutated(draw: st.DrawFn) -> Inbound:
    """A valid event of a random catalogued type, then damaged in one of many ways."""
    event_type = draw(st.sampled_from(TYPES))
    data = json.loads(json.dumps(example(event_type)))
    raw = envelope(event_type, data)
    how = draw(st.sampled_from(["intact", "value", "attribute", "drop", "type", "nest", "bytes", "truncate",
                                "not_object", "binary_mode"]))
    headers: list[tuple[str, bytes]] = [("content-type", b"application/cloudevents+json")]
    if how == "value":
        keys = list(raw["data"]) if isinstance(raw["data"], dict) else []
        if keys:
            raw["data"][draw(st.sampled_from(keys))] = draw(JSON)
    elif how == "attribute":
        raw[draw(st.sampled_from(list(raw)))] = draw(JSON)
    elif how == "drop":
        raw.pop(draw(st.sampled_from(list(raw))))
    elif how == "type":
        raw["type"] = draw(st.sampled_from(TYPES) | st.text(max_size=20))
    elif how == "nest":
        depth = draw(st.integers(50, 5000))
        raw["data"] = json.loads("[" * min(depth, 900) + "]" * min(depth, 900)) if depth < 900 else None
        if depth >= 900:
            return Inbound("fuzz.in", 0, 1, None, b"[" * depth + b"]" * depth, tuple(headers))
    value = json.dumps(raw, ensure_ascii=draw(st.booleans())).encode()
    if how == "bytes":
        at = draw(st.integers(0, len(value) - 1))
        value = value[:at] + draw(st.binary(min_size=1, max_size=8)) + value[at + 1:]
    elif how == "truncate":
        value = value[:draw(st.integers(0, len(value) - 1))]
    elif how == "not_object":
        value = json.dumps(draw(JSON)).encode()
    elif how == "binary_mode":
        headers = [("ce_specversion", b"1.0"), ("ce_type", event_type.encode()), ("ce_id", str(uuid.uuid4()).encode()),
                   ("ce_source", b"court/QH0103"), ("ce_time", draw(st.binary(max_size=30)))]
        value = json.dumps(data).encode()
    headers += draw(st.lists(HEADER, max_size=3))
    key = draw(st.none() | st.binary(max_size=20))
    return Inbound("fuzz.in", draw(st.integers(0, 7)), draw(st.integers(0, 2**40)), key, value, tuple(headers))


RAW = st.builds(Inbound, st.just("fuzz.in"), st.integers(0, 7), st.integers(0, 2**40),
                st.none() | st.binary(max_size=20), st.none() | st.binary(max_size=2000),
                st.lists(HEADER, max_size=5).map(tuple))


def assert_accounted(records: list[Inbound]) -> None:
    items, dead = processor()._decode(records)
    assert len(items) + len(dead) == len(records)  # every type is handled here: nothing passed over
    for letter in dead:
        headers = dict(letter.headers)
        assert letter.topic.endswith(".dlq") and headers["x-dlq-service"] == b"fuzz" and headers["x-dlq-reason"]
        original = next(r for r in records if r.offset == int(headers["x-dlq-offset"]))
        assert letter.value == (original.value or b"")


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.lists(mutated(), min_size=1, max_size=4, unique_by=lambda r: r.offset))
def test_mutations_of_valid_events_of_every_type_never_make_decoding_raise(records):
    assert_accounted(records)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.lists(RAW, min_size=1, max_size=4, unique_by=lambda r: r.offset))
def test_random_bytes_and_headers_never_make_decoding_raise(records):
    assert_accounted(records)


@pytest.mark.parametrize("value, reason", [
    (b"[" * 20_000 + b"]" * 20_000, "malformed"),  # deeper than the JSON parser's recursion limit
    (b'{"specversion": "1.0", "id": "\xff\xfe"}', "malformed"),  # not UTF-8
    (b"x" * (64 * 1024 + 1), "too_large"),
    (b"[1, 2, 3]", "malformed"),  # JSON, not an object
    (json.dumps(envelope("court.case_referred", {"court_code": 7, "workers": "all"})).encode(), "schema_violation"),
    (json.dumps(envelope("court.case_referred", None) | {"time": "yesterday"}).encode(), "malformed"),
    (None, "malformed"),  # a tombstone
])
def test_each_kind_of_hostile_record_is_dead_lettered_with_its_reason(value, reason):
    [letter] = processor()._decode([Inbound("fuzz.in", 3, 42, b"k", value)])[1]
    headers = dict(letter.headers)
    assert headers["x-dlq-reason"].decode().startswith(reason) or reason in headers["x-dlq-reason"].decode()
    assert (headers["x-dlq-topic"], headers["x-dlq-offset"]) == (b"fuzz.in", b"42")


def test_an_unreadable_header_is_a_reason_not_a_crash():
    value = json.dumps({"court_case_no": "X", "filed_at": "2026-03-02T09:00:00+08:00"}).encode()
    binary = (("ce_specversion", b"1.0"), ("ce_type", b"court.case_filed\xff"), ("ce_id", b"\x00\x01"))
    items, [letter] = processor()._decode([Inbound("fuzz.in", 0, 1, None, value, binary)])
    assert not items and b"not UTF-8" in dict(letter.headers)["x-dlq-reason"]


def test_records_on_partner_topics_must_prove_their_sender(monkeypatch, tmp_path):
    """Unsigned, forged, wrongly encoded or someone else's: dead-lettered with the reason; signed: handled."""
    from services.security.partners import authenticate_record
    from tests import identity

    monkeypatch.setenv("LABORCASE_ACCOUNTS_FILE", str(identity.write_accounts(tmp_path / "accounts.json")))
    p = processor()
    p.authenticate = authenticate_record
    referral = example("court.case_referred") | {"court_code": "QH0103"}
    value = json.dumps(envelope("court.case_referred", referral)).encode()
    other = json.dumps(envelope("court.case_referred", referral | {"court_code": "QH0104"})).encode()
    bureau = json.dumps(envelope("court.case_referred", referral)).encode()
    records = [
        Inbound("court.events", 0, 1, None, value, tuple(identity.kafka_signature(value, identity.COURT))),
        Inbound("court.events", 0, 2, None, value),  # unsigned
        Inbound("court.events", 0, 3, None, value, tuple(identity.kafka_signature(b"other bytes", identity.COURT))),
        Inbound("court.events", 0, 4, None, other, tuple(identity.kafka_signature(other, identity.COURT))),
        Inbound("court.events", 0, 5, None, bureau, tuple(identity.kafka_signature(bureau, identity.BUREAU))),
        Inbound("court.events", 0, 6, None, value, (("x-laborcase-key-id", b"court-QH0103"),
                                                    ("x-laborcase-timestamp", "²".encode()),
                                                    ("x-laborcase-signature", b"g" * 64))),
    ]
    items, dead = p._decode(records)
    assert [i.inbound.offset for i in items] == [1] and items[0].partner.code == "QH0103"
    reasons = {int(dict(d.headers)["x-dlq-offset"]): dict(d.headers)["x-dlq-reason"].decode() for d in dead}
    assert reasons[2].startswith("unauthenticated: unsigned")
    assert reasons[3].startswith("unauthenticated: bad_signature")
    assert reasons[4].startswith("out_of_scope") and "QH0104" in reasons[4]
    assert reasons[5].startswith("out_of_scope")  # a bureau may not send court events
    assert reasons[6].startswith("unauthenticated")
