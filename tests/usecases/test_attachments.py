"""Attachments on real PostgreSQL, with the bytes in the row or in an S3-compatible bucket (moto's server, started
here): a file round-trips byte for byte with its hash through both stores; storage is counted per case; every
hostile file is refused with a Chinese reason and leaves nothing behind — no row, no object; a row that fails
after its object was written takes the object with it; a missing or changed object is never served."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import asyncpg
import pytest

from services.backbone.caselog import entries
from services.backbone.errors import Conflict, Invalid, NotFound
from services.backbone.http import Problem
from services.evidence.store import S3Store, checked, object_key
from services.intake import attachments
from services.intake import repository as repo
from services.intake.registration import register
from tests.s3 import ACCESS_KEY, REGION, SECRET_KEY, s3_server
from tests.usecases.conftest import world_fixture
from tests.usecases.test_intake import CONFIG, submission

pytestmark = [pytest.mark.asyncio(loop_scope="session")]

world = world_fixture("intake")
LIMITS = attachments.Limits(file_bytes=64 * 1024, case_bytes=100 * 1024, case_files=3)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def docx(extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document>劳动合同</w:document>")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server:
        yield server


class Store:
    """The store a test runs against: None (bytes in the row) or an S3 bucket of its own."""

    def __init__(self, s3=None):
        self.s3, self.bucket = s3, s3.new_bucket() if s3 else None
        self.object_store = S3Store(bucket=self.bucket, endpoint=s3.endpoint, region=REGION, access_key_id=ACCESS_KEY,
                                    secret_access_key=SECRET_KEY) if s3 else None

    def objects(self) -> list[str]:
        return self.s3.keys(self.bucket) if self.s3 else []


@pytest.fixture(params=["postgres", "s3"])
def store(request):
    return Store(request.getfixturevalue("s3") if request.param == "s3" else None)


async def new_case(world) -> str:
    return (await world.run(lambda ctx: register(ctx, submission(world), config=CONFIG))).case_id


async def add(world, case_id: str, content: bytes, *, name: str = "工资条.png", kind: str = "payslip",
              store: Store | None = None):
    return await attachments.upload(world.run, case_id, store=store.object_store if store else None, kind=kind,
                                    filename=name, content=content, note="十月工资条", actor="clerk",
                                    actor_name="马丽娟", limits=LIMITS)


async def read_back(world, store: Store, case_id: str, attachment_id) -> bytes:
    stored = await repo.attachment(world.conn, case_id, attachment_id)
    return checked(await attachments.content_of(stored, store.object_store), stored.sha256, where="test")


async def test_a_file_round_trips_byte_for_byte_through_either_store(world, store):
    case_id = await new_case(world)
    photo = PNG + bytes(range(256)) * 200  # every byte value, more than one network read
    added = await add(world, case_id, photo, name="工资条.pdf", store=store)  # the name says PDF, the bytes PNG
    assert added.content_type == "image/png" and added.filename == "工资条.pdf"
    stored = await repo.attachment(world.conn, case_id, added.attachment_id)
    assert stored.sha256 == hashlib.sha256(photo).hexdigest() == added.sha256
    assert stored.uploaded_by == "clerk" and stored.uploaded_by_name == "马丽娟"
    if store.s3:  # the row keeps the facts and the key, the bucket the bytes
        assert (stored.storage, stored.content) == ("s3", None)
        assert store.objects() == [stored.object_key] == [object_key(case_id, added.attachment_id)]
    else:
        assert (stored.storage, stored.object_key, stored.content) == ("postgres", None, photo)
    assert await read_back(world, store, case_id, added.attachment_id) == photo
    listed = await repo.attachments_of(world.conn, case_id)
    assert [a.attachment_id for a in listed] == [added.attachment_id] and listed[0].content is None
    assert await repo.case_storage(world.conn, case_id) == (1, len(photo))
    contract = docx()
    word = await add(world, case_id, contract, name="劳动合同.docx", kind="contract", store=store)
    assert word.content_type.endswith("wordprocessingml.document")
    assert await read_back(world, store, case_id, word.attachment_id) == contract
    assert [e["action"] for e in await entries(world.conn, case_id)].count("attachment_added") == 2


async def test_the_timeline_event_carries_the_files_facts_and_the_uploaders_name_only(world, store):
    case_id = await new_case(world)
    added = await add(world, case_id, PNG, name="2026年10月工资条.png", store=store)
    [record] = world.records("intake.attachment_added")
    data = json.loads(record.value)["data"]
    assert data == {"case_id": case_id, "attachment_id": str(added.attachment_id), "kind": "payslip",
                    "filename": "2026年10月工资条.png", "content_type": "image/png", "size_bytes": len(PNG),
                    "uploaded_by_name": "马丽娟", "uploaded_at": data["uploaded_at"]}
    assert record.key == case_id.encode()


async def test_a_row_that_fails_after_its_object_was_written_takes_the_object_with_it(world, store, monkeypatch):
    case_id = await new_case(world)

    async def broken(conn, attachment):
        raise asyncpg.exceptions.UniqueViolationError("the row could not be written")

    monkeypatch.setattr(repo, "insert_attachment", broken)
    with pytest.raises(asyncpg.exceptions.UniqueViolationError):
        await add(world, case_id, PNG, store=store)
    assert store.objects() == []
    assert await repo.case_storage(world.conn, case_id) == (0, 0)
    assert world.records("intake.attachment_added") == []


async def test_a_missing_or_changed_object_is_never_served(world, s3):
    store = Store(s3)
    case_id = await new_case(world)
    gone = await add(world, case_id, PNG, store=store)
    changed = await add(world, case_id, PNG + b"!", store=store)
    s3.client().delete_object(Bucket=store.bucket, Key=object_key(case_id, gone.attachment_id))
    s3.client().put_object(Bucket=store.bucket, Key=object_key(case_id, changed.attachment_id), Body=b"\x89PNG other")
    with pytest.raises(Problem, match="缺失") as missing:
        await read_back(world, store, case_id, gone.attachment_id)
    with pytest.raises(Problem, match="校验失败") as differs:
        await read_back(world, store, case_id, changed.attachment_id)
    assert missing.value.status == differs.value.status == 500


@pytest.mark.parametrize(("content", "name", "reason"), [
    (b"MZ\x90\x00" + b"\x00" * 100, "工资条.jpg", "可执行"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "照片.png", "可执行"),
    (b"#!/bin/sh\nrm -rf /\n", "说明.txt", "可执行"),
    (docx({"bomb.xml": b"\x00" * 30_000_000}), "合同.docx", "压缩炸弹"),
    (docx({"run.exe": b"MZ"}), "合同.docx", "可执行"),
    (b"PK\x03\x04" + b"\x00" * 60, "合同.docx", "损坏"),
    (b"\x00\x01\x02\x03binary", "x.bin", "无法识别"),
    (PNG, "../../etc/passwd.png", "路径"),
    (PNG, "a\\b.png", "路径"),
    (PNG, "工资\r\n条.png", "控制字符"),
    (PNG, "工资\u202egnp.exe", "控制字符"),
    (b"\xff\xd8\xff" + b"\x00" * (65 * 1024), "大图.jpg", "上限"),
    (b"", "空.png", "空"),
])
async def test_a_hostile_file_is_refused_and_nothing_is_stored(world, store, content, name, reason):
    case_id = await new_case(world)
    with pytest.raises(Invalid, match=reason):
        await add(world, case_id, content, name=name, store=store)
    assert await repo.case_storage(world.conn, case_id) == (0, 0)
    assert store.objects() == []
    assert "attachment_added" not in [e["action"] for e in await entries(world.conn, case_id)]


async def test_storage_is_counted_per_case_and_limited(world, store):
    case_id, other = await new_case(world), await new_case(world)
    for _ in range(2):
        await add(world, case_id, b"\xff\xd8\xff" + b"\x01" * (40 * 1024), name="现场.jpg", kind="photo", store=store)
    with pytest.raises(Conflict, match="总量"):  # 80 KiB held, another 40 KiB would pass 100 KiB
        await add(world, case_id, b"\xff\xd8\xff" + b"\x01" * (40 * 1024), name="现场.jpg", kind="photo", store=store)
    await add(world, case_id, b"%PDF-1.7\n" + b"1" * 100, name="病历.pdf", kind="medical", store=store)
    with pytest.raises(Conflict, match="3 份"):
        await add(world, case_id, PNG, store=store)
    assert len(store.objects()) == (3 if store.s3 else 0)  # the refused ones left no object
    files, stored = await repo.case_storage(world.conn, case_id)
    assert files == 3 and stored == 2 * (40 * 1024 + 3) + 109
    assert await repo.case_storage(world.conn, other) == (0, 0)  # another case's storage is its own
    await add(world, other, PNG)


async def test_an_unknown_kind_or_case_is_refused(world):
    case_id = await new_case(world)
    with pytest.raises(Invalid, match="类别"):
        await add(world, case_id, PNG, kind="virus")
    with pytest.raises(NotFound):
        await add(world, "LC-NOPE", PNG)
