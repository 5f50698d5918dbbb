"""The snapshot in DynamoDB: one partition per watch target (see docs/design.md for the layout)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from amiwatch.aws.lease import META, Lease, checkpoint_from
from amiwatch.aws.parameters import ParameterItems
from amiwatch.model.contract import Target
from amiwatch.model.records import PROJECTION, record_from_fields
from amiwatch.model.snapshot import (
    IDS_PER_PART,
    ScanCheckpoint,
    Snapshot,
    StoredImage,
    decode_ids,
    encode_ids,
    parts_for,
    shard_of,
)
from amiwatch.run.packed import PackedEntries

SHARD_PREFIX = "shard#"
IMAGE_PREFIX = "image#"
SCAN_PREFIX = "scan#"  # the append-only parts of a checkpointed scan
CHECKPOINT_TTL = timedelta(days=14)
TOMBSTONE_TTL = timedelta(days=365)
BATCH_GET_KEYS = 100
BATCH_WRITE_ITEMS = 25
UNPROCESSED_ATTEMPTS = 8
CONCURRENT_WRITES = 4


@dataclass
class StoreStats:
    """What the store cost this run, for logs and the benchmark."""

    items_written: int = 0
    snapshot_bytes_read: int = 0


class DynamoSnapshotStore(Lease, ParameterItems):
    """Reads and writes one watch target's lease, snapshot shards and stored images (and, for a
    parameters watch, what it remembers of each parameter: aws/parameters.py)."""

    def __init__(self, ddb: Any, table_name: str, target: Target) -> None:
        self.ddb = ddb
        self.table = table_name
        self.pk = f"target#{target.watch}#{target.account}#{target.region}"
        self.watch = target.watch
        self.stats = StoreStats()

    def _key(self, sk: str) -> dict[str, Any]:
        return {"pk": {"S": self.pk}, "sk": {"S": sk}}

    # --- reading ----------------------------------------------------------------------------

    def _meta(self) -> dict[str, Any]:
        meta = self.ddb.get_item(TableName=self.table, Key=self._key(META), ConsistentRead=True)
        return dict(meta.get("Item", {}))

    def load(self) -> Snapshot | None:
        """The persisted snapshot (with the checkpoint of a scan in progress, if any), or None
        when the watch has no baseline yet and no baseline scan is in progress."""
        item = self._meta()
        checkpoint = checkpoint_from(item)
        if "baselineAt" not in item and checkpoint is None:
            return None
        # By key, not a Query of the shard# prefix: the count says which shards there are (a
        # missing one is empty), and a Query's cost in moto, unlike DynamoDB, grows with the
        # image# and scan# items beside them, millions at any size. shard#<count> exists only
        # when a growth was cut short: then every shard is read, and all are rewritten next.
        stored = count = int(item["shardCount"]["N"])
        blobs = dict(self._shard_blobs(range(count + 1)))
        if count in blobs:
            blobs = dict(self._every_shard())
            count = _grown_past(count, max(blobs))
        entries = (PackedEntries.from_numbered(blobs, count) if count == stored
                   else PackedEntries.from_shards(blobs[k] for k in sorted(blobs)))  # fmt: skip
        return Snapshot(entries, count, **_recorded(item), checkpoint=checkpoint,
                        resharding=count != stored)  # fmt: skip

    def _every_shard(self) -> Iterator[tuple[int, bytes]]:
        prefixed = {":pk": {"S": self.pk}, ":prefix": {"S": SHARD_PREFIX}}
        for page in self.ddb.get_paginator("query").paginate(
            TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=prefixed, ConsistentRead=True,
        ):  # fmt: skip
            yield from map(self._blob_of, page.get("Items", []))

    def load_seen(self, checkpoint: ScanCheckpoint) -> Iterator[list[str]]:
        """The ids a scan in progress has reviewed so far (its append-only parts), part by
        part."""
        keys = [self._key(_part_key(checkpoint.scan_id, n)) for n in range(checkpoint.parts)]
        for item in self._batch_get(keys):
            blob = item["ids"]["B"]
            self.stats.snapshot_bytes_read += len(blob)
            yield decode_ids(blob)

    def load_shards(self, image_ids: Iterable[str]) -> Snapshot | None:
        """Only the shards that hold these images (a targeted refresh reads O(ids), not the
        snapshot); None when the target has no baseline yet."""
        item = self._meta()
        if "baselineAt" not in item:
            return None
        count = int(item["shardCount"]["N"])
        blobs = dict(self._shard_blobs(sorted({shard_of(i, count) for i in image_ids} | {count})))
        if count in blobs:  # a growth cut short: only the whole snapshot holds every entry
            return self.load()
        return Snapshot.from_shards(list(blobs.values()), count, **_recorded(item))

    def _shard_blobs(self, shards: Iterable[int]) -> Iterator[tuple[int, bytes]]:
        keys = [self._key(f"{SHARD_PREFIX}{k:05d}") for k in shards]
        return (self._blob_of(item) for item in self._batch_get(keys))

    def _blob_of(self, item: Mapping[str, Any]) -> tuple[int, bytes]:
        blob = item["data"]["B"]
        self.stats.snapshot_bytes_read += len(blob)
        return int(item["sk"]["S"].removeprefix(SHARD_PREFIX)), blob

    def save_shards(self, shards: Mapping[int, bytes]) -> None:
        """Rewrite these shards only (a targeted refresh: meta and the other shards stay)."""
        for k, blob in shards.items():
            self._put_shard(k, blob)

    def load_images(self, image_ids: Iterable[str]) -> dict[str, StoredImage]:
        """The stored records of these images (ids without one are absent from the result)."""
        ids = sorted(set(image_ids))
        found: dict[str, StoredImage] = {}
        for item in self._batch_get([self._key(IMAGE_PREFIX + i) for i in ids]):
            stored = _stored_from_item(item)
            found[stored.record.image_id] = stored
        return found

    def _batch_get(self, keys: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        return batch_get(self.ddb, self.table, keys, ConsistentRead=True)

    # --- writing ----------------------------------------------------------------------------

    def save_images(self, stored: Mapping[str, StoredImage], now: datetime) -> None:
        """Write the records of delivered images (step 2 of the write order)."""
        self._batch_write([{"PutRequest": {"Item": self._image_item(s, now)}}
                           for s in stored.values()])  # fmt: skip

    def save_snapshot(
        self,
        shards: Mapping[int, bytes],
        snapshot: Snapshot,
        owner: str,
        now: datetime,
        *,
        succeeded: bool,
        changes: Mapping[str, int] | None = None,
    ) -> None:
        """Rewrite the touched shards, then meta (steps 3 and 4): after the records. `changes`
        (kind -> count, when the run found some) are kept on meta for `amiwatch status`."""
        for k, blob in shards.items():
            self._put_shard(k, blob)
        self._update_meta(snapshot, owner, now, succeeded=succeeded, changes=changes or {})

    def save_checkpoint(
        self,
        shards: Mapping[int, bytes],
        snapshot: Snapshot,
        checkpoint: ScanCheckpoint,
        reviewed: list[str],
        owner: str,
        now: datetime,
    ) -> None:
        """Persist a scan that stops before its end: the ids this invocation reviewed (its
        parts are the checkpoint's last ones), the touched shards, then meta. A crash before
        meta leaves the previous checkpoint, which counts none of these parts."""
        first = checkpoint.parts - parts_for(len(reviewed))
        expires = {"N": str(int((now + CHECKPOINT_TTL).timestamp()))}
        self._batch_write([
            {"PutRequest": {"Item": {
                **self._key(_part_key(checkpoint.scan_id, first + n)),
                "ids": {"B": encode_ids(reviewed[start : start + IDS_PER_PART])},
                "expiresAt": expires,
            }}}
            for n, start in enumerate(range(0, len(reviewed), IDS_PER_PART))
        ])  # fmt: skip
        for k, blob in shards.items():
            self._put_shard(k, blob)
        self._save_checkpoint_meta(checkpoint, snapshot.shard_count, owner, now)

    def forget_scan(self, checkpoint: ScanCheckpoint) -> None:
        """Delete a completed scan's parts (best effort: they expire by TTL anyway)."""
        keys = [self._key(_part_key(checkpoint.scan_id, n)) for n in range(checkpoint.parts)]
        self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys])

    def _put_shard(self, k: int, blob: bytes) -> None:
        self.stats.items_written += 1
        self.ddb.put_item(
            TableName=self.table,
            Item={
                **self._key(f"{SHARD_PREFIX}{k:05d}"),
                "data": {"B": blob},
                # The record projection its digests were made with (records.PROJECTION).
                "recordProjection": {"N": str(PROJECTION)},
            },
        )

    def _image_item(self, stored: StoredImage, now: datetime) -> dict[str, Any]:
        item = {
            **self._key(IMAGE_PREFIX + stored.record.image_id),
            "record": {"S": json.dumps(dict(stored.record.fields), separators=(",", ":"))},
            "revision": {"N": str(stored.revision)},
            "flags": {"N": str(stored.flags)},
            "tombstone": {"BOOL": stored.tombstone},
            "recordProjection": {"N": str(stored.projection)},
        }
        if stored.tombstone:
            item["expiresAt"] = {"N": str(int((now + TOMBSTONE_TTL).timestamp()))}
        return item

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        """Put and delete requests, 25 a call, a few calls in flight."""
        step = BATCH_WRITE_ITEMS
        chunks = [requests[i : i + step] for i in range(0, len(requests), step)]
        # A few BatchWriteItem calls in flight: a 200k-image baseline is 8,000 of them.
        with ThreadPoolExecutor(max_workers=CONCURRENT_WRITES) as pool:
            for written in pool.map(self._write_chunk, chunks):
                self.stats.items_written += written

    def _write_chunk(self, chunk: list[dict[str, Any]]) -> int:
        request: dict[str, Any] = {self.table: chunk}
        for attempt in range(UNPROCESSED_ATTEMPTS):
            answer = self.ddb.batch_write_item(RequestItems=request)
            request = answer.get("UnprocessedItems") or {}
            if not request:
                return len(chunk)
            _backoff(attempt)
        raise RuntimeError(f"{self.pk}: DynamoDB left writes unprocessed after retries")


