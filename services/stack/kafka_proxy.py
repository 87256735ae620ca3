"""A Kafka-aware TCP proxy for fault injection: one per service, between it and the broker.

A Kafka client connects to the bootstrap address only to learn where the brokers are (Metadata) and
where its group coordinator is (FindCoordinator); every later connection goes to the addresses in those
answers. A plain TCP proxy is therefore bypassed after the first request. This one writes its own port
into those two answers (same host, so every length in the frame stays the same), and so carries every
connection the client opens.

``cut(seconds)`` takes the service off the broker for that long, the way a failed link does:

- ``drop``: every open connection is aborted and new ones are refused (closed on accept);
- ``stall``: nothing is forwarded in either direction; bytes wait in the socket buffers (TCP keeps
  retransmitting) and arrive when the link comes back, late — heartbeats, commits and fetches included.

Loopback only; a test tool, never in the path of a deployed service.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass, field

#: Responses that carry broker addresses (Kafka API keys).
_ADDRESS_APIS = {3: "Metadata", 10: "FindCoordinator"}


@dataclass
class ProxyStats:
    connections: int = 0
    refused: int = 0
    aborted: int = 0
    rewritten: int = 0
    cuts: list[tuple[str, float]] = field(default_factory=list)


class KafkaProxy:
    def __init__(self, upstream: str, *, host: str = "127.0.0.1", port: int = 0, name: str = "") -> None:
        up_host, _, up_port = upstream.rpartition(":")
        if up_host != host:  # the rewrite keeps frame lengths only if the host string is the same
            raise ValueError(f"proxy host {host} must equal the broker's advertised host {up_host}")
        self.name, self.host, self.port = name, host, port
        self.upstream_host, self.upstream_port = up_host, int(up_port)
        self.stats = ProxyStats()
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._refusing = False
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.bootstrap

    async def stop(self) -> None:
        self._abort_all()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def cut(self, seconds: float, *, mode: str = "drop") -> None:
        """Take the link down for ``seconds``, then restore it."""
        if mode not in ("drop", "stall"):
            raise ValueError(mode)
        self.stats.cuts.append((mode, seconds))
        if mode == "drop":
            self._refusing = True
            self._abort_all()
        else:
            self._flowing.clear()
        try:
            await asyncio.sleep(seconds)
        finally:
            self._refusing = False
            self._flowing.set()

    # -- forwarding -------------------------------------------------------------------------------

    def _abort_all(self) -> None:
        for client, upstream in list(self._links):
            for writer in (client, upstream):
                writer.transport.abort()
            self.stats.aborted += 1
        self._links.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            self.stats.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self.stats.connections += 1
        link = (writer, up_writer)
        self._links.add(link)
        asking: dict[int, int] = {}  # correlation id -> api key, for the answers to rewrite
        pumps = [asyncio.ensure_future(self._requests(reader, up_writer, asking)),
                 asyncio.ensure_future(self._responses(up_reader, writer, asking))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the proxy is stopping
            pass
        finally:
            for pump in pumps:
                pump.cancel()
            self._links.discard(link)
            for w in link:
                w.transport.abort()

    async def _frames(self, reader: asyncio.StreamReader):  # type: ignore[no-untyped-def]
        while True:
            try:
                head = await reader.readexactly(4)
                body = await reader.readexactly(struct.unpack(">i", head)[0])
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            await self._flowing.wait()  # stalled: hold the frame (and stop reading) until the link is back
            yield head, body

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, asking: dict[int, int]) -> None:
        async for head, body in self._frames(reader):
            api_key, _version, correlation = struct.unpack_from(">hhi", body)
            if api_key in _ADDRESS_APIS:
                asking[correlation] = api_key
            writer.write(head + body)
            await writer.drain()

    async def _responses(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, asking: dict[int, int]) -> None:
        theirs = self.upstream_host.encode() + struct.pack(">i", self.upstream_port)
        ours = self.host.encode() + struct.pack(">i", self.port)
        async for head, body in self._frames(reader):
            if asking.pop(struct.unpack_from(">i", body)[0], None) is not None and theirs in body:
                body = body.replace(theirs, ours)
                self.stats.rewritten += 1
            writer.write(head + body)
            await writer.drain()


async def open_proxies(upstream: str, names: list[str]) -> dict[str, KafkaProxy]:
    proxies = {name: KafkaProxy(upstream, name=name) for name in names}
    for proxy in proxies.values():
        await proxy.start()
    return proxies
