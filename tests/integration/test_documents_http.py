"""Attachments over real HTTP, through the console's origin of a running ``laborcase up`` whose attachments live in
an S3-compatible bucket (moto's server, started here): a multipart upload round-trips byte for byte and lands in
the bucket; another province's clerk is refused as if the case did not exist; the upload and the download are in
the audit trail; the timeline says who added what; hostile bodies — one that never ends, one without a length
over the limit, a disguised executable — are refused and store nothing; an object that went missing answers a
Chinese 500, never other bytes."""

from __future__ import annotations

import hashlib
import socket
import struct
import time
import zlib
from datetime import date

import httpx
import pytest

from services.intake.domain.identifiers import make_id_number, make_uscc
from tests import clock
from tests.browser.journey import api, wait_for
from tests.s3 import s3_server
from tests.stack import laborcase_up

pytestmark = [pytest.mark.integration]
FILE_LIMIT = 256 * 1024
BODY_SECONDS = 3


def png(width: int = 24, height: int = 16, seed: int = 0) -> bytes:
    """A real (tiny) PNG: a payslip photo as a phone would send it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes((x * 7 + y * 13 + seed) % 256 for x in range(width * 3)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with s3_server() as s3:
        bucket = s3.new_bucket()
        env = s3.env(bucket) | {"LABORCASE_ATTACHMENT_MAX_BYTES": str(FILE_LIMIT),
                                "LABORCASE_REQUEST_BODY_SECONDS": str(BODY_SECONDS)}
        with laborcase_up(tmp_path_factory.mktemp("documents") / "home", env=env) as stack:
            yield stack, s3, bucket


def register(stack, n: int) -> str:
    body = {"channel": "window", "received_at": clock.now().replace(microsecond=0).isoformat(), "region_code": "630102",
            "summary": "证据材料接口测试：拖欠工资", "claims": [{"type": "wage_arrears", "amount_cny": 6200}],
            "workers": [{"name": f"材料职工{n}", "id_number": make_id_number("630102", date(1991, 3, 4), 600 + n),
                         "phone": "13909716600"}],
            "employer": {"name": f"城东区材料测试公司{n}", "uscc": make_uscc("630102", 66000 + n)}}
    r = api(stack, "clerk", "POST", "/api/v1/cases", json=body)
    assert r.status_code == 201, r.text
    return r.json()["case_id"]


def upload(stack, user: str, case_id: str, content: bytes, name: str = "2026年10月工资条.png",
           kind: str = "payslip") -> httpx.Response:
    return api(stack, user, "POST", f"/api/v1/cases/{case_id}/attachments",
               files={"file": (name, content, "image/png")}, data={"kind": kind, "note": "十月工资条"})


def listed(stack, case_id: str) -> dict:
    r = api(stack, "clerk", "GET", f"/api/v1/cases/{case_id}/attachments")
    assert r.status_code == 200, r.text
    return r.json()


def raw_request(port: int, head: str, body: bytes, *, wait: float) -> tuple[int, float]:
    """Send ``head`` and ``body`` over a socket, keep the connection open, and return the status and how long the
    answer took (a client that stops sending, as a slowloris does)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(head.encode("latin-1") + body)
        answer = b""
        while b"\r\n" not in answer:
            piece = s.recv(4096)
            if not piece:
                break
            answer += piece
    return int(answer.split(b" ", 2)[1]), time.monotonic() - started


