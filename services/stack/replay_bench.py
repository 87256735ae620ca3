"""The rebuild at the scale of a province's history (``laborcase bench``: replay figures).

The log of a real run (its cases, every event supervision consumes) is copied into fresh topics until it holds
``total`` events: each copy gives every case a new case number and every id (events, deadlines, sessions) a new
one, so the copy is a longer history of distinct cases, not the same events again (which the inbox would pass
over). Then ``laborcase supervision rebuild --topics --workers N`` replays the copy into an empty database in a process of
its own (which starts N - 1 more, each replaying its share of the partitions), whose resident memory, summed over
the processes, is sampled while it runs: events/s, the peak RSS, and the peaks of the run's two halves — flat memory
means the second half, twice as far into the log, holds no more than the first. (Two logs of different lengths,
compared by their peaks, compare a short run's start-up with a long run's plateau.)
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from dataclasses import dataclass

import psutil
from aiokafka import AIOKafkaProducer

from events.catalog import TOPICS
from services.backbone import kafka
from services.supervision.service import SPEC

_UUID = re.compile(rb"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")  # event ids, deadline ids, session ids …
_CASE_ID = re.compile(rb"LC\d{14}")  # services/intake's case numbers: LC + date + sequence


@dataclass(frozen=True)
class Template:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Replayed:
    events: int
    seconds: float  # the whole process, start-up (imports, migrations, finding the partitions' ends) included
    peak_rss_mib: float
    replay_seconds: float  # the replay itself, as the rebuild reports it
    #: the peak over each half of the run's time: memory flat in the log's length holds the second at the first
    first_half_mib: float = 0.0
    second_half_mib: float = 0.0


async def capture(bootstrap: str) -> list[Template]:
    """Every record of supervision's topics about a case (the run's own cases, from registration to closing)."""
    found: list[Template] = []
    for topic in SPEC.consumes:
        for r in await kafka.read_all(bootstrap, topic):
            if r.value and _CASE_ID.search(r.value):
                found.append(Template(topic, r.key, r.value, list(r.headers or [])))
    return found


async def fill(bootstrap: str, templates: list[Template], total: int, tag: str) -> list[str]:
    """Copies of ``templates`` into topics named ``<topic>.<tag>`` until they hold ``total`` records; returns the
    copies' names."""
    copies = {t: f"{t}.{tag}" for t in {tp.topic for tp in templates}}
    await kafka.ensure_topics(bootstrap, {copy: TOPICS[t].partitions for t, copy in copies.items()})
    producer = AIOKafkaProducer(**kafka.connection(), bootstrap_servers=bootstrap, linger_ms=20,
                                max_batch_size=512 * 1024, acks=1, enable_idempotence=False)
    await producer.start()
    try:
        sent, k = 0, 0
        while sent < total:
            k += 1

            def rename(m: re.Match[bytes], k: int = k) -> bytes:  # same length, a new case for every copy
                return b"LC9%06d" % k + m.group(0)[-7:]

            def reid(m: re.Match[bytes], k: int = k) -> bytes:  # the same id within a copy, a new one in each
                return b"%08x" % k + m.group(0)[8:]

            pending = []
            for t in templates[:total - sent]:
                value = _UUID.sub(reid, _CASE_ID.sub(rename, t.value))
                key = _CASE_ID.sub(rename, t.key) if t.key else t.key
                pending.append(await producer.send(copies[t.topic], value=value, key=key, headers=t.headers))
            sent += len(pending)
            await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return list(copies.values())


def _tree_rss(proc: psutil.Process) -> int:
    """The resident memory of a process and of the processes it started (the rebuild's other shards)."""
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


async def rebuild_apart(env: dict[str, str], dsn: str, topics: list[str], workers: int) -> Replayed:
    """``laborcase supervision rebuild --topics --workers`` in its own process (which starts the other shards'),
    the resident memory of them all sampled, summed, while they run."""
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "supervision", "rebuild", "--dsn", dsn, "--topics", ",".join(topics),
        "--workers", str(workers),
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    watched = psutil.Process(proc.pid)
    samples: list[tuple[float, int]] = []  # (seconds since the start, resident bytes of every process)
    waiting = asyncio.ensure_future(proc.communicate())
    while not waiting.done():
        samples.append((time.perf_counter() - started, _tree_rss(watched)))
        await asyncio.wait([waiting], timeout=0.2)
    out, _ = waiting.result()
    seconds = time.perf_counter() - started
    peak = max((rss for _, rss in samples), default=0)
    halves = [max((rss for t, rss in samples if (t >= seconds / 2) == later), default=0) for later in (False, True)]
    if proc.returncode != 0:
        raise RuntimeError(f"the rebuild failed (exit {proc.returncode})")
    lines = out.decode().strip().splitlines()
    match = re.search(r"from (\d+) events in ([\d.]+) s", lines[-1] if lines else "")
    if match is None:
        raise RuntimeError(f"the rebuild said nothing of its events: {lines[-3:]}")
    return Replayed(int(match.group(1)), seconds, peak / 2**20, float(match.group(2)), halves[0] / 2**20,
                    halves[1] / 2**20)
