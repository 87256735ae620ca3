import json
import uuid

import pytest

from events.envelope import EventRejected, decode_kafka, encode, kafka_headers
from tests.factories import court_referral, referred


def test_structured_round_trip():
    event = referred()
    decoded = decode_kafka(encode(event), kafka_headers(event))
    assert decoded == event
    assert dict(kafka_headers(event))["content-type"] == b"application/cloudevents+json"


def test_binary_mode_with_ce_headers_is_accepted():
    event = referred()
    headers = [("ce_specversion", b"1.0"), ("ce_id", str(event.id).encode()), ("ce_source", b"court/QH0103"),
               ("ce_type", b"court.case_referred"), ("ce_time", b"2026-03-02T09:00:00+08:00"),
               ("ce_subject", event.subject.encode()), ("content-type", b"application/json")]
    decoded = decode_kafka(json.dumps(event.data).encode(), headers)
    assert decoded.id == event.id and decoded.type == "court.case_referred" and decoded.data == event.data


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        (b"{not json", "malformed", "not valid JSON"),
        (b"[1, 2]", "malformed", "JSON object"),
        (b'{"specversion": "1.0"}', "malformed", "id: Field required"),
        (None, "malformed", "empty"),
    ],
)
def test_malformed_events_are_rejected_with_reason(value, code, fragment):
    with pytest.raises(EventRejected) as err:
        decode_kafka(value)
    assert err.value.code == code and fragment in err.value.detail


def _envelope(**changes):
    raw = json.loads(encode(referred()))
    raw.update(changes)
    return json.dumps(raw).encode()


def test_unknown_type_and_schema_violation():
    with pytest.raises(EventRejected) as err:
        decode_kafka(_envelope(type="court.unknown"))
    assert err.value.code == "unknown_type"
    raw = json.loads(encode(referred()))
    raw["data"]["workers"][0]["id_number"] = "12345"
    with pytest.raises(EventRejected) as err:
        decode_kafka(json.dumps(raw).encode())
    assert err.value.code == "schema_violation" and "workers.0.id_number" in err.value.detail


def test_naive_time_is_rejected():
    with pytest.raises(EventRejected) as err:
        decode_kafka(_envelope(time="2026-03-02T09:00:00"))
    assert "time" in err.value.detail


def test_partner_events_reject_unknown_fields_and_need_procedure_after_filing():
    raw = json.loads(encode(referred()))
    raw["data"]["surprise"] = 1
    with pytest.raises(EventRejected, match="surprise"):
        decode_kafka(json.dumps(raw).encode())
    with pytest.raises(ValueError, match="procedure is required"):
        court_referral(referral_kind="post_filing")
    assert court_referral(referral_kind="post_filing", procedure="simplified").procedure == "simplified"


def test_event_id_is_a_uuid():
    with pytest.raises(EventRejected):
        decode_kafka(_envelope(id="offset-42"))
    assert isinstance(decode_kafka(_envelope(id=str(uuid.uuid4()))).id, uuid.UUID)
