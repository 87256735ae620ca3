"""Long polling in front of the local broker: a waiting fetch is answered when a record arrives.

Tansu answers a fetch that finds nothing new only when the fetch's wait ends, and does not answer it early when
a record arrives meanwhile (docs/adr/0003-local-broker.md). Consumers on it must therefore poll with a short
wait — 50 ms — to keep a hop fast, and that polling was the largest share of an idle stack's CPU (the broker
answering some 120 empty fetches a second, each service asking 20 times a second) and about 12 ms of a complete
case's. Apache Kafka holds a fetch until data arrives or the wait ends; this front gives the local broker that
behaviour, so consumers keep Kafka's own wait (500 ms) on both. Measured: an idle stack 0.23 → 0.08 core, but a
complete case costs more CPU (this process's own, and consumers answered at once take smaller batches: 9 ms more in
the first benches, about 6 % in December's interleaved lifecycles), so the launcher starts it only when asked
(``LABORCASE_BROKER_LONG_POLL=1``); the test suite uses it.

It sits between every client and Tansu, on the address the stack hands out, and forwards every frame as it is,
with three exceptions:

- a **Fetch** is sent on with (next to) no wait: answered with records (or an error), it goes back to the client at once;
  answered empty, it is held until a Produce to one of its partitions is answered (then sent again), or until the
  client's own wait has passed (then the empty answer goes back). A Produce to another partition of one of its
  topics sends the empty answer back at once: a client leaves out of its next fetch a partition whose records it
  has not handed over yet, and would otherwise see that partition's new records only when this fetch ends;
- a **Produce** answered wakes the fetches held on its topics;
- **Metadata** and **FindCoordinator** answers carry the broker's address: this front writes its own port
  there (same host, so no length in the frame changes), so that every connection a client opens comes here.

A connection's answers go back in the order of its requests, as a broker's do: while a fetch is held, the
connection's next request waits (a Kafka broker reads a connection's next request only once it has answered
the one before). A request this front cannot read (a version it does not know) goes on unchanged: the
broker's own behaviour, never a wrong answer. Local stack only; the Apache Kafka path has no such front.

Run: ``python -m services.stack.long_poll --listen 127.0.0.1:PORT --upstream 127.0.0.1:TANSU_PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import signal
import struct
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

PRODUCE, FETCH, METADATA, FIND_COORDINATOR = 0, 1, 3, 10
_ADDRESS_APIS = frozenset({METADATA, FIND_COORDINATOR})
#: versions whose layout this module reads (the flexible ones, Fetch v12+ and Produce v9+, go on unchanged)
FETCH_VERSIONS = range(0, 12)
PRODUCE_VERSIONS = range(0, 9)


# --- the wire (pure: bytes in, facts out) -----------------------------------------------------------------


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf, self.pos = buf, pos

    def i8(self) -> int:
        self.pos += 1
        return self.buf[self.pos - 1]

    def i16(self) -> int:
        (v,) = struct.unpack_from(">h", self.buf, self.pos)
        self.pos += 2
        return int(v)

    def i32(self) -> int:
        (v,) = struct.unpack_from(">i", self.buf, self.pos)
        self.pos += 4
        return int(v)

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise ValueError("frame shorter than its fields")
        self.pos += n

    def string(self) -> str | None:
        n = self.i16()
        if n < 0:
            return None
        self.skip(n)
        return self.buf[self.pos - n:self.pos].decode()

    def bytes_len(self) -> int:
        """Skip a (nullable) bytes field; its length, -1 for null."""
        n = self.i32()
        if n > 0:
            self.skip(n)
        return n


@dataclass(frozen=True)
class Request:
    api_key: int
    version: int
    correlation: int
    body_at: int  # where the request's body starts (after its header)


def request_header(frame: bytes) -> Request:
    """The header of a request frame (without its 4-byte length): v1 for every version this module reads."""
    r = _Reader(frame)
    api_key, version, correlation = r.i16(), r.i16(), r.i32()
    r.string()  # client id
    return Request(api_key, version, correlation, r.pos)


Partition = tuple[str, int]


@dataclass(frozen=True)
class Fetch:
    wait_ms: int
    wait_at: int  # where the wait is in the frame
    partitions: frozenset[Partition]

    @functools.cached_property
    def topics(self) -> frozenset[str]:
        return frozenset(t for t, _ in self.partitions)


def read_fetch(frame: bytes, head: Request) -> Fetch | None:
    """A Fetch request's wait and topics; None for a version this module does not read."""
    if head.version not in FETCH_VERSIONS:
        return None
    r = _Reader(frame, head.body_at)
    r.skip(4)  # replica id
    wait_at = r.pos
    wait_ms = r.i32()
    r.skip(4)  # min bytes
    if head.version >= 3:
        r.skip(4)  # max bytes
    if head.version >= 4:
        r.skip(1)  # isolation level
    if head.version >= 7:
        r.skip(8)  # session id, session epoch
    partitions = set()
    rest = 8 + 4 + (8 if head.version >= 5 else 0) + (4 if head.version >= 9 else 0)  # after the partition's number
    for _ in range(r.i32()):
        name = r.string() or ""
        for _ in range(r.i32()):
            partitions.add((name, r.i32()))
            r.skip(rest)
    return Fetch(wait_ms, wait_at, frozenset(partitions))


