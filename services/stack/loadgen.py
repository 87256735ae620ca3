"""A lean HTTP/1.1 load generator for the bench: one kept-alive connection per simulated client.

httpx spends about 4 ms of CPU per request on this machine — twice what the service spends answering a progress
lookup — so a bench driving the door with it measures its own client. This client writes the request bytes and
reads the status line, the headers and a ``Content-Length`` body: enough for JSON APIs served by uvicorn, which is
all the bench asks of it. A connection the server closed is opened again once, and the request resent.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit


class Closed(Exception):
    """The server closed the connection before the answer."""


class Client:
    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def post_json(self, path: str, body: Any) -> tuple[int, bytes]:
        payload = json.dumps(body, ensure_ascii=False).encode()
        head = (f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(payload)}\r\n\r\n").encode()
        for attempt in (1, 2):
            if self._writer is None:
                await self._open()
            try:
                return await self._exchange(head + payload)
            except (Closed, ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        if not head:
            raise Closed
        status = int(head[9:12])
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise ValueError("chunked answers are not read by the bench's load generator")
        data = await self._reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self._reader = self._writer = None


class Pool:
    """Kept-alive connections to one origin, opened as needed (each request takes one that is idle)."""

    def __init__(self, origin: str):
        self.origin, self.idle = origin, list[Client]()

    async def post(self, path: str, body: Any) -> tuple[int, bytes]:
        client = self.idle.pop() if self.idle else Client(self.origin)
        answer = await client.post_json(path, body)
        self.idle.append(client)
        return answer

    async def close(self) -> None:
        for client in self.idle:
            await client.close()
        self.idle.clear()


def _check(status: int, body: bytes) -> None:
    if status != 200:
        raise RuntimeError(f"answered {status}: {body[:200].decode(errors='replace')}")


async def closed_loop(pool: Pool, path: str, bodies: list[Any], *, clients: int, seconds: float) -> float:
    """``clients`` clients, each sending its next request as soon as the last is answered: requests/s."""
    done, until, started = 0, time.perf_counter() + seconds, time.perf_counter()

    async def client(i: int) -> None:
        nonlocal done
        n = i
        while time.perf_counter() < until:
            _check(*await pool.post(path, bodies[n % len(bodies)]))
            n += clients
            done += 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    return done / (time.perf_counter() - started)


async def open_loop(pool: Pool, path: str, bodies: list[Any], *, rate: float, seconds: float,
                    max_open: int = 512) -> tuple[float, list[float]]:
    """``rate`` requests a second on a fixed schedule, whatever the answers' pace (many phones, not a few
    clients waiting their turn): (requests answered per second, latencies in ms, each from when it was due —
    a request that could not even start on time counts its wait)."""
    latencies: list[float] = []
    opened = asyncio.Semaphore(max_open)

    async def one(n: int, due: float) -> None:
        async with opened:
            _check(*await pool.post(path, bodies[n % len(bodies)]))
        latencies.append((time.perf_counter() - due) * 1000)

    start = time.perf_counter()
    pending, n = [], 0
    while (due := start + n / rate) < start + seconds:
        if (ahead := due - time.perf_counter()) > 0:
            await asyncio.sleep(ahead)
        pending.append(asyncio.ensure_future(one(n, due)))
        n += 1
    await asyncio.gather(*pending)
    return n / (time.perf_counter() - start), latencies


async def _main(spec: dict[str, Any]) -> dict[str, Any]:
    pool = Pool(spec["origin"])
    try:
        capacity = await closed_loop(pool, spec["path"], spec["bodies"], clients=spec["clients"],
                                     seconds=spec["closed_seconds"])
        await asyncio.sleep(0.5)
        achieved, latencies = await open_loop(pool, spec["path"], spec["bodies"], rate=spec["rate"],
                                              seconds=spec["open_seconds"])
    finally:
        await pool.close()
    return {"capacity": capacity, "achieved": achieved, "latencies": latencies}


async def run_apart(spec: dict[str, Any]) -> dict[str, Any]:
    """Both loops in a process of their own (its own interpreter lock: what the bench's driver does meanwhile —
    registering cases, sampling memory — does not delay the answers being read)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "services.stack.loadgen",
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate(json.dumps(spec, ensure_ascii=False).encode())
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed (exit {proc.returncode})")
    return json.loads(out)


if __name__ == "__main__":
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    print(json.dumps(runner(_main(json.load(sys.stdin)))))
