from datetime import UTC, datetime, timedelta

import pytest

from services.backbone import deadline as rules

pytestmark = pytest.mark.clock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def clock(days: float = 10, ratio: float = 0.8):
    return rules.start(case_id="c1", kind="tier", owner="intake", started_at=T0, due_at=T0 + timedelta(days=days),
                       warn_ratio=ratio)


def test_warning_at_80_percent_then_breach():
    d = clock()
    assert d.warn_at == T0 + timedelta(days=8)
    assert d.next_fire_at == d.warn_at
    assert rules.fire(d, T0 + timedelta(days=7))[1] == []
    d, signals = rules.fire(d, T0 + timedelta(days=8))
    assert signals == ["warning"] and d.next_fire_at == d.due_at
    assert rules.fire(d, T0 + timedelta(days=9))[1] == []
    d, signals = rules.fire(d, T0 + timedelta(days=10))
    assert signals == ["breached"] and d.state == "breached" and d.next_fire_at is None


def test_late_scan_fires_the_breach_only():
    d, signals = rules.fire(clock(), T0 + timedelta(days=30))
    assert signals == ["breached"] and d.breached_at == T0 + timedelta(days=10)


def test_pause_shifts_due_time_by_the_paused_span():
    d = rules.pause(clock(), at=T0 + timedelta(days=2), reason="awaiting_materials")
    assert d.next_fire_at is None
    d = rules.resume(d, at=T0 + timedelta(days=5))
    assert d.due_at == T0 + timedelta(days=13) and d.warn_at == T0 + timedelta(days=11)
    assert d.paused_seconds == timedelta(days=3).total_seconds()


def test_pause_needs_a_listed_reason():
    with pytest.raises(rules.DeadlineError, match="awaiting_materials"):
        rules.pause(clock(), at=T0, reason="lunch")


def test_extension_rearms_the_warning():
    d, _ = rules.fire(clock(), T0 + timedelta(days=9))
    assert d.warned
    d = rules.extend(d, due_at=T0 + timedelta(days=40))
    assert not d.warned and d.warn_at == T0 + timedelta(days=32)
    with pytest.raises(rules.DeadlineError):
        rules.extend(d, due_at=T0 + timedelta(days=1))


def test_meet_on_time_and_late():
    assert rules.meet(clock(), at=T0 + timedelta(days=9))[1] is True
    breached, _ = rules.fire(clock(), T0 + timedelta(days=11))
    met, on_time = rules.meet(breached, at=T0 + timedelta(days=11))
    assert met.state == "met" and on_time is False


def test_meeting_while_paused_counts_the_pause():
    d = rules.pause(clock(), at=T0 + timedelta(days=9), reason="awaiting_court_decision")
    assert rules.meet(d, at=T0 + timedelta(days=12))[1] is True


def test_finished_deadlines_refuse_changes():
    met, _ = rules.meet(clock(), at=T0)
    for change in (lambda d: rules.pause(d, at=T0, reason="party_unreachable"), rules.cancel,
                   lambda d: rules.resume(d, at=T0)):
        with pytest.raises(rules.DeadlineError):
            change(met)
