"""Shares of a replay (services/backbone/replay.py): which partitions each process reads, and their progress summed."""

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
