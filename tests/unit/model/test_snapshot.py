"""The snapshot's compact shards: lossless, small per image, growing without losing entries."""

from __future__ import annotations

import hashlib

from amiwatch.model.snapshot import (
    SHARD_CAPACITY,
    Snapshot,
    SnapshotEntry,
    decode_shard,
    encode_shard,
)


def fleet(n: int) -> dict[str, SnapshotEntry]:
    return {
        f"ami-{hashlib.sha1(str(i).encode()).hexdigest()[:17]}": SnapshotEntry(
            hashlib.blake2b(str(i).encode(), digest_size=8).digest(), i % 4, i % 7
        )
        for i in range(n)
    }


def test_a_shard_decodes_to_what_was_encoded():
    entries = fleet(500)

    assert decode_shard(encode_shard(entries)) == entries


def test_a_snapshot_costs_well_under_64_bytes_per_image():
    snapshot = Snapshot()
    entries = fleet(20_000)

    shards = snapshot.apply(entries)

    per_image = sum(len(blob) for blob in shards.values()) / len(entries)
    assert per_image <= 40, per_image
    assert max(len(blob) for blob in shards.values()) < 400_000


def test_growing_past_capacity_reshards_everything_and_loses_nothing():
    snapshot = Snapshot()
    entries = fleet(SHARD_CAPACITY + 1)

    shards = snapshot.apply(entries)
    rebuilt = Snapshot.from_shards(shards.values(), snapshot.shard_count)

    assert snapshot.shard_count == 2
    assert set(shards) == {0, 1}
    assert rebuilt.entries == entries


def test_an_update_rewrites_only_the_touched_shard():
    snapshot = Snapshot()
    entries = fleet(3 * SHARD_CAPACITY)
    snapshot.apply(entries)
    image_id = next(iter(entries))

    shards = snapshot.apply({image_id: None})

    assert len(shards) == 1
    assert image_id not in snapshot.entries
