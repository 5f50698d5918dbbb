"""The packed snapshot behaves as the dict it replaces, at a quarter of the memory."""

from __future__ import annotations

import random
import tracemalloc

from amiwatch.model.snapshot import (
    SHARD_CAPACITY,
    Snapshot,
    SnapshotEntry,
    decode_shard,
    encode_shard,
    shard_of,
)
from amiwatch.run.packed import PackedEntries

DRAW = random.Random(26)
IDS = [f"ami-{DRAW.getrandbits(68):017x}" for _ in range(5000)]
ENTRIES = {i: SnapshotEntry(DRAW.randbytes(8), n % 8, n) for n, i in enumerate(IDS)}
COUNT = 4


def blobs(entries: dict[str, SnapshotEntry], count: int = COUNT) -> list[bytes]:
    shards: dict[int, dict[str, SnapshotEntry]] = {k: {} for k in range(count)}
    for image_id, entry in entries.items():
        shards[shard_of(image_id, count)][image_id] = entry
    return [encode_shard(shard) for shard in shards.values()]


def test_every_entry_reads_back_and_an_unknown_id_is_absent():
    packed = PackedEntries.from_shards(blobs(ENTRIES))

    assert all(packed[i] == e and packed.get(i) == e for i, e in ENTRIES.items())
    assert packed.get("ami-0123456789abcdef0") is None and "ami-0123" not in packed
    assert len(packed) == len(ENTRIES) and set(packed) == set(ENTRIES)


def test_changes_overlay_the_packed_shards_and_apply_writes_the_same_shards_as_a_dict():
    packed = Snapshot(PackedEntries.from_shards(blobs(ENTRIES)), COUNT)
    plain = Snapshot(dict(ENTRIES), COUNT)
    new = SnapshotEntry(b"\x00" * 8, 0, 1)
    updates = {IDS[0]: None, IDS[1]: new, "ami-00000000000000001": new}

    written = packed.apply(updates), plain.apply(updates)

    assert written[0] == written[1]
    assert dict(packed.entries) == dict(plain.entries)
    assert len(packed.entries) == len(ENTRIES) and IDS[0] not in packed.entries


def numbered() -> Snapshot:
    return Snapshot(PackedEntries.from_numbered(dict(enumerate(blobs(ENTRIES))), COUNT), COUNT)


def decoded(shards: dict[int, bytes]) -> dict[int, dict[str, SnapshotEntry]]:
    return {k: decode_shard(blob) for k, blob in shards.items()}


def test_shards_written_back_one_at_a_time_hold_what_a_dict_writes():
    packed, plain = numbered(), Snapshot(dict(ENTRIES), COUNT)
    new = SnapshotEntry(b"\x00" * 8, 0, 1)
    updates = {IDS[0]: None, IDS[1]: new, "ami-00000000000000001": new}
    assert packed.entries.by_shard(COUNT)  # type: ignore[attr-defined]

    assert decoded(packed.apply(updates)) == decoded(plain.apply(updates))
    assert decoded(packed.apply({IDS[2]: new})) == decoded(plain.apply({IDS[2]: new}))


def test_a_growth_splits_each_stored_shard_and_writes_the_new_shards_first():
    packed = numbered()
    more = {f"ami-{n:017x}": SnapshotEntry(b"\x02" * 8, 0, 1) for n in range(4 * SHARD_CAPACITY)}

    written = packed.apply(more)

    assert packed.shard_count == 8
    assert list(written) == [4, 5, 6, 7, 0, 1, 2, 3]
    assert decoded(written) == decoded(Snapshot(dict(ENTRIES), COUNT).apply(more))
    assert sum(len(shard) for shard in decoded(written).values()) == len(ENTRIES) + len(more)


def test_an_id_in_two_shards_after_a_growth_cut_short_is_one_entry_the_later_one():
    newer = {i: SnapshotEntry(b"\x01" * 8, 0, 99) for i in IDS[:100]}
    half_rewritten = blobs(ENTRIES) + blobs(newer, 8)  # written for 8, meta still says 4

    entries = PackedEntries.from_shards(half_rewritten)

    assert len(entries) == len(ENTRIES) and sorted(entries) == sorted(ENTRIES)
    assert entries[IDS[0]] == newer[IDS[0]] and entries[IDS[100]] == ENTRIES[IDS[100]]


def test_marks_say_what_earlier_invocations_reviewed():
    packed = PackedEntries.from_shards(blobs(ENTRIES))

    packed.mark([*IDS[:10], "ami-not-in-the-snapshot"])
    marked = packed.marked()

    assert all(i in marked for i in IDS[:10]) and IDS[10] not in marked
    assert "ami-not-in-the-snapshot" in marked and len(marked) == 10


def test_a_packed_entry_costs_a_fraction_of_a_dict_entry():
    shard_blobs = blobs(ENTRIES)
    tracemalloc.start()
    packed = PackedEntries.from_shards(shard_blobs)
    packed_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    tracemalloc.start()
    plain = Snapshot.from_shards(shard_blobs, COUNT)
    dict_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    assert packed_bytes / len(packed) < 90
    assert dict_bytes > 3 * packed_bytes, (dict_bytes, packed_bytes, len(plain.entries))