#: The wait the front asks the broker for: 1 ms, not 0 — Tansu answers a fetch with no wait with no records,
#: whatever the log holds (measured: a consumer with fetch_max_wait_ms=0 never received a record).
BROKER_WAIT_MS = 1


#: After a Produce to a held fetch's partitions is answered, Tansu does not always show its records at once
#: (measured in the stack: 11 % of wake-ups asked again found nothing, and waited for the next Produce — hop p99
#: at 5 cases/s 223–317 ms): the fetch is asked again after these pauses (63 ms in all) before it is held again.
LAG_STEPS_S = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032)
#: The same when a Produce to its partitions was answered after the client's previous fetch answer went back (the
#: client cannot have those records): a fetch that comes right after a Produce would otherwise be held until the
#: next one.


def without_wait(frame: bytes, fetch: Fetch) -> bytes:
    """The same fetch, asking the broker (next to) not to wait."""
    return frame[:fetch.wait_at] + struct.pack(">i", BROKER_WAIT_MS) + frame[fetch.wait_at + 4:]


def produced_partitions(frame: bytes, head: Request) -> frozenset[Partition] | None:
    """The partitions a Produce request writes to; None for a version this module does not read."""
    if head.version not in PRODUCE_VERSIONS:
        return None
    r = _Reader(frame, head.body_at)
    if head.version >= 3:
        r.string()  # transactional id
    r.skip(2 + 4)  # acks, timeout
    partitions = set()
    for _ in range(r.i32()):
        name = r.string() or ""
        for _ in range(r.i32()):
            partitions.add((name, r.i32()))
            r.bytes_len()
    return frozenset(partitions)


def fetch_found_nothing(frame: bytes, version: int) -> bool:
    """Whether a Fetch response (without its length) holds no record and no error: then it is worth holding."""
    r = _Reader(frame)
    r.skip(4)  # correlation id
    if version >= 1:
        r.skip(4)  # throttle time
    if version >= 7:
        if r.i16() != 0:  # top-level error
            return False
        r.skip(4)  # session id
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            r.skip(4)  # partition
            if r.i16() != 0:
                return False
            r.skip(8)  # high watermark
            if version >= 4:
                r.skip(8)  # last stable offset
            if version >= 5:
                r.skip(8)  # log start offset
            if version >= 4:
                aborted = r.i32()
                if aborted > 0:
                    r.skip(aborted * 16)
            if version >= 11:
                r.skip(4)  # preferred read replica
            if r.bytes_len() > 0:
                return False
    return True


# --- the front ----------------------------------------------------------------------------------------------


@dataclass
class Stats:
    connections: int = 0
    fetches: int = 0  # fetches from clients
    held: int = 0  # of those, held at least once
    resent: int = 0  # sent on again after a wake-up
    expired: int = 0  # answered empty when the client's wait passed
    unread: int = 0  # requests of a version this front does not read, sent on unchanged
    woken_empty: int = 0  # fetches asked again after a wake-up whose records the broker did not show yet
    released: int = 0  # answered empty at once: records came to a partition of their topics they did not name
    rewritten: int = 0


