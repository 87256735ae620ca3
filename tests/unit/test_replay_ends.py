"""Where a replay decides a partition has no more (services/backbone/replay.py), without a broker: a window the
process itself held up proves nothing, and a partition short of its end offset is ended only after a long quiet,
said in the log — never a record before the end skipped because the process was busy."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytest
from aiokafka import TopicPartition

from services.backbone import replay
from services.backbone.consumer import Inbound

TP = TopicPartition("intake.events", 0)


def records(*offsets: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(topic=TP.topic, partition=TP.partition, offset=o, key=None, value=b"x", headers=())
            for o in offsets]


class Scripted:
    """A consumer whose fetches answer from a script: ("stall", seconds) holds the event loop up (a busy process)
    and brings nothing; a list brings those records; None brings nothing."""

    def __init__(self, script, *, end: int = 0):
        self.script, self.end, self.at, self.paused_tps = list(script), end, 0, set()

    async def end_offsets(self, tps):
        return {tp: self.end for tp in tps}

    def seek(self, tp, offset):
        self.at = offset

    async def getmany(self, *tps, timeout_ms=0, max_records=None):
        step = self.script.pop(0) if self.script else None
        if isinstance(step, tuple):
            time.sleep(step[1])  # noqa: ASYNC251 - on purpose: the loop is held up, as a busy process holds it
            return {}
        if step is None:
            await _sleep(timeout_ms / 1000)
            return {}
        self.at = step[-1].offset + 1
        return {TP: step}

    async def position(self, tp):
        return self.at

    def pause(self, *tps):
        self.paused_tps.update(tps)

    async def stop(self):
        pass


async def _sleep(seconds):
    import asyncio
    await asyncio.sleep(seconds)


@pytest.mark.asyncio
async def test_finding_the_end_is_not_fooled_by_a_busy_process():
    consumer = Scripted([("stall", 0.25), ("stall", 0.25), records(0, 1, 2, 3, 4), None, None])
    ends = await replay.ends_of(consumer, [TP], idle_ms=100)
    assert ends[TP] == 5  # two held-up windows did not end the partition at 0


@pytest.mark.asyncio
async def test_a_partition_short_of_its_end_is_ended_only_after_a_long_quiet(monkeypatch, caplog):
    monkeypatch.setattr(replay, "QUIET_END_SECONDS", 0.5)
    consumer = Scripted([records(0, 1), ("stall", 0.25), ("stall", 0.25)] + [None] * 20)
    source = replay.Source(consumer, [TP], {TP: 0}, {TP: 10}, idle_ms=100)  # records 2–9 never come
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        out = [item async for item in replay.merged(source, lambda r: (r.offset, r), buffer=5)]
    assert [r.offset for r in out] == [0, 1] and isinstance(out[0], Inbound)
    assert time.monotonic() - started >= 0.5  # not after the first two empty windows
    assert "ended before their end offset" in caplog.text and TP in consumer.paused_tps
