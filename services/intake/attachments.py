"""Attachments (证据材料): evidence kept with the case, for every stage (intake holds the case file).

A file is checked whole before anything is written (type from its content, name, limits); the row and the case
log entry are written in one transaction, so a refused or interrupted upload leaves nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.errors import Conflict, Invalid, NotFound
from services.evidence.checks import KINDS, Refused, clean_name, sniff
from services.intake import repository as repo
from services.intake.models import Attachment


@dataclass(frozen=True)
class Limits:
    file_bytes: int
    case_bytes: int
    case_files: int


def _mib(n: int) -> str:
    return f"{n / 1_048_576:g} MB"


async def add(ctx: HandlerContext, case_id: str, *, kind: str, filename: str | None, content: bytes, note: str,
              actor: str, limits: Limits) -> Attachment:
    if kind not in KINDS:
        raise Invalid("材料类别不正确", errors=[("kind", "请选择材料类别")])
    if len(content) > limits.file_bytes:
        raise Invalid(f"文件超过 {_mib(limits.file_bytes)} 上限", errors=[("file", f"单个文件不超过 {_mib(limits.file_bytes)}")])
    try:
        sniffed = sniff(content)
        name = clean_name(filename, sniffed)
    except Refused as refused:
        raise Invalid(refused.reason, errors=[(refused.field, refused.reason)]) from None
    if await repo.get(ctx.conn, case_id, lock=True) is None:  # the lock: one upload of a case counts at a time
        raise NotFound(f"案件 {case_id} 不存在")
    files, stored = await repo.case_storage(ctx.conn, case_id)
    if files + 1 > limits.case_files:
        raise Conflict(f"本案材料已达 {limits.case_files} 份上限")
    if stored + len(content) > limits.case_bytes:
        raise Conflict(f"本案材料总量将超过 {_mib(limits.case_bytes)} 上限（已用 {_mib(stored)}）")
    attachment = Attachment(
        attachment_id=uuid.uuid4(), case_id=case_id, kind=kind, filename=name, content_type=sniffed.content_type,
        size_bytes=len(content), sha256=hashlib.sha256(content).hexdigest(), note=note.strip(), uploaded_by=actor,
        uploaded_at=ctx.now, storage="postgres", object_key=None, content=content)
    await repo.insert_attachment(ctx.conn, attachment)
    await caselog.log(ctx, case_id, actor=actor, action="attachment_added", attachment_id=str(attachment.attachment_id),
                      kind=kind, filename=name, size_bytes=len(content), sha256=attachment.sha256)
    return attachment
