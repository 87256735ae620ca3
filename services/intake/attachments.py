"""Attachments (证据材料): evidence kept with the case, for every stage (intake holds the case file).

A file is checked whole before anything is written (type from its content, name, limits). Its bytes go into its
row (PostgreSQL) or, with an object store configured, into the bucket first and the row second — both inside the
upload's one unit of work, with the case log entry and the ``intake.attachment_added`` event (the timeline's
entry); when the row is not committed the object is deleted (``upload``), so a refused, interrupted or failed
upload leaves nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from events.intake import AttachmentAdded
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.errors import Conflict, Invalid, NotFound
from services.evidence.checks import KINDS, Refused, clean_name, sniff
from services.evidence.store import ObjectStore, object_key
from services.intake import repository as repo
from services.intake.models import Attachment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    file_bytes: int
    case_bytes: int
    case_files: int


def _mib(n: int) -> str:
    return f"{n / 1_048_576:g} MB"


async def add(ctx: HandlerContext, case_id: str, *, kind: str, filename: str | None, content: bytes, note: str,
              actor: str, limits: Limits, actor_name: str | None = None, store: ObjectStore | None = None,
              attachment_id: uuid.UUID | None = None) -> Attachment:
    """Check, count under the case's lock, store (the object first when ``store``), record, log and publish.

    ``actor``: the uploader's account (the audit's name for them); ``actor_name``: their name as people read it
    (kept on the row: the panel and the timeline show it, as it was at the upload)."""
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
    attachment_id = attachment_id or uuid.uuid4()
    sha256 = hashlib.sha256(content).hexdigest()
    key = object_key(case_id, attachment_id) if store is not None else None
    if store is not None and key is not None:
        await store.put(key, content, content_type=sniffed.content_type, sha256=sha256)
    attachment = Attachment(
        attachment_id=attachment_id, case_id=case_id, kind=kind, filename=name, content_type=sniffed.content_type,
        size_bytes=len(content), sha256=sha256, note=note.strip(), uploaded_by=actor,
        uploaded_by_name=actor_name or actor, uploaded_at=ctx.now, storage=store.name if store else "postgres",
        object_key=key, content=None if store else content)
    await repo.insert_attachment(ctx.conn, attachment)
    caselog.log(ctx, case_id, actor=actor_name or actor, action="attachment_added",
                attachment_id=str(attachment_id), kind=kind, filename=name, size_bytes=len(content), sha256=sha256)
    ctx.publish("intake.attachment_added", AttachmentAdded(
        case_id=case_id, attachment_id=str(attachment_id), kind=kind, filename=name, content_type=sniffed.content_type,
        size_bytes=len(content), uploaded_by_name=attachment.uploaded_by_name, uploaded_at=ctx.now), subject=case_id)
    return attachment


Step = Callable[[HandlerContext], Awaitable[Attachment]]


async def upload(run: Callable[[Step], Awaitable[Attachment]], case_id: str, *, store: ObjectStore | None,
                 **kw: object) -> Attachment:
    """``add`` in a unit of work (``run``: ``usecase.run`` bound to the runtime); the object written for a row
    that was not committed — a refusal after it, a failed insert, a failed commit, a cancelled request — is
    deleted again."""
    attachment_id = uuid.uuid4()
    try:
        return await run(lambda ctx: add(ctx, case_id, store=store, attachment_id=attachment_id, **kw))  # type: ignore[arg-type]
    except BaseException:
        if store is not None:
            await asyncio.shield(_forget(store, object_key(case_id, attachment_id)))
        raise


async def _forget(store: ObjectStore, key: str) -> None:
    try:
        await store.delete(key)
    except Exception:  # the upload already failed; an orphan object is logged for the operator
        log.exception("could not delete the object of an upload that was not recorded", extra={"key": key})


async def content_of(attachment: Attachment, store: ObjectStore | None) -> bytes | None:
    """The bytes of a stored attachment, from wherever its row says they are (None: they are not there)."""
    if attachment.storage == "postgres":
        return attachment.content
    if store is None or attachment.object_key is None:
        log.error("attachment in an object store that is not configured", extra={"storage": attachment.storage})
        return None
    return await store.get(attachment.object_key)
