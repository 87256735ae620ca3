"""The evidence's timeline entry, in words; and a court's view of the timeline leaves it out (a court reads no
evidence of the union's case file: docs/adr/0006)."""

from __future__ import annotations

from events.catalog import EVENTS
from events.glossary import EVENT, zh
from services.supervision.domain.timeline import describe, for_partner

ADDED = {"case_id": "LC1", "attachment_id": "a1", "kind": "payslip", "filename": "2026年10月工资条.jpg",
         "content_type": "image/jpeg", "size_bytes": 120_000, "uploaded_by_name": "马丽娟",
         "uploaded_at": "2026-12-03T14:30:00+08:00"}


def test_the_upload_reads_as_words_with_the_kind_the_file_and_who():
    assert describe("intake.attachment_added", ADDED) == \
        "上传证据材料：工资条/工资流水（2026年10月工资条.jpg），上传人 马丽娟"
    assert zh("event", "intake.attachment_added") == EVENT["intake.attachment_added"] == "上传证据材料"


def test_the_event_carries_no_content_and_no_one_but_the_uploader():
    fields = set(EVENTS["intake.attachment_added"].model.model_fields)
    assert fields == set(ADDED)
    assert not fields & {"content", "note", "sha256", "uploaded_by", "workers", "id_number", "phone"}


def test_a_court_does_not_see_evidence_on_the_timeline():
    case = {"case_id": "LC1", "timeline": [
        {"type": "intake.case_received", "at": "t1", "summary": "受理登记"},
        {"type": "intake.attachment_added", "at": "t2", "summary": describe("intake.attachment_added", ADDED)}]}
    assert [t["type"] for t in for_partner(case)["timeline"]] == ["intake.case_received"]
