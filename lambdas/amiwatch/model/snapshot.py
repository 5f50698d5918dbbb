"""What a watch remembers between runs, and its compact encoding. Pure: no boto3.

Two layers (see docs/design.md):
- `SnapshotEntry` per image, packed into a few compressed shard items: enough to tell in ~30 bytes
  that an image did not change, so an unchanged run reads little and writes nothing.
- `StoredImage` per image, the authoritative last-reported record, read only for images that
  changed and written only when they change.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from amiwatch.model.records import ImageRecord

# Flag bits: which time-driven changes were already reported for the record's DeprecationTime.
DEPRECATED_REPORTED = 1
IMMINENT_REPORTED = 2
# Shard entries only: the last complete scan missed this image although it still exists (one
# omission is absorbed; a second in a row reports `left-watch`).
MISSED_ONCE = 4

SHARD_FORMAT = 1
# Entries per shard before the shard count doubles: ~36 bytes raw each, so a full shard is
# ~150 KB before compression, far from DynamoDB's 400 KB item limit.
SHARD_CAPACITY = 4000
ENTRY_TAIL = struct.Struct(">8sBI")  # digest, flags, revision


@dataclass(frozen=True, slots=True)
class SnapshotEntry:
    """The cheap fingerprint of a reported image: digest of its tracked fields, flags, revision."""

    digest: bytes
    flags: int
    revision: int


@dataclass(frozen=True)
class StoredImage:
    """The last reported state of one image. A tombstone marks an image reported deregistered."""

    record: ImageRecord
    revision: int
    flags: int = 0
    tombstone: bool = False

    @property
    def projection(self) -> int:
        """The record projection this image was stored with (see records.PROJECTION)."""
        return self.record.projection

    def entry(self, ignore_fields: Iterable[str]) -> SnapshotEntry:
        """The shard entry that matches this stored image."""
        return SnapshotEntry(
            self.record.digest(frozenset(ignore_fields)), self.flags, self.revision
        )


def shard_of(image_id: str, shard_count: int) -> int:
    """The shard an image lives in; stable for a given shard count."""
    bucket = hashlib.blake2b(image_id.encode(), digest_size=4).digest()
    return int.from_bytes(bucket, "big") % shard_count


def shard_count_for(image_count: int, current: int = 1) -> int:
    """Grow (never shrink) the shard count so shards stay under SHARD_CAPACITY on average."""
    count = max(current, 1)
    while image_count > count * SHARD_CAPACITY:
        count *= 2
    return count


def encode_shard(entries: Mapping[str, SnapshotEntry]) -> bytes:
    """Pack entries as [len][ImageId][digest][flags][revision]..., zlib-compressed."""
    parts = []
    for image_id in sorted(entries):
        entry = entries[image_id]
        raw_id = image_id.encode()
        parts.append(bytes([len(raw_id)]) + raw_id)
        parts.append(ENTRY_TAIL.pack(entry.digest, entry.flags, entry.revision))
    return bytes([SHARD_FORMAT]) + zlib.compress(b"".join(parts), 6)


def decode_shard(blob: bytes) -> dict[str, SnapshotEntry]:
    """Inverse of encode_shard."""
    if not blob or blob[0] != SHARD_FORMAT:
        raise ValueError(f"unknown snapshot shard format {blob[:1]!r}")
    data = zlib.decompress(blob[1:])
    entries: dict[str, SnapshotEntry] = {}
    offset = 0
    while offset < len(data):
        length = data[offset]
        image_id = data[offset + 1 : offset + 1 + length].decode()
        offset += 1 + length
        digest, flags, revision = ENTRY_TAIL.unpack_from(data, offset)
        offset += ENTRY_TAIL.size
        entries[image_id] = SnapshotEntry(digest, flags, revision)
    return entries


@dataclass(frozen=True)
class ScanCheckpoint:
    """Where a scan that outlived its invocation stands (kept on `meta` under the lease).

    `token` is the DescribeImages NextToken of the next page; `parts` how many append-only
    items hold the ids already reviewed; `recheck` the images whose events were not delivered
    (reviewed again first on resume); `candidates` the replacement candidates offered so far.
    """

    scan_id: str
    token: str | None
    baseline: bool
    started_at: str
    selection: str | None = None
    pages: int = 0
    images: int = 0
    invocations: int = 1
    parts: int = 0
    recheck: tuple[str, ...] = ()
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What operators see of a scan in progress."""
        return {"scanId": self.scan_id, "startedAt": self.started_at, "pages": self.pages,
                "images": self.images, "invocations": self.invocations}  # fmt: skip