@dataclass
class _Topics:
    """Counters moved by every answered Produce — per partition, per topic, and for Produces this front could not
    read (they count as a write to every partition) — and the fetches waiting on each topic."""

    by_partition: dict[Partition, int] = field(default_factory=dict)
    written_at: dict[Partition, float] = field(default_factory=dict)  # monotonic time of the last answered Produce
    by_topic: dict[str, int] = field(default_factory=dict)
    unread: int = 0
    waiting: dict[str, set[asyncio.Event]] = field(default_factory=dict)

    def seen(self, fetch: Fetch) -> tuple[int, int, int]:
        """Where the counters of ``fetch``'s partitions and topics stand (compare with ``since``)."""
        return (sum(self.by_partition.get(p, 0) for p in fetch.partitions),
                sum(self.by_topic.get(t, 0) for t in fetch.topics), self.unread)

    def since(self, fetch: Fetch, seen: tuple[int, int, int]) -> tuple[bool, bool]:
        """Whether, since ``seen``, records came to the fetch's own partitions (``inside``: ask again), and to
        other partitions of its topics (``outside``: answer now)."""
        mine, topics, unread = self.seen(fetch)
        inside = mine != seen[0] or unread != seen[2]
        return inside, topics - seen[1] > mine - seen[0]

    def written_since(self, fetch: Fetch, moment: float) -> bool:
        """Whether a Produce to one of ``fetch``'s partitions was answered at ``moment`` or later."""
        return any(self.written_at.get(p, float("-inf")) >= moment for p in fetch.partitions)

    def wrote(self, partitions: Iterable[Partition] | None) -> None:
        """A Produce to ``partitions`` (None: not known, wake everyone) was answered."""
        if partitions is None:
            self.unread += 1
            woken = list(self.waiting)
        else:
            woken = set()
            now = time.monotonic()
            for partition in partitions:
                self.by_partition[partition] = self.by_partition.get(partition, 0) + 1
                self.written_at[partition] = now
                self.by_topic[partition[0]] = self.by_topic.get(partition[0], 0) + 1
                woken.add(partition[0])
        for topic in woken:
            for event in self.waiting.get(topic, ()):
                event.set()

    @contextlib.contextmanager
    def waiting_on(self, topics: Iterable[str], event: asyncio.Event):  # type: ignore[no-untyped-def]
        names = list(topics)
        for topic in names:
            self.waiting.setdefault(topic, set()).add(event)
        try:
            yield
        finally:
            for topic in names:
                waiters = self.waiting.get(topic)
                if waiters is not None:
                    waiters.discard(event)
                    if not waiters:
                        del self.waiting[topic]


class LongPollFront:
    def __init__(self, upstream: str, *, listen: str) -> None:
        up_host, _, up_port = upstream.rpartition(":")
        host, _, port = listen.rpartition(":")
        if up_host != host:  # the address rewrite keeps every length only if the host string is the same
            raise ValueError(f"the front's host {host} must equal the broker's advertised host {up_host}")
        self.host, self.port = host, int(port)
        self.upstream_host, self.upstream_port = up_host, int(up_port)
        self.stats = Stats()
        self.topics = _Topics()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return f"{self.host}:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            writer.transport.abort()
            self._connections.discard(task)
            return
        self.stats.connections += 1
        link = _Link(self, reader, writer, up_reader, up_writer)
        try:
            await link.run()
        except asyncio.CancelledError:
            pass
        finally:
            writer.transport.abort()
            up_writer.transport.abort()
            self._connections.discard(task)


async def _frames(reader: asyncio.StreamReader):  # type: ignore[no-untyped-def]
    """The frames (without their length) a connection sends, read in chunks: one read often carries several."""
    buf = bytearray()
    while True:
        try:
            chunk = await reader.read(1 << 18)
        except ConnectionError:
            return
        if not chunk:
            return
        buf += chunk
        start, size = 0, len(buf)
        while size - start >= 4:
            end = start + 4 + int.from_bytes(buf[start:start + 4], "big")
            if end > size:
                break
            yield bytes(buf[start + 4:end])
            start = end
        del buf[:start]


def _framed(body: bytes) -> bytes:
    return struct.pack(">i", len(body)) + body


