import copy
import json

from events.contracts import ROOT, breaking_changes, check, generate


def test_committed_contracts_match_the_models():
    stale, breaking = check()
    assert not breaking, breaking
    assert not stale, f"contracts/ is stale, run `laborcase contracts --write`: {stale}"


def test_every_service_has_an_asyncapi_3_document():
    for name in ("intake", "mediation", "legal_aid", "followup", "supervision", "notification"):
        doc = json.loads((ROOT / "asyncapi" / f"{name}.json").read_text())
        assert doc["asyncapi"] == "3.0.0"
        assert any(op["action"] == "send" for op in doc["operations"].values())


def _schema():
    return copy.deepcopy(generate()["schemas/court.case_referred.v1.json"])


def test_adding_an_optional_field_is_compatible():
    new = _schema()
    new["properties"]["note"] = {"type": "string"}
    assert breaking_changes(_schema(), new) == []


def test_breaking_changes_are_detected():
    added_required = _schema()
    added_required["properties"]["note"] = {"type": "string"}
    added_required["required"].append("note")
    assert any("became required" in p for p in breaking_changes(_schema(), added_required))

    removed = _schema()
    del removed["properties"]["summary"]
    assert any("removed" in p for p in breaking_changes(_schema(), removed))

    retyped = _schema()
    retyped["properties"]["region_code"] = {"type": "integer"}
    assert breaking_changes(_schema(), retyped)

    narrowed = _schema()
    narrowed["properties"]["referral_kind"]["enum"] = ["pre_filing"]
    assert breaking_changes(_schema(), narrowed)


def test_description_changes_are_not_breaking():
    new = _schema()
    new["properties"]["summary"]["description"] = "案情摘要"
    assert breaking_changes(_schema(), new) == []


def test_every_consumed_topic_carries_an_event_its_service_handles():
    """A subscription nothing uses is not free: on the local broker every partition of every topic a service reads
    is answered on each of its fetches (the stack's idle polling), and every record there is delivered and
    skipped. Mediation read legalaid.events from the start and handled nothing on it."""
    import importlib

    from events.catalog import CONSUMES, EVENTS

    for service, topics in CONSUMES.items():
        handled = importlib.import_module(f"services.{service}.service").SPEC.handlers
        for topic in topics:
            used = sorted(t for t in handled if t in EVENTS and topic in EVENTS[t].topics)
            assert used, f"{service} reads {topic} and handles none of its events"
