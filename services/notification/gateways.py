"""SMS gateways, chosen by configuration (``LABORCASE_SMS_GATEWAY``):

- ``recording`` — for local runs: the message is recorded in the service's own database, in the sender's
  transaction (so a message is recorded exactly once, whatever is killed when), and operators read it in the
  console (/notification).
- ``tencent`` — Tencent Cloud SMS (短信, SendSms of API 2021-01-11) through the provider's official SDK
  (tencentcloud-sdk-python-sms, its asyncio client; requests signed TC3-HMAC-SHA256). The provider's codes are
  sorted into transient (throttled, busy, network: tried again with backoff) and permanent (an invalid number,
  a blacklisted one, a template or signature refused: failed with the provider's reason).

A gateway never returns without a result: sent (or delivered), or a ``GatewayFailure`` that says whether to try
again and why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from services.backbone.consumer import HandlerContext
from services.notification import repository
from services.notification.config import SmsSettings


@dataclass(frozen=True)
class Outgoing:
    message_id: uuid.UUID
    phone: str
    template_id: str
    params: list[str]
    #: the message as the phone shows it (signature in front)
    text: str


@dataclass(frozen=True)
class Sent:
    state: str  # "sent" (the provider took it) or "delivered" (the recording gateway: it is where it goes)
    provider_ref: str | None
    attempts: int


class GatewayFailure(Exception):
    def __init__(self, reason: str, *, transient: bool, attempts: int = 1):
        super().__init__(reason)
        self.reason, self.transient, self.attempts = reason, transient, attempts


class Gateway(Protocol):
    name: str
    #: whether the messages' text may show the secrets it carries (the query code) where staff read it
    shows_secrets: bool

    async def send(self, ctx: HandlerContext | None, out: Outgoing, *, at: datetime) -> Sent:
        """``ctx``: the sending round's unit of work (the recording gateway records the message there)."""
        ...


@dataclass
class _Recorded:
    """A round's recorded messages, written in one statement when its work is done (``HandlerContext.gather``)."""

    rows: list[tuple[uuid.UUID, str, str, datetime]] = field(default_factory=list)

    async def flush(self, ctx: HandlerContext) -> None:
        if self.rows:
            await repository.record_sms(ctx.conn, self.rows)


class RecordingGateway:
    name = "recording"
    shows_secrets = True

    async def send(self, ctx: HandlerContext | None, out: Outgoing, *, at: datetime) -> Sent:
        if ctx is None:
            raise GatewayFailure("the recording gateway records in the sending round's transaction", transient=False)
        ctx.gather("notification.recorded", _Recorded).rows.append((out.message_id, out.phone, out.text, at))
        return Sent("delivered", f"recorded-{out.message_id}", 1)


#: Tencent Cloud's error codes (request-level ``Error.Code`` or a number's ``SendStatus.Code``) worth trying again
TRANSIENT_CODES = ("LimitExceeded", "RequestLimitExceeded", "InternalError", "ServerNetworkError",
                   "ClientNetworkError", "ResourceUnavailable")


#: what people read for a provider's reason (the code itself stays in the API's ``reason``)
REASON_ZH = {
    "InvalidParameterValue.IncorrectPhoneNumber": "手机号码格式不正确", "FailedOperation.PhoneNumberInBlacklist":
    "该号码在服务商的免打扰名单中", "LimitExceeded.PhoneNumberDailyLimit": "该号码今日接收短信已达上限",
    "LimitExceeded.PhoneNumberThirtySecondLimit": "发送过于频繁", "RequestLimitExceeded": "发送过于频繁",
    "FailedOperation.TemplateIncorrectOrUnapproved": "短信模板未通过审核", "FailedOperation.SignatureIncorrectOrUnapproved":
    "短信签名未通过审核", "AuthFailure": "短信服务账号认证失败", "UnauthorizedOperation": "短信服务账号无权发送",
    "InternalError": "短信服务暂时不可用", "ServerNetworkError": "短信服务暂时不可用", "ClientNetworkError": "无法连接短信服务",
}


def reason_words(reason: str | None) -> str | None:
    """A failure's reason in words: the provider's code named, else a plain statement."""
    if not reason:
        return None
    code = reason.split(":", 1)[0].strip()
    return REASON_ZH.get(code) or REASON_ZH.get(code.split(".", 1)[0]) or (
        reason if not code.isascii() else "短信服务商拒绝发送")


def is_transient(code: str) -> bool:
    return code.split(".", 1)[0] in TRANSIENT_CODES or code in TRANSIENT_CODES


class TencentGateway:
    name = "tencent"
    shows_secrets = False

    def __init__(self, settings: SmsSettings, sign_name: str):
        from tencentcloud.common.credential import Credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111.sms_client_async import SmsClient

        self.settings, self.sign_name = settings, sign_name
        http = HttpProfile(protocol=settings.tencent_scheme, endpoint=settings.tencent_endpoint,
                           reqTimeout=int(settings.timeout_seconds))
        profile = ClientProfile(httpProfile=http)
        profile.disable_region_breaker = True
        self.client = SmsClient(Credential(settings.tencent_secret_id, settings.tencent_secret_key),
                                settings.tencent_region, profile)

    async def send(self, ctx: HandlerContext | None, out: Outgoing, *, at: datetime) -> Sent:
        calls = 0
        try:
            async for attempt in AsyncRetrying(
                    retry=retry_if_exception(lambda e: isinstance(e, GatewayFailure) and e.transient),
                    stop=stop_after_attempt(self.settings.call_retries),
                    wait=wait_exponential_jitter(initial=0.2, max=2), reraise=True):
                with attempt:
                    calls += 1
                    ref = await self._call(out)
            return Sent("sent", ref, calls)
        except GatewayFailure as failure:
            failure.attempts = calls
            raise

    async def _call(self, out: Outgoing) -> str | None:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        from tencentcloud.sms.v20210111 import models

        request = models.SendSmsRequest()
        request.PhoneNumberSet = [f"+86{out.phone}"]
        request.SmsSdkAppId = self.settings.tencent_app_id
        request.SignName = self.sign_name
        request.TemplateId = out.template_id
        request.TemplateParamSet = out.params
        request.SessionContext = str(out.message_id)
        try:
            response = await self.client.SendSms(request)
        except TencentCloudSDKException as exc:
            code = exc.get_code() or "ClientNetworkError"
            raise GatewayFailure(f"{code}: {exc.get_message()}", transient=is_transient(code)) from None
        except Exception as exc:  # the network under the SDK (refused, reset, timed out)
            raise GatewayFailure(f"ClientNetworkError: {type(exc).__name__}", transient=True) from None
        statuses = response.SendStatusSet or []
        if not statuses:
            raise GatewayFailure("InternalError: 服务商未返回发送状态", transient=True)
        status = statuses[0]
        if status.Code == "Ok":
            return status.SerialNo
        raise GatewayFailure(f"{status.Code}: {status.Message}", transient=is_transient(status.Code))


def gateway_for(settings: SmsSettings, sign_name: str) -> Gateway:
    if settings.gateway == "tencent":
        return TencentGateway(settings, sign_name)
    return RecordingGateway()
