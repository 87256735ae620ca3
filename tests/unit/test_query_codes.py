"""The worker's query code (查询码): unguessable, human-friendly, kept only as a salted keyed hash, fast to verify;
and what the worker reads of their case (pure)."""

from __future__ import annotations

import math
import time

from services.security import query_codes as codes
from services.supervision.domain import worker_steps

SECRET = "k" * 40


def test_a_code_has_at_least_40_bits_from_an_alphabet_without_look_alikes():
    assert len(set(codes.ALPHABET)) == len(codes.ALPHABET) == 32
    assert not set("0O1I") & set(codes.ALPHABET)
    assert codes.LENGTH * math.log2(len(codes.ALPHABET)) == codes.BITS >= 40
    drawn = [codes.new_code() for _ in range(20_000)]
    assert all(len(c) == codes.LENGTH and set(c) <= set(codes.ALPHABET) for c in drawn)
    assert len(set(drawn)) == len(drawn)  # 50 bits: no collision in 20,000 draws
    used = {ch for c in drawn for ch in c}
    assert used == set(codes.ALPHABET)  # every symbol drawn (secrets.choice over the whole alphabet)


def test_a_code_is_typed_as_people_type_it():
    code = "K7M2PXQ9RT"
    assert codes.shown(code) == "K7M2P-XQ9RT"
    for typed in ("k7m2p-xq9rt", " K7M2P XQ9RT ", "K7M2P－XQ9RT", "K7M2PXQ9RT"):
        assert codes.normalized(typed) == code
    for wrong in ("", None, "K7M2P", "K7M2P-XQ9R0", "K7M2P-XQ9RI", "x" * 100):
        assert codes.normalized(wrong) is None


def test_only_a_salted_keyed_hash_is_kept_and_it_verifies_the_code_of_that_case_only():
    code = codes.new_code()
    stored = codes.hashed("LC20260302000001", code, secret=SECRET)
    again = codes.hashed("LC20260302000001", code, secret=SECRET)
    assert code not in stored and stored != again  # salted: the same code never hashes alike
    assert stored.startswith("v1$")
    assert codes.verify("LC20260302000001", codes.shown(code).lower(), [stored], secret=SECRET)
    assert not codes.verify("LC20260302000002", code, [stored], secret=SECRET)  # another case
    assert not codes.verify("LC20260302000001", codes.new_code(), [stored], secret=SECRET)
    assert not codes.verify("LC20260302000001", code, [stored], secret="z" * 40)  # without the key: nothing
    assert not codes.verify("LC20260302000001", None, [stored], secret=SECRET)
    assert not codes.verify("LC20260302000001", code, ["garbage", ""], secret=SECRET)


def test_a_rotation_keeps_only_the_new_code_and_a_joined_submission_adds_one():
    old, new = codes.new_code(), codes.new_code()
    live = [codes.hashed("LC1", old, secret=SECRET)]
    live = [codes.hashed("LC1", new, secret=SECRET)]  # rotated: replaces
    assert codes.verify("LC1", new, live, secret=SECRET) and not codes.verify("LC1", old, live, secret=SECRET)
    joined = codes.new_code()
    live.append(codes.hashed("LC1", joined, secret=SECRET))
    assert codes.verify("LC1", new, live, secret=SECRET) and codes.verify("LC1", joined, live, secret=SECRET)


def test_verifying_is_fast_enough_for_a_thousand_lookups_a_second():
    code = codes.new_code()
    stored = [codes.hashed("LC1", code, secret=SECRET)]
    n = 5000
    started = time.perf_counter()
    for _ in range(n):
        assert codes.verify("LC1", code, stored, secret=SECRET)
    per_second = n / (time.perf_counter() - started)
    assert per_second > 20_000, per_second  # HMAC: microseconds each (scrypt would allow ~50/s)


def test_the_worker_reads_their_case_in_words_without_staff_ids_or_notes():
    units = {"QH-XN-CD": "城东区总工会"}
    dispatched = worker_steps.step("intake.case_dispatched", {"org_unit": "QH-XN-CD", "route": "mediation"}, units)
    assert dispatched is not None and dispatched.title == "已转交城东区总工会办理（调解）"
    assigned = worker_steps.step("mediation.mediator_assigned",
                                 {"mediator_id": "M-CD-01", "mediator_name": "王淑芬", "reason": "容量"}, units)
    assert assigned is not None and assigned.title == "已安排调解员：王调解员" and "M-CD-01" not in assigned.title
    session = worker_steps.step("mediation.session_scheduled",
                                {"scheduled_at": "2026-03-05T06:30:00+00:00", "location": "城东区总工会调解室",
                                 "actor": "M-CD-01"}, units)
    assert session is not None and session.title == "调解会安排在 2026年3月5日 14:30，地点：城东区总工会调解室"
    failed = worker_steps.step("mediation.failed", {"disputed_points": ["内部备注：单位法人拒不到场"]}, units)
    assert failed is not None and "内部备注" not in failed.title
    resolved = worker_steps.step("mediation.case_resolved", {"outcome": "settled"}, units)
    assert resolved is not None and resolved.resolved is True and resolved.status == worker_steps.RESOLVED
    assert worker_steps.step("deadline.breached", {}, units) is None
    assert worker_steps.step("intake.case_reclassified", {"reason": "内部"}, units) is None
    assert worker_steps.status_of([{"status": "已受理"}, {"status": None}, {"status": "调解中"}, {}]) == "调解中"
    for event_type in worker_steps.SHOWN:  # every step type reads as words without a raw code
        shown = worker_steps.step(event_type, {}, units)
        assert shown is not None and "_" not in shown.title and "None" not in shown.title, event_type