def batch_get(
    ddb: Any, table: str, keys: list[dict[str, Any]], **options: Any
) -> Iterator[dict[str, Any]]:
    """BatchGetItem of `keys` (with `options`: ConsistentRead, ProjectionExpression), 100 at a
    time; what DynamoDB leaves unprocessed is asked again with bounded backoff (RuntimeError
    when it keeps leaving some)."""
    for start in range(0, len(keys), BATCH_GET_KEYS):
        request: dict[str, Any] = {table: {"Keys": keys[start : start + BATCH_GET_KEYS], **options}}
        for attempt in range(UNPROCESSED_ATTEMPTS):
            answer = ddb.batch_get_item(RequestItems=request)
            yield from answer.get("Responses", {}).get(table, [])
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            _backoff(attempt)
        else:
            raise RuntimeError(f"{table}: DynamoDB left keys unprocessed after retries")


def _grown_past(count: int, highest: int) -> int:
    """The count a growth from `count` was heading to when it wrote shard `highest`."""
    while count <= highest:
        count *= 2
    return count


def _part_key(scan_id: str, part: int) -> str:
    return f"{SCAN_PREFIX}{scan_id}#{part:05d}"


def _stored_from_item(item: Mapping[str, Any]) -> StoredImage:
    return StoredImage(
        # Items written before projections were recorded hold projection 1.
        record=record_from_fields(
            json.loads(item["record"]["S"]), int(item.get("recordProjection", {"N": "1"})["N"])
        ),
        revision=int(item["revision"]["N"]),
        flags=int(item.get("flags", {"N": "0"})["N"]),
        tombstone=bool(item.get("tombstone", {}).get("BOOL", False)),
    )


def _backoff(attempt: int) -> None:
    time.sleep(min(0.05 * 2**attempt, 2.0))


def _recorded(meta: Mapping[str, Any]) -> dict[str, Any]:
    """What meta recorded of the last run: the selection, its time, and the replacement
    candidates it kept (none when unreadable)."""
    try:
        candidates = json.loads(meta.get("replacements", {}).get("S") or "{}")
    except ValueError:
        candidates = {}
    return {"selection": meta.get("selectionDigest", {}).get("S"),
            "last_run_at": meta.get("lastRunAt", {}).get("S"),
            "candidates": candidates if isinstance(candidates, dict) else {}}  # fmt: skip