# Ids per append-only item of a checkpointed scan: ~11 bytes each compressed, so ~220 KB.
IDS_PER_PART = 20000


def parts_for(count: int) -> int:
    """How many append-only items hold `count` reviewed ids."""
    return -(-count // IDS_PER_PART)


def encode_ids(image_ids: Iterable[str]) -> bytes:
    """Image ids, newline-separated and zlib-compressed (a checkpoint's reviewed ids)."""
    return zlib.compress("\n".join(image_ids).encode(), 6)


def decode_ids(blob: bytes) -> list[str]:
    """Inverse of encode_ids."""
    data = zlib.decompress(blob).decode()
    return data.split("\n") if data else []


@runtime_checkable
class ShardedEntries(Protocol):
    """Entries that can hand back one shard at a time (run.packed): writing a snapshot back
    then never holds all its entries as objects at once."""

    def by_shard(self, shard_count: int) -> bool: ...

    def shard_entries(self, shard: int, shard_count: int) -> dict[str, SnapshotEntry]: ...


@dataclass
class Snapshot:
    """All entries of one watch target, how they are sharded, and what the last run recorded.

    `selection` is the digest of the watch's selection (Watch.selection_digest) the snapshot was
    taken with, None before amiwatch recorded it; `last_run_at` the last run's time.
    """

    entries: MutableMapping[str, SnapshotEntry] = field(default_factory=dict)
    shard_count: int = 1
    selection: str | None = None
    last_run_at: str | None = None
    # The last full run's replacement candidates (judge.replacement): key -> record fields.
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkpoint: ScanCheckpoint | None = None  # a scan in progress, to resume
    # Shards beyond shard_count exist (a growth cut short): the next apply rewrites them all.
    resharding: bool = False

    @classmethod
    def from_shards(
        cls,
        blobs: Iterable[bytes],
        shard_count: int,
        selection: str | None = None,
        last_run_at: str | None = None,
        candidates: dict[str, dict[str, Any]] | None = None,
        checkpoint: ScanCheckpoint | None = None,
    ) -> Snapshot:
        """Rebuild from the stored shard blobs and the meta item's fields."""
        entries: dict[str, SnapshotEntry] = {}
        for blob in blobs:
            entries.update(decode_shard(blob))
        return cls(entries, shard_count, selection, last_run_at, dict(candidates or {}),
                   checkpoint)  # fmt: skip

    def apply(
        self, updates: Mapping[str, SnapshotEntry | None], *, grow: bool = True
    ) -> dict[int, bytes]:
        """Apply entry updates (None removes) and return the encoded shards that must be written.

        `grow=False` for a snapshot holding only some shards (a targeted refresh): the shard count
        then stays, and the next full run grows it.
        """
        touched = {shard_of(i, self.shard_count) for i in updates}
        if not touched:
            return {}
        for image_id, entry in updates.items():
            if entry is None:
                self.entries.pop(image_id, None)
            else:
                self.entries[image_id] = entry
        before = self.shard_count
        grown = shard_count_for(len(self.entries), before) if grow else before
        if grown != before or self.resharding:
            self.shard_count, self.resharding = grown, False
            touched = set(range(grown))
        # New shards first: until an old shard is rewritten it still holds what moved out of
        # it, so a growth cut short at any write loses no entry (the store reads both).
        order = sorted(touched, key=lambda k: (k < before, k))
        entries, count = self.entries, self.shard_count
        if isinstance(entries, ShardedEntries) and entries.by_shard(count):
            return {k: encode_shard(entries.shard_entries(k, count)) for k in order}
        buckets: dict[int, dict[str, SnapshotEntry]] = {k: {} for k in order}
        for image_id, entry in self.entries.items():
            bucket = buckets.get(shard_of(image_id, self.shard_count))
            if bucket is not None:
                bucket[image_id] = entry
        return {k: encode_shard(bucket) for k, bucket in buckets.items()}
