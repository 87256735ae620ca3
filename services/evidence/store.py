"""Where an attachment's bytes live (docs/adr/0006): in its PostgreSQL row (``postgres``, the default), or in an
S3-compatible object store (``s3``) through the official client, boto3, with the row keeping the facts and the
object's key.

The object store is written first and the row second, in the one unit of work of the upload
(``services.intake.attachments.upload``): an upload whose row is not committed deletes its object, so nothing is
ever half-stored. A row whose object is missing, or whose bytes no longer match the row's SHA-256, is answered
with a Chinese problem and logged — never with other bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from typing import Any, Protocol

from services.backbone.http import Problem
from services.backbone.settings import Settings

log = logging.getLogger(__name__)

UNAVAILABLE = "证据材料存储暂不可用，请稍后重试"


class StoreUnavailable(Problem):
    def __init__(self) -> None:
        super().__init__(503, UNAVAILABLE, retry_after=5)


class ObjectStore(Protocol):
    """An object store for attachments' bytes (the S3 one; a test may give another)."""

    name: str

    async def put(self, key: str, content: bytes, *, content_type: str, sha256: str) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> None: ...


def object_key(case_id: str, attachment_id: uuid.UUID) -> str:
    """The object's name: the case and the attachment's id (never the file's name: nothing a person typed)."""
    return f"cases/{case_id}/{attachment_id}"


class S3Store:
    """An S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Aliyun OSS / Tencent COS in S3 mode) through boto3.

    boto3 is synchronous: each call runs in a worker thread so the service's event loop keeps serving."""

    name = "s3"

    def __init__(self, *, bucket: str, endpoint: str | None = None, region: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None, timeout: float = 10):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client: Any = boto3.client(
            "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"},
                          s3={"addressing_style": "path" if endpoint else "auto"}))

    @classmethod
    def from_settings(cls, s: Settings) -> S3Store:
        return cls(bucket=s.s3_bucket, endpoint=s.s3_endpoint, region=s.s3_region, access_key_id=s.s3_access_key_id,
                   secret_access_key=s.s3_secret_access_key.get_secret_value() if s.s3_secret_access_key else None,
                   timeout=s.s3_timeout_seconds)

    async def _call(self, operation: str, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(getattr(self.client, operation), Bucket=self.bucket, **kw)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise KeyError(kw.get("Key")) from exc
            log.error("object store refused", extra={"operation": operation, "bucket": self.bucket,
                                                     "error": str(exc)[:300]})
            raise StoreUnavailable() from exc
        except BotoCoreError as exc:  # unreachable, timed out, no credentials
            log.error("object store unavailable", extra={"operation": operation, "bucket": self.bucket,
                                                         "error": str(exc)[:300]})
            raise StoreUnavailable() from exc

    async def put(self, key: str, content: bytes, *, content_type: str, sha256: str) -> None:
        await self._call("put_object", Key=key, Body=content, ContentType=content_type, Metadata={"sha256": sha256})

    async def get(self, key: str) -> bytes | None:
        try:
            answer = await self._call("get_object", Key=key)
        except KeyError:
            return None
        return await asyncio.to_thread(answer["Body"].read)

    async def delete(self, key: str) -> None:
        try:
            await self._call("delete_object", Key=key)
        except KeyError:
            pass


def store_for(settings: Settings) -> ObjectStore | None:
    """The configured object store; None: attachments' bytes stay in their PostgreSQL rows."""
    return S3Store.from_settings(settings) if settings.attachment_store == "s3" else None


def checked(content: bytes | None, sha256: str, *, where: str) -> bytes:
    """The bytes read back, if they are the ones stored: a missing object or changed bytes is the store's fault
    (a 500 with a Chinese reason, and an error in the log), never something served in their place."""
    if content is None:
        log.error("attachment content missing", extra={"where": where})
        raise Problem(500, "材料文件在存储中缺失，无法下载；请联系运维人员", type_="urn:laborcase:problem:content-missing")
    if hashlib.sha256(content).hexdigest() != sha256:
        log.error("attachment content changed", extra={"where": where})
        raise Problem(500, "材料文件校验失败（与上传时不一致），无法下载；请联系运维人员",
                      type_="urn:laborcase:problem:content-changed")
    return content
