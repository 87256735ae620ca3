"""An S3-compatible server the tests start themselves: moto's server (``moto[server]``, pinned in the test extras)
on a free port, in its own process, reached over HTTP by boto3 exactly as a real bucket would be."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from services.stack.processes import free_port

ACCESS_KEY, SECRET_KEY, REGION = "laborcase-test", "laborcase-test-secret", "cn-northwest-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def env(self, bucket: str) -> dict[str, str]:
        """The settings a service needs to keep attachments in ``bucket`` here."""
        return {"LABORCASE_ATTACHMENT_STORE": "s3", "LABORCASE_S3_ENDPOINT": self.endpoint,
                "LABORCASE_S3_BUCKET": bucket, "LABORCASE_S3_REGION": REGION,
                "LABORCASE_S3_ACCESS_KEY_ID": ACCESS_KEY, "LABORCASE_S3_SECRET_ACCESS_KEY": SECRET_KEY}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY)

    def new_bucket(self) -> str:
        bucket = f"lc-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        return bucket

    def keys(self, bucket: str) -> list[str]:
        return [o["Key"] for o in self.client().list_objects_v2(Bucket=bucket).get("Contents", [])]


@contextmanager
def s3_server() -> Iterator[S3Server]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.2)
        yield S3Server(endpoint)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