class _Link:
    """One client connection and its connection to the broker."""

    def __init__(self, front: LongPollFront, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
        self.front, self.reader, self.writer = front, reader, writer
        self.up_reader, self.up_writer = up_reader, up_writer
        #: correlation id -> (api key, version, produced partitions) of every request sent on and not yet answered
        self.asked: dict[int, tuple[int, int, frozenset[Partition] | None]] = {}
        #: the answer to the fetch this link is holding, handed over by the answer pump
        self.fetch_answer: asyncio.Future[bytes] | None = None
        self.fetch_correlation: int | None = None
        #: when this connection's last fetch answer went back (a record written since, its client cannot have)
        self.answered_at = time.monotonic()

    async def run(self) -> None:
        pumps = [asyncio.ensure_future(self._requests()), asyncio.ensure_future(self._answers())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            # a pump that failed (a frame this front cannot read, a write to a closed socket) ends the connection,
            # as the broker would; its exception is taken here, not left for the loop to report as never retrieved
            await asyncio.gather(*pumps, return_exceptions=True)

    async def _requests(self) -> None:
        stats = self.front.stats
        async for frame in _frames(self.reader):
            head = request_header(frame)
            fetch = None
            if head.api_key == FETCH:
                stats.fetches += 1
                fetch = _read_or_none(read_fetch, frame, head)
                if fetch is None:
                    stats.unread += 1
            if fetch is not None and fetch.wait_ms > 0:
                await self._held_fetch(frame, head, fetch)
                continue
            topics = None
            if head.api_key == PRODUCE:
                topics = _read_or_none(produced_partitions, frame, head)
                if topics is None:
                    stats.unread += 1
            self.asked[head.correlation] = (head.api_key, head.version, topics)  # (an acks=0 Produce: never answered,
            # never wakes anyone — nothing here sends one)
            self.up_writer.write(_framed(frame))
            await self.up_writer.drain()

    async def _held_fetch(self, frame: bytes, head: Request, fetch: Fetch) -> None:
        """Ask the broker without waiting until it has something, a Produce wakes us, or the client's wait ends."""
        stats, topics = self.front.stats, self.front.topics
        ends = time.monotonic() + fetch.wait_ms / 1000
        now_frame = without_wait(frame, fetch)
        held = woken = released = False
        lagging = 0
        while True:
            seen = topics.seen(fetch)
            answer = await self._ask_fetch(now_frame, head)
            left = ends - time.monotonic()
            if left <= 0 or not _empty_or_unread(answer, head.version):
                break
            # records a Produce was answered for (woken; or since this client's last answer, so it cannot have them)
            # that the broker does not show yet
            if (woken or topics.written_since(fetch, self.answered_at)) and lagging < len(LAG_STEPS_S):
                stats.woken_empty += 1
                await asyncio.sleep(min(LAG_STEPS_S[lagging], left))
                lagging += 1
                continue
            if released:
                break  # woken for its own partitions and for others: those still wait for the client's next fetch
            woken = False
            inside, outside = topics.since(fetch, seen)
            if not (inside or outside):  # nothing came while the broker answered: wait for a Produce
                if not held:
                    stats.held += 1
                    held = True
                event = asyncio.Event()
                with topics.waiting_on(fetch.topics, event):
                    try:
                        await asyncio.wait_for(event.wait(), left)
                    except TimeoutError:
                        stats.expired += 1
                        break
                inside, outside = topics.since(fetch, seen)
            if outside:
                stats.released += 1
                if not inside:
                    break  # the empty answer now: the client's next fetch names the partition it left out
                released = True
            stats.resent += 1
            woken, lagging = inside, 0
        self.answered_at = time.monotonic()
        self.writer.write(_framed(answer))
        await self.writer.drain()

    async def _ask_fetch(self, frame: bytes, head: Request) -> bytes:
        self.fetch_answer = asyncio.get_running_loop().create_future()
        self.fetch_correlation = head.correlation
        self.up_writer.write(_framed(frame))
        await self.up_writer.drain()
        try:
            return await self.fetch_answer
        finally:
            self.fetch_answer = self.fetch_correlation = None

    async def _answers(self) -> None:
        front, stats = self.front, self.front.stats
        theirs = front.upstream_host.encode() + struct.pack(">i", front.upstream_port)
        ours = front.host.encode() + struct.pack(">i", front.port)
        async for frame in _frames(self.up_reader):
            (correlation,) = struct.unpack_from(">i", frame)
            if correlation == self.fetch_correlation and self.fetch_answer is not None \
                    and not self.fetch_answer.done():
                self.fetch_answer.set_result(frame)
                continue
            api_key, _version, topics = self.asked.pop(correlation, (None, 0, None))
            if api_key == PRODUCE:
                front.topics.wrote(topics)
            elif api_key in _ADDRESS_APIS and theirs in frame:
                frame = frame.replace(theirs, ours)
                stats.rewritten += 1
            self.writer.write(_framed(frame))
            await self.writer.drain()
        if self.fetch_answer is not None and not self.fetch_answer.done():
            self.fetch_answer.set_exception(ConnectionError("the broker closed the connection"))


def _read_or_none(read, frame: bytes, head: Request):  # type: ignore[no-untyped-def]
    try:
        return read(frame, head)
    except (ValueError, struct.error, UnicodeDecodeError):
        return None


def _empty_or_unread(answer: bytes, version: int) -> bool:
    try:
        return fetch_found_nothing(answer, version)
    except (ValueError, struct.error, UnicodeDecodeError):
        return False  # cannot tell: hand it over as it is


async def _serve(listen: str, upstream: str) -> None:
    front = LongPollFront(upstream, listen=listen)
    await front.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: print(f"long-poll front: {front.stats}", file=sys.stderr,
                                                           flush=True))
    await stop.wait()
    await front.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.stack.long_poll", description=__doc__.split("\n")[0])
    parser.add_argument("--listen", required=True, help="host:port this front accepts clients on")
    parser.add_argument("--upstream", required=True, help="host:port of the broker (same host)")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of the services
        asyncio.run(_serve(args.listen, args.upstream))
    else:
        uvloop.run(_serve(args.listen, args.upstream))


if __name__ == "__main__":
    main()
