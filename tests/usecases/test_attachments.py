"""Attachments on real PostgreSQL: a file round-trips byte for byte with its hash; storage is counted per case;
every hostile file is refused with a Chinese reason and leaves nothing behind."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from services.backbone.caselog import entries
from services.backbone.errors import Conflict, Invalid, NotFound
from services.intake import attachments
from services.intake import repository as repo
from services.intake.registration import register
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


async def new_case(world) -> str:
    return (await world.run(lambda ctx: register(ctx, submission(world), config=CONFIG))).case_id


async def add(world, case_id: str, content: bytes, *, name: str = "工资条.png", kind: str = "payslip"):
    return await world.run(lambda ctx: attachments.add(ctx, case_id, kind=kind, filename=name, content=content,
                                                       note="十月工资条", actor="clerk", limits=LIMITS))


async def test_a_file_round_trips_with_its_type_from_the_content_and_its_hash(world):
    case_id = await new_case(world)
    added = await add(world, case_id, PNG, name="工资条.pdf")  # the name says PDF, the bytes say PNG
    assert added.content_type == "image/png" and added.filename == "工资条.pdf"
    stored = await repo.attachment(world.conn, case_id, added.attachment_id)
    assert stored.content == PNG and stored.sha256 == hashlib.sha256(PNG).hexdigest() == added.sha256
    listed = await repo.attachments_of(world.conn, case_id)
    assert [a.attachment_id for a in listed] == [added.attachment_id] and listed[0].content is None
    assert await repo.case_storage(world.conn, case_id) == (1, len(PNG))
    word = await add(world, case_id, docx(), name="劳动合同.docx", kind="contract")
    assert word.content_type.endswith("wordprocessingml.document")
    assert [e["action"] for e in await entries(world.conn, case_id)].count("attachment_added") == 2


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
async def test_a_hostile_file_is_refused_and_nothing_is_stored(world, content, name, reason):
    case_id = await new_case(world)
    with pytest.raises(Invalid, match=reason):
        await add(world, case_id, content, name=name)
    assert await repo.case_storage(world.conn, case_id) == (0, 0)
    assert "attachment_added" not in [e["action"] for e in await entries(world.conn, case_id)]


async def test_storage_is_counted_per_case_and_limited(world):
    case_id, other = await new_case(world), await new_case(world)
    for _ in range(2):
        await add(world, case_id, b"\xff\xd8\xff" + b"\x01" * (40 * 1024), name="现场.jpg", kind="photo")
    with pytest.raises(Conflict, match="总量"):  # 80 KiB held, another 40 KiB would pass 100 KiB
        await add(world, case_id, b"\xff\xd8\xff" + b"\x01" * (40 * 1024), name="现场.jpg", kind="photo")
    await add(world, case_id, b"%PDF-1.7\n" + b"1" * 100, name="病历.pdf", kind="medical")
    with pytest.raises(Conflict, match="3 份"):
        await add(world, case_id, PNG)
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
