"""The snapshot is read by key (shard#0..count-1), and a growth of the shard count cut short by
a crash loses no entry: the next load reads every shard and the next write rewrites them all."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.model.contract import Target
from amiwatch.model.snapshot import SHARD_CAPACITY, Snapshot, SnapshotEntry, shard_of
from devtools.local_aws import ACCOUNT, REGION, LocalAws

NOW = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)


def entries(start: int, stop: int, revision: int = 1) -> dict[str, SnapshotEntry]:
    return {
        f"ami-{hashlib.sha1(str(i).encode()).hexdigest()[:17]}": SnapshotEntry(
            hashlib.blake2b(str(i).encode(), digest_size=8).digest(), 0, revision
        )
        for i in range(start, stop)
    }


def store(aws: LocalAws) -> DynamoSnapshotStore:
    target = Target("golden", ACCOUNT, REGION)
    return DynamoSnapshotStore(aws.client("dynamodb"), aws.table_name, target)


def baseline(aws: LocalAws, first: dict[str, SnapshotEntry]) -> DynamoSnapshotStore:
    snapshot = Snapshot()
    writer = store(aws)
    assert writer.acquire_lease("run-1", NOW, 900)
    writer.save_snapshot(snapshot.apply(first), snapshot, "run-1", NOW, succeeded=True)
    return writer


def test_a_loaded_snapshot_holds_every_entry_of_every_shard(aws):
    first = entries(0, 3 * SHARD_CAPACITY)
    baseline(aws, first)

    loaded = store(aws).load()

    assert loaded is not None and loaded.shard_count == 4 and not loaded.resharding
    assert dict(loaded.entries) == first


def test_a_growth_cut_short_after_its_first_write_loses_no_entry(aws):
    first = entries(0, SHARD_CAPACITY - 10)
    writer = baseline(aws, first)
    grown = store(aws).load()
    assert grown is not None and grown.shard_count == 1
    more = entries(SHARD_CAPACITY, SHARD_CAPACITY + 100)

    shards = grown.apply(more)  # past capacity: every shard is rewritten at 2
    assert list(shards) == [1, 0]  # the new shard first
    writer.save_shards({1: shards[1]})  # the crash: shard 0 and meta are never written

    loaded = store(aws).load()

    assert loaded is not None and loaded.shard_count == 2 and loaded.resharding
    held = dict(loaded.entries)
    assert first.items() <= held.items()  # nothing the last completed run recorded is lost
    assert set(held) - set(first) <= set(more)
    assert set(loaded.apply({next(iter(first)): None})) == {0, 1}  # all rewritten at 2
    assert not loaded.resharding


def test_a_refresh_after_a_growth_cut_short_before_meta_finds_the_images_that_moved(aws):
    first = entries(0, SHARD_CAPACITY - 10)
    writer = baseline(aws, first)
    grown = store(aws).load()
    assert grown is not None
    writer.save_shards(grown.apply(entries(SHARD_CAPACITY, SHARD_CAPACITY + 100)))  # no meta
    moved = [i for i in first if shard_of(i, 2) == 1][:5]

    refreshed = store(aws).load_shards(moved)

    assert refreshed is not None and refreshed.resharding
    assert all(refreshed.entries.get(i) == first[i] for i in moved)  # no false `new`
