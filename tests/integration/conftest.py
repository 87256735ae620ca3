"""Services running in-process against the session's broker and embedded PostgreSQL, with their HTTP apps."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import asyncpg
import httpx

from services.backbone.runtime import ServiceSpec
from services.process import runtime_for, secured_app
from tests.conftest import runtime_settings, unique_case_numbers


@asynccontextmanager
async def running(spec: ServiceSpec, bootstrap: str, admin_dsn: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A service with a fresh database; yields an HTTP client on its app (``client.runtime`` is the runtime)."""
    name = f"t_{spec.name}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    runtime = runtime_for(spec, runtime_settings(bootstrap, **settings), dsn=admin_dsn.rsplit("/", 1)[0] + "/" + name)
    await runtime.start()
    await unique_case_numbers(runtime)
    app = secured_app(runtime, spec.routers(runtime) if spec.routers else ())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{spec.name}") as client:
            client.runtime = runtime  # type: ignore[attr-defined]
            yield client
    finally:
        await runtime.stop()


@asynccontextmanager
async def running_all(bootstrap: str, admin_dsn: str, *specs: ServiceSpec) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """Several services side by side (a module's stack), each as ``running`` starts it; stopped in reverse."""
    async with AsyncExitStack() as stack:
        yield tuple([await stack.enter_async_context(running(spec, bootstrap, admin_dsn)) for spec in specs])
