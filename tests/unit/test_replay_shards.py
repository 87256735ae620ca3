"""Shares of a replay (services/backbone/replay.py): which partitions each process reads, and their progress summed."""

import asyncio
import json
import signal

import pytest
from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from events.catalog import CONSUMES, TOPICS
from services.backbone.replay import Progress, Shard


def test_a_shard_is_written_k_of_n_and_checked():
    assert Shard.parse("1/3") == Shard(1, 3) and str(Shard(1, 3)) == "1/3"
    for bad in ("3/3", "-1/2", "0/0"):
        with pytest.raises(ValueError):
            Shard.parse(bad)


@given(workers=st.integers(1, 8), key_hash=st.integers(0, 2**31 - 1))
def test_one_case_is_read_by_one_shard_on_every_topic_supervision_reads_by_case(workers, key_hash):
    """The topics supervision replays that are keyed by case id have one partition count (8; all capped alike on the
    local stack): one key is in the same partition of each, whatever the number of shares, so in one share.
    Counts that divide one another would do as well for shares that divide them all: (h % c) % w == h % w."""
    keyed = [TOPICS[t] for t in CONSUMES["supervision"] if TOPICS[t].key == "case_id"]
    assert len(keyed) >= 4
    holders = {k for k in range(workers) for t in keyed
               if Shard(k, workers).holds(TopicPartition(t.name, key_hash % t.partitions))}
    assert len(holders) == 1
    for capped in (1, 2, 4):
        assert len({k for k in range(workers) for t in keyed
                    if Shard(k, workers).holds(TopicPartition(t.name, key_hash % min(t.partitions, capped)))}) == 1


def test_every_partition_is_read_by_exactly_one_shard():
    for workers in range(1, 9):
        for p in range(16):
            assert sum(Shard(k, workers).holds(TopicPartition("t", p)) for k in range(workers)) == 1


def test_the_shards_progress_is_summed():
    own = Progress(total=10, read=4, yielded=3, skipped=1, most_buffered=7)
    own.add({"total": 20, "read": 5, "yielded": 5, "skipped": 0, "most_buffered": 9})
    assert (own.total, own.read, own.yielded, own.skipped, own.most_buffered) == (30, 9, 8, 1, 9)
    assert "9/30 records read" in own.describe()


def _share(shard: Shard) -> int:
    """What a forked share does in the tests below: reads its instructions to their end (its input closed),
    answers on its output, exits with a code of its shard's."""
    import os

    told = b""
    while chunk := os.read(0, 65536):
        told += chunk
    if shard.index == 3:
        raise RuntimeError("this share fails")
    os.write(1, json.dumps({"shard": shard.index, "told": len(told)}).encode() + b"\n")
    return shard.index * 10


def forked_shares_answer() -> None:
    """Run in a process of its own (``in_a_fresh_process``)."""
    from services.supervision.rebuild import ForkedProcess, fork_shares

    forked = fork_shares(4, _share)
    assert sorted(s.index for s in forked) == [1, 2, 3] and all(s.count == 4 for s in forked)

    async def main() -> dict[int, tuple[list[bytes], int]]:
        procs = {s.index: await ForkedProcess.adopt(f) for s, f in forked.items()}
        out = {}
        for index in (2, 1, 3):  # not in the order they were forked
            proc = procs[index]
            proc.stdin.write(b"x" * (200_000 * index) + b"\n")
            await proc.stdin.drain()
            proc.stdin.close()
            lines = [line async for line in proc.stdout]
            out[index] = (lines, await proc.wait())
        assert await procs[1].wait() == 10  # waited again: the same code
        return out

    out = asyncio.run(main())
    assert out[1] == ([b'{"shard": 1, "told": 200001}\n'], 10)
    assert out[2] == ([b'{"shard": 2, "told": 400001}\n'], 20)
    assert out[3] == ([], 1)


def forked_share_terminated() -> None:
    """Run in a process of its own (``in_a_fresh_process``)."""
    from services.supervision.rebuild import ForkedProcess, fork_shares

    forked = fork_shares(2, _share)

    async def main() -> int:
        proc = await ForkedProcess.adopt(forked[Shard(1, 2)])
        proc.terminate()  # it waits for its input, which never ends
        code = await proc.wait()
        proc.terminate()  # exited: nothing to do
        proc.stdin.close()
        return code

    assert asyncio.run(main()) == -signal.SIGTERM


def in_a_fresh_process(scenario: str) -> None:
    """``scenario`` of this module run in a new interpreter: a fork needs a process with one thread, and the
    suite's own has its fixtures' threads by the time these tests run."""
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([sys.executable, "-c", f"from tests.unit.test_replay_shards import {scenario}; {scenario}()"],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]


def test_forked_shares_read_their_input_answer_and_exit_with_their_code():
    """``laborcase supervision rebuild`` forks its other shares before any loop (services/supervision/rebuild.py):
    each gets its own input (one larger than a pipe's buffer arrives whole), sees it end when the first process
    closes it — although the shares forked after it were given copies of the first process's pipes, they close
    them —, answers on its output; a share that raises exits 1."""
    in_a_fresh_process("forked_shares_answer")


def test_a_forked_share_is_stopped_by_terminate():
    in_a_fresh_process("forked_share_terminated")


def test_a_stall_is_said_after_its_time_and_again_while_it_lasts():
    from services.backbone.replay import Stall

    stall = Stall(after=60)
    assert stall.seen((10, 5), 0.0) is None  # the first counts: progress
    assert stall.seen((10, 5), 59.0) is None
    assert stall.seen((10, 5), 60.0) == 60.0
    assert stall.seen((10, 5), 100.0) is None  # said already: again after another 60 s
    assert stall.seen((10, 5), 120.0) == 120.0
    assert stall.seen((11, 5), 121.0) is None  # moving again
    assert stall.seen((11, 5), 180.0) is None
    assert stall.seen((11, 5), 181.0) == 60.0


def test_no_share_is_forked_where_a_fork_is_not_safe():
    """A thread running (a fork copies only the caller's) or a single share: nothing forked, the rebuild starts its
    shares as new processes instead."""
    import threading

    from services.supervision.rebuild import fork_shares

    assert fork_shares(1, _share) == {}
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert fork_shares(3, _share) == {}
    finally:
        release.set()
        other.join()
