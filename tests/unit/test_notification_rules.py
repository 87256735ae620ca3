"""Notification's pure rules: every template renders for every step, quiet hours across midnight (Shanghai has no
daylight saving), the provider's codes sorted into transient and permanent, opt-out numbers checked."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest

from events.glossary import NOTIFICATION_KIND, zh
from services.backbone.errors import Invalid
from services.calendar.model import SHANGHAI
from services.notification import optouts
from services.notification.config import TEMPLATES, catalog
from services.notification.domain.quiet import QuietHours
from services.notification.domain.retry import backoff
from services.notification.domain.templates import HIDDEN, Catalog, TemplateError
from services.notification.gateways import is_transient, reason_words

SAMPLE = {"case_id": "LC-2026-000123", "query_code": "K7QF-82MX-PA", "unit": "西宁市城东区总工会", "mediator": "王淑芬",
          "when": "2026年12月5日 14:30", "where": "城东区总工会调解室", "amount": "18,600.00", "day": "2026年12月10日"}
#: every step the brief names, by the template that tells it
STEPS = {"received", "code_rotated", "dispatched", "mediator_assigned", "session_scheduled", "settled", "confirmed",
         "confirmation_rejected", "followup_due", "closed"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_every_step_has_a_template_that_renders_in_chinese():
    c = catalog(TEMPLATES)
    assert set(c.templates) == STEPS
    for kind, template in c.templates.items():
        text = template.render(SAMPLE)
        assert not re.search(r"\{\d+\}", text), kind
        assert SAMPLE["case_id"] in text and template.template_id.isdigit()
        assert not re.search(r"[A-Za-z_]{3,}", text.replace(SAMPLE["case_id"], "").replace(SAMPLE["query_code"], "")), \
            f"{kind}: an English word in the worker's text"
        assert zh("notification_kind", kind) == NOTIFICATION_KIND[kind]
    assert c.sign_name and c.quiet == QuietHours(time(21), time(8))


def test_the_query_code_is_sent_but_hidden_wherever_it_is_shown():
    received = catalog(TEMPLATES)["received"]
    assert received.values(SAMPLE) == ["LC-2026-000123", "K7QF-82MX-PA"]
    assert "K7QF-82MX-PA" in received.render(SAMPLE)
    hidden = received.render(SAMPLE, hide_secrets=True)
    assert "K7QF" not in hidden and HIDDEN in hidden and "LC-2026-000123" in hidden


def test_a_missing_value_is_an_error_not_a_blank_message():
    with pytest.raises(TemplateError, match="unit"):
        catalog(TEMPLATES)["dispatched"].render({"case_id": "LC-1"})


def test_a_template_whose_text_and_params_disagree_is_refused(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text('sign_name = "x"\n[templates.a]\ntemplate_id = "1"\ntext = "案件{1}{2}"\nparams = ["case_id"]\n',
                   encoding="utf-8")
    with pytest.raises(TemplateError):
        Catalog.load(bad)


QUIET = QuietHours()


@pytest.mark.parametrize(("moment", "quiet", "sent_at"), [
    ("2026-12-03T20:59:59+08:00", False, "2026-12-03T20:59:59+08:00"),
    ("2026-12-03T21:00:00+08:00", True, "2026-12-04T08:00:00+08:00"),
    ("2026-12-03T23:59:59+08:00", True, "2026-12-04T08:00:00+08:00"),
    ("2026-12-04T00:00:00+08:00", True, "2026-12-04T08:00:00+08:00"),
    ("2026-12-04T07:59:59+08:00", True, "2026-12-04T08:00:00+08:00"),
    ("2026-12-04T08:00:00+08:00", False, "2026-12-04T08:00:00+08:00"),
    # the same instants given in UTC: 13:00Z is 21:00 in Shanghai, 23:59Z is 07:59 the next morning
    ("2026-12-03T13:00:00+00:00", True, "2026-12-04T08:00:00+08:00"),
    ("2026-12-03T23:59:00+00:00", True, "2026-12-04T08:00:00+08:00"),
    ("2026-12-04T00:00:00+00:00", False, "2026-12-04T08:00:00+08:00"),
    # New Year's Eve: the night reaches into the next year; the end of February in a leap year
    ("2026-12-31T22:30:00+08:00", True, "2027-01-01T08:00:00+08:00"),
    ("2028-02-28T21:30:00+08:00", True, "2028-02-29T08:00:00+08:00"),
    # summer (other zones move their clocks; Shanghai does not): still 08:00 local, 00:00 UTC
    ("2026-07-01T05:00:00+08:00", True, "2026-07-01T08:00:00+08:00"),
])
def test_quiet_hours_hold_until_eight_in_shanghai(moment, quiet, sent_at):
    assert QUIET.is_quiet(at(moment)) is quiet
    assert QUIET.next_allowed(at(moment)) == at(sent_at)


def test_a_held_message_goes_at_eight_every_day_of_the_year():
    night = datetime(2026, 1, 1, 22, 0, tzinfo=SHANGHAI)
    for n in range(366):
        release = QUIET.next_allowed(night + timedelta(days=n))
        assert release.astimezone(SHANGHAI).time() == time(8) and release.astimezone(UTC).time() == time(0)
        assert not QUIET.is_quiet(release) and QUIET.is_quiet(release - timedelta(seconds=1))


def test_quiet_hours_within_one_day_and_none():
    lunch = QuietHours.parse("12:00", "13:30")
    assert lunch.is_quiet(at("2026-12-03T12:10:00+08:00"))
    assert lunch.next_allowed(at("2026-12-03T12:10:00+08:00")) == at("2026-12-03T13:30:00+08:00")
    assert not lunch.is_quiet(at("2026-12-03T22:00:00+08:00"))
    assert not QuietHours.parse("00:00", "00:00").is_quiet(at("2026-12-03T03:00:00+08:00"))


def test_retries_back_off_and_stop_growing():
    waits = [backoff(n, jitter=0).total_seconds() for n in range(1, 12)]
    assert waits[:3] == [2, 4, 8] and waits[-1] == 600 and waits == sorted(waits)
    assert 1.5 <= backoff(1).total_seconds() <= 2.5


@pytest.mark.parametrize(("code", "transient"), [
    ("LimitExceeded.PhoneNumberThirtySecondLimit", True), ("RequestLimitExceeded", True),
    ("InternalError.Timeout", True), ("ServerNetworkError", True), ("ClientNetworkError", True),
    ("InvalidParameterValue.IncorrectPhoneNumber", False), ("FailedOperation.PhoneNumberInBlacklist", False),
    ("AuthFailure.SignatureFailure", False), ("FailedOperation.TemplateIncorrectOrUnapproved", False),
])
def test_provider_codes_are_transient_or_permanent(code, transient):
    assert is_transient(code) is transient


def test_failure_reasons_read_in_chinese():
    assert reason_words("InvalidParameterValue.IncorrectPhoneNumber: bad number") == "手机号码格式不正确"
    assert reason_words("AuthFailure.SignatureFailure: x") == "短信服务账号认证失败"
    assert reason_words("SomethingNew.Unheard: x") == "短信服务商拒绝发送"
    assert reason_words("该号码已退订短信通知") == "该号码已退订短信通知" and reason_words(None) is None


def test_an_opt_out_needs_a_mobile_number():
    assert optouts._mobile(" 137-0971-0001 ") == "13709710001"
    for wrong in ("0971-8123456", "1370971", "abc"):
        with pytest.raises(Invalid) as refused:
            optouts._mobile(wrong)
        assert refused.value.errors[0].field == "phone"
