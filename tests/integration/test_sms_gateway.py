"""The Tencent Cloud SMS gateway through the provider's official SDK, against a local stub of the provider that
verifies each request's TC3-HMAC-SHA256 signature and answers the provider's codes: success, throttled (tried
again, then sent), an invalid number (permanent), a wrong key (refused)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.notification.config import SmsSettings
from services.notification.gateways import GatewayFailure, Outgoing, TencentGateway
from tests.sms_stub import SmsStub

pytestmark = pytest.mark.asyncio(loop_scope="session")


def gateway(stub: SmsStub, **overrides) -> TencentGateway:
    settings = SmsSettings(gateway="tencent", tencent_secret_id=stub.secret_id, tencent_secret_key=stub.secret_key,
                           tencent_app_id=stub.app_id, tencent_endpoint=stub.endpoint, tencent_scheme="http",
                           timeout_seconds=5, **overrides)
    return TencentGateway(settings, "职工维权服务")


def outgoing(phone: str) -> Outgoing:
    return Outgoing(message_id=uuid.uuid4(), phone=phone, template_id="2310001", params=["LC-2026-000123", "K7QF"],
                    text="【职工维权服务】…")


NOW = datetime.now(UTC)


async def test_a_signed_request_is_sent_with_the_template_and_its_values():
    with SmsStub() as stub:
        out = outgoing("13709710001")
        sent = await gateway(stub).send(None, out, at=NOW)
    assert sent.state == "sent" and sent.provider_ref.startswith("2433:") and sent.attempts == 1
    assert stub.accepted == [{"phone": "13709710001", "template_id": "2310001", "params": ["LC-2026-000123", "K7QF"],
                              "sign": "职工维权服务", "session": str(out.message_id)}]
    assert stub.refused == []


async def test_a_throttled_number_is_tried_again_then_sent():
    with SmsStub(script={"13709710002": ["LimitExceeded.PhoneNumberThirtySecondLimit", "Ok"],
                         "13709710004": ["RequestLimitExceeded", "Ok"]}) as stub:
        g = gateway(stub)
        assert (await g.send(None, outgoing("13709710002"), at=NOW)).attempts == 2
        assert (await g.send(None, outgoing("13709710004"), at=NOW)).attempts == 2
    assert [s["phone"] for s in stub.sent] == ["13709710002", "13709710004"]


async def test_still_throttled_after_the_calls_is_a_transient_failure_with_the_count():
    with SmsStub(script={"13709710005": ["LimitExceeded.PhoneNumberDailyLimit"]}) as stub:
        with pytest.raises(GatewayFailure) as failure:
            await gateway(stub, call_retries=2).send(None, outgoing("13709710005"), at=NOW)
    assert failure.value.transient and failure.value.attempts == 2
    assert failure.value.reason.startswith("LimitExceeded.PhoneNumberDailyLimit")


async def test_an_invalid_number_fails_at_once_with_the_providers_reason():
    with SmsStub(script={"13709710003": ["InvalidParameterValue.IncorrectPhoneNumber"]}) as stub:
        with pytest.raises(GatewayFailure) as failure:
            await gateway(stub).send(None, outgoing("13709710003"), at=NOW)
    assert not failure.value.transient and failure.value.attempts == 1
    assert failure.value.reason == "InvalidParameterValue.IncorrectPhoneNumber: 发送失败"
    assert len(stub.accepted) == 1


async def test_a_wrong_key_is_refused_by_the_signature_check():
    with SmsStub() as stub:
        wrong = SmsSettings(gateway="tencent", tencent_secret_id=stub.secret_id, tencent_secret_key="not-the-key",
                            tencent_app_id=stub.app_id, tencent_endpoint=stub.endpoint, tencent_scheme="http")
        with pytest.raises(GatewayFailure) as failure:
            await TencentGateway(wrong, "职工维权服务").send(None, outgoing("13709710001"), at=NOW)
    assert failure.value.reason.startswith("AuthFailure.SignatureFailure") and not failure.value.transient
    assert stub.accepted == [] and stub.refused == ["AuthFailure.SignatureFailure"]


async def test_an_unreachable_provider_is_a_transient_failure():
    with SmsStub() as stub:
        endpoint = stub.endpoint
    closed = SmsSettings(gateway="tencent", tencent_secret_id="a", tencent_secret_key="b", tencent_app_id="c",
                         tencent_endpoint=endpoint, tencent_scheme="http", call_retries=1, timeout_seconds=2)
    with pytest.raises(GatewayFailure) as failure:
        await TencentGateway(closed, "职工维权服务").send(None, outgoing("13709710001"), at=NOW)
    assert failure.value.transient


async def test_the_provider_needs_its_account():
    with pytest.raises(ValueError, match="LABORCASE_SMS_TENCENT_SECRET_ID"):
        SmsSettings(gateway="tencent")
