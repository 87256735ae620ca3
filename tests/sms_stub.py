"""A local stand-in for Tencent Cloud SMS (SendSms, API 2021-01-11) for the gateway's tests.

It checks every request the way the provider does — the TC3-HMAC-SHA256 signature over the canonical request,
recomputed here from the secret key (written from the provider's documentation, not from the SDK), the
timestamp's skew, the action and version headers — and answers in the provider's shapes: a per-number
``SendStatusSet`` (``Ok`` or the number's error code) or a request-level ``Error``. What each phone gets is
scripted: a list of codes answered in turn (the last one repeats).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: request-level errors (the whole call refused) as opposed to a number's status
REQUEST_ERRORS = ("RequestLimitExceeded", "InternalError.Timeout", "AuthFailure.SignatureFailure")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_signature(secret_key: str, *, method: str, host: str, content_type: str, body: bytes, timestamp: int,
                  service: str = "sms", path: str = "/", query: str = "") -> str:
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join([method, path, query, f"content-type:{content_type}\nhost:{host}\n", "content-type;host",
                           hashlib.sha256(body).hexdigest()])
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), f"{day}/{service}/tc3_request",
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), day), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass
class SmsStub:
    secret_id: str = "AKIDlaborcasetest"
    secret_key: str = "laborcase-test-secret-key"
    app_id: str = "1400000001"
    script: dict[str, list[str]] = field(default_factory=dict)
    #: every request that passed the checks: (phone, template id, params, sign name)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = stub.answer(self.headers, body)
                raw = json.dumps({"Response": {**answer, "RequestId": str(uuid.uuid4())}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> SmsStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _error(self, code: str, message: str) -> tuple[int, dict[str, Any]]:
        self.refused.append(code)
        return 200, {"Error": {"Code": code, "Message": message}}

    def answer(self, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        auth = headers.get("Authorization", "")
        try:
            algorithm, rest = auth.split(" ", 1)
            parts = dict(p.strip().split("=", 1) for p in rest.split(","))
            secret_id, day, service, terminator = parts["Credential"].split("/")
            timestamp = int(headers["X-TC-Timestamp"])
        except (ValueError, KeyError):
            return self._error("AuthFailure.SignatureFailure", "the request has no valid Authorization")
        signed_day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        if algorithm != "TC3-HMAC-SHA256" or service != "sms" or terminator != "tc3_request" or day != signed_day:
            return self._error("AuthFailure.SignatureFailure", "unexpected signing scope")
        if secret_id != self.secret_id:
            return self._error("AuthFailure.SecretIdNotFound", "unknown SecretId")
        if abs(time.time() - timestamp) > 300:
            return self._error("AuthFailure.SignatureExpire", "timestamp too far from now")
        expected = tc3_signature(self.secret_key, method="POST", host=headers.get("Host", ""),
                                 content_type=headers.get("Content-Type", ""), body=body, timestamp=timestamp)
        if parts.get("SignedHeaders") != "content-type;host" or not hmac.compare_digest(expected,
                                                                                        parts.get("Signature", "")):
            return self._error("AuthFailure.SignatureFailure", "signature does not match")
        if headers.get("X-TC-Action") != "SendSms" or headers.get("X-TC-Version") != "2021-01-11":
            return self._error("InvalidAction", "not SendSms 2021-01-11")
        request = json.loads(body)
        if request.get("SmsSdkAppId") != self.app_id:
            return self._error("FailedOperation.SmsSdkAppIdVerifyFail", "unknown SmsSdkAppId")
        [number] = request["PhoneNumberSet"]
        phone = number.removeprefix("+86")
        self.accepted.append({"phone": phone, "template_id": request["TemplateId"],
                              "params": request.get("TemplateParamSet", []), "sign": request.get("SignName"),
                              "session": request.get("SessionContext")})
        codes = self.script.get(phone, ["Ok"])
        code = codes.pop(0) if len(codes) > 1 else codes[0]
        if code in REQUEST_ERRORS:
            return self._error(code, "请求被拒绝")
        if code == "Ok":
            self.sent.append(self.accepted[-1])
        return 200, {"SendStatusSet": [{"SerialNo": f"2433:{uuid.uuid4().hex[:12]}", "PhoneNumber": number, "Fee": 1,
                                        "SessionContext": request.get("SessionContext", ""), "Code": code,
                                        "Message": "send success" if code == "Ok" else "发送失败", "IsoCode": "CN"}]}