def test_an_upload_round_trips_through_the_console_into_the_bucket_and_is_audited(world):
    stack, s3, bucket = world
    case_id = register(stack, 1)
    photo = png(seed=1)
    r = upload(stack, "clerk", case_id, photo)
    assert r.status_code == 201, r.text
    added = r.json()
    assert (added["uploaded_by"], added["uploaded_by_name"]) == ("clerk", "马丽娟")
    assert added["sha256"] == hashlib.sha256(photo).hexdigest()
    assert s3.keys(bucket) == [f"cases/{case_id}/{added['attachment_id']}"]  # the bytes are in the bucket
    got = api(stack, "clerk", "GET", added["href"])
    assert got.status_code == 200 and got.content == photo
    assert got.headers["x-laborcase-sha256"] == added["sha256"] and "attachment" in got.headers["content-disposition"]
    assert [a["uploaded_by_name"] for a in listed(stack, case_id)["attachments"]] == ["马丽娟"]

    # another province's clerk: the same answer as a case that does not exist, and nothing is added
    for method, path, kw in (("GET", f"/api/v1/cases/{case_id}/attachments", {}),
                             ("GET", added["href"], {}),
                             ("POST", f"/api/v1/cases/{case_id}/attachments",
                              {"files": {"file": ("x.png", photo, "image/png")}, "data": {"kind": "photo"}})):
        refused = api(stack, "clerk-sc", method, path, **kw)
        assert refused.status_code == 404 and "不存在" in refused.json()["detail"], refused.text
    assert len(listed(stack, case_id)["attachments"]) == 1 and len(s3.keys(bucket)) == 1

    # the audit trail has the upload and the download (and the refused attempts), each naming the case
    trail = api(stack, "supervisor-qh", "GET", "/api/v1/audit", params={"case_id": case_id}).json()["entries"]
    mine = [(e["actor"], e["method"], e["path"], e["status"]) for e in trail if "/attachments" in e["path"]]
    assert ("clerk", "POST", f"/api/v1/cases/{case_id}/attachments", 201) in mine
    assert ("clerk", "GET", added["href"], 200) in mine
    # the refused attempts too — in the trail of the other province's people (the operator reads every trail)
    trail = api(stack, "operator", "GET", "/api/v1/audit", params={"case_id": case_id}).json()["entries"]
    assert ("clerk-sc", "POST", f"/api/v1/cases/{case_id}/attachments", 404) in [
        (e["actor"], e["method"], e["path"], e["status"]) for e in trail]

    # the timeline says what was added and by whom — in words
    def on_timeline():
        r = api(stack, "supervisor-qh", "GET", f"/api/v1/cases/{case_id}")
        return [t["summary"] for t in r.json().get("timeline", []) if t["type"] == "intake.attachment_added"] \
            if r.status_code == 200 else None
    assert wait_for(on_timeline, "the attachment on the timeline") == [
        "上传证据材料：工资条/工资流水（2026年10月工资条.png），上传人 马丽娟"]


def test_hostile_bodies_are_refused_and_leave_nothing(world):
    stack, s3, bucket = world
    case_id = register(stack, 2)
    before = set(s3.keys(bucket))
    token = stack.bearer("clerk")["authorization"]
    boundary = "----laborcase-hostile"
    opening = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\npayslip\r\n--{boundary}\r\n"
               "Content-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
               ).encode() + png()
    path = f"/api/v1/cases/{case_id}/attachments"
    port = int(stack.console.rsplit(":", 1)[1])

    # a body that never ends (announced, never sent in full): 408 after the body time, nothing stored
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 200000\r\n\r\n")
    status, took = raw_request(port, head, opening, wait=BODY_SECONDS + 20)
    assert status == 408 and BODY_SECONDS - 0.5 <= took < BODY_SECONDS + 15, (status, took)

    # a body without a length, larger than the upload limit: 413 (the edge used to answer 500), at the console
    # and at intake itself
    def endless():
        yield opening
        for _ in range(FILE_LIMIT // 4096 + 40):
            yield b"\x00" * 4096
    for base in (stack.console, f"http://127.0.0.1:{stack.ports['intake']}"):
        r = httpx.post(f"{base}{path}", content=endless(), timeout=30, headers={
            "authorization": token, "content-type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 413 and "上限" in r.json()["detail"], (base, r.status_code, r.text)

    # a disguised executable and a name with a path: refused with the reason in Chinese
    exe = upload(stack, "clerk", case_id, b"MZ\x90\x00" + b"\x00" * 200, name="工资条.png")
    assert exe.status_code == 422 and "可执行" in exe.json()["detail"]
    path_name = upload(stack, "clerk", case_id, png(), name="../../etc/工资条.png")
    assert path_name.status_code == 422 and "路径" in path_name.json()["detail"]

    assert listed(stack, case_id)["attachments"] == [] and set(s3.keys(bucket)) == before


def test_an_object_gone_from_the_bucket_is_a_chinese_500_not_other_bytes(world):
    stack, s3, bucket = world
    case_id = register(stack, 3)
    added = upload(stack, "clerk", case_id, png(seed=3)).json()
    s3.client().delete_object(Bucket=bucket, Key=f"cases/{case_id}/{added['attachment_id']}")
    r = api(stack, "clerk", "GET", added["href"])
    assert r.status_code == 500 and "缺失" in r.json()["detail"], r.text
