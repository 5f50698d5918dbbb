"""A snapshot's entries packed for a full scan: ~70 bytes an image, where a dict of entries
costs ~225 (so a watch of millions of images fits in one invocation's memory).

Each shard keeps its decompressed body as it was stored ([len][ImageId][digest][flags]
[revision]...); one open-addressing table over all of them maps the `hash()` of an ImageId to
where its entry starts, and a lookup checks the id there. What a run changes lives beside it in
a plain dict, and the ids earlier invocations of a checkpointed scan reviewed are one byte per
slot (`marks`).
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from collections.abc import Set as AbstractSet
from typing import Any

from amiwatch.model.snapshot import (
    ENTRY_TAIL,
    SHARD_FORMAT,
    SnapshotEntry,
    shard_of,
)

_TAIL = ENTRY_TAIL.size
_unpack_tail = ENTRY_TAIL.unpack_from
_GONE = None  # in `_changed`: the run removed this entry


class PackedEntries(MutableMapping[str, SnapshotEntry]):
    """The entries of every shard of a target (a Mapping, as Snapshot.entries is)."""

    def __init__(self, capacity: int) -> None:
        size = 8
        while size * 2 < capacity * 3:  # at most two thirds full: short probes
            size *= 2
        self._mask = size - 1
        self._keys = array("q", bytes(8 * size))  # 0: an empty slot
        self._where = array("Q", bytes(8 * size))  # body index << 32 | offset
        self._bodies: list[bytes] = []
        self._marks = bytearray()
        self._changed: dict[str, SnapshotEntry | None] = {}
        self._extra_marks: set[str] = set()  # marked ids that are not in the packed shards
        self._packed = 0  # entries in the packed shards
        self._added = 0  # ids in `_changed` that the packed shards do not hold
        self._shard_count = 0  # the count the bodies were stored at (0: unknown)
        self._body_of: dict[int, int] = {}  # shard -> its body
        self._grouped: tuple[int, int, dict[int, list[str]]] = (0, -1, {})

    @classmethod
    def from_shards(cls, blobs: Iterable[bytes]) -> PackedEntries:
        """Pack stored shard blobs (an id held by two, after a shard growth cut short, keeps
        the later one, as decoding them into a dict would)."""
        bodies = [_body(blob) for blob in blobs]
        packed = cls(sum(_entries_in(body) for body in bodies))
        for body in bodies:
            packed._add_body(body)
        return packed

    @classmethod
    def from_numbered(cls, shards: Mapping[int, bytes], shard_count: int) -> PackedEntries:
        """Pack the shards of a target stored at `shard_count` (shard -> blob; each holds
        only its own ids): writing them back then reads one body at a time (`shard_entries`)."""
        numbers = sorted(shards)
        packed = cls.from_shards(shards[k] for k in numbers)
        packed._shard_count, packed._body_of = shard_count, {k: n for n, k in enumerate(numbers)}
        return packed

    def _add_body(self, body: bytes) -> None:
        index, offset = len(self._bodies), 0
        self._bodies.append(body)
        keys, where, mask = self._keys, self._where, self._mask
        while offset < len(body):
            length = body[offset]
            raw = body[offset + 1 : offset + 1 + length]
            key = hash(raw.decode()) or 1
            slot = key & mask
            while keys[slot] and not (keys[slot] == key and self._id_at(slot) == raw):
                slot = (slot + 1) & mask
            self._packed += not keys[slot]
            keys[slot], where[slot] = key, index << 32 | offset
            offset += 1 + length + _TAIL

    def _id_at(self, slot: int) -> bytes:
        where = self._where[slot]
        body, at = self._bodies[where >> 32], where & 0xFFFFFFFF
        return body[at + 1 : at + 1 + body[at]]

    # --- lookups ------------------------------------------------------------------------

    def _find(self, image_id: str) -> int | None:
        """The table slot of a packed entry."""
        key = hash(image_id) or 1
        keys, mask = self._keys, self._mask
        slot, raw = key & mask, None
        while True:
            found = keys[slot]
            if not found:
                return None
            if found == key:
                where = self._where[slot]
                body, at = self._bodies[where >> 32], where & 0xFFFFFFFF
                raw = raw or image_id.encode()
                if body[at + 1 : at + 1 + body[at]] == raw:
                    return slot
            slot = (slot + 1) & mask

    def __getitem__(self, image_id: str) -> SnapshotEntry:
        entry = self.get(image_id)
        if entry is None:
            raise KeyError(image_id)
        return entry  # type: ignore[no-any-return]

    def get(self, image_id: str, default: Any = None) -> Any:
        # The scan's hot path (once per image): _find inlined, with the entry read at its slot.
        if self._changed and image_id in self._changed:
            entry = self._changed[image_id]
            return default if entry is None else entry
        key = hash(image_id) or 1
        keys, mask = self._keys, self._mask
        slot = key & mask
        while found := keys[slot]:
            if found == key:
                where = self._where[slot]
                body, at = self._bodies[where >> 32], where & 0xFFFFFFFF
                end = at + 1 + body[at]
                if body[at + 1 : end] == image_id.encode():
                    return SnapshotEntry(*_unpack_tail(body, end))
            slot = (slot + 1) & mask
        return default

    def __contains__(self, image_id: object) -> bool:
        return isinstance(image_id, str) and self.get(image_id) is not None

    def __len__(self) -> int:
        return self._packed + self._added

    def __iter__(self) -> Iterator[str]:
        keys, changed = self._keys, self._changed
        for slot in range(len(keys)):
            if keys[slot]:
                image_id = self._id_at(slot).decode()
                if changed.get(image_id, True) is not None:
                    yield image_id
        yield from (i for i, e in self._changed.items() if e is not None and not self._find(i))

    # --- what a run changes -------------------------------------------------------------

    def __setitem__(self, image_id: str, entry: SnapshotEntry) -> None:
        self._count_change(image_id, present=True)
        self._changed[image_id] = entry

    def __delitem__(self, image_id: str) -> None:
        if image_id not in self:
            raise KeyError(image_id)
        self._count_change(image_id, present=False)
        self._changed[image_id] = _GONE

    def _count_change(self, image_id: str, *, present: bool) -> None:
        was = image_id in self
        packed = self._find(image_id) is not None
        if not packed:
            self._added += int(present) - int(was)
        elif was != present:
            self._packed += 1 if present else -1

    # --- writing back, one shard at a time ------------------------------------------------

    def by_shard(self, shard_count: int) -> bool:
        """Whether `shard_entries` can read shards at this count: the bodies' own shards are
        known and the count is theirs or a multiple (a growth splits each stored shard)."""
        return bool(self._shard_count) and shard_count % self._shard_count == 0

    def shard_entries(self, shard: int, shard_count: int) -> dict[str, SnapshotEntry]:
        """The entries of `shard` at `shard_count` (`by_shard`), from one stored body and what
        the run changed: the whole snapshot is never materialized at once."""
        stored = self._shard_count
        entries: dict[str, SnapshotEntry] = {}
        index = self._body_of.get(shard % stored)
        body, offset = b"" if index is None else self._bodies[index], 0
        exact, changed = shard_count == stored, self._changed
        while offset < len(body):
            end = offset + 1 + body[offset]
            image_id = body[offset + 1 : end].decode()
            if image_id not in changed and (exact or shard_of(image_id, shard_count) == shard):
                entries[image_id] = SnapshotEntry(*_unpack_tail(body, end))
            offset = end + _TAIL
        for image_id in self._changed_in(shard_count).get(shard, ()):
            if (entry := changed[image_id]) is not None:
                entries[image_id] = entry
        return entries

    def _changed_in(self, shard_count: int) -> dict[int, list[str]]:
        """The changed ids by shard (kept while neither the changes nor the count change)."""
        count, size, grouped = self._grouped
        if (count, size) != (shard_count, len(self._changed)):
            grouped = {}
            for image_id in self._changed:
                grouped.setdefault(shard_of(image_id, shard_count), []).append(image_id)
            self._grouped = (shard_count, len(self._changed), grouped)
        return grouped

    # --- marks: what earlier invocations of a checkpointed scan reviewed -----------------

    def mark(self, image_ids: Iterable[str]) -> None:
        if not self._marks:
            self._marks = bytearray(len(self._keys))
        for image_id in image_ids:
            slot = self._find(image_id)
            if slot is None:
                self._extra_marks.add(image_id)
            else:
                self._marks[slot] = 1

    def marked(self) -> AbstractSet[str]:
        """The marked ids, as a set the triage asks `in` of."""
        return _Marked(self)

    def is_marked(self, image_id: str) -> bool:
        if image_id in self._extra_marks:
            return True
        slot = self._find(image_id) if self._marks else None
        return slot is not None and bool(self._marks[slot])


class _Marked(AbstractSet[str]):
    def __init__(self, packed: PackedEntries) -> None:
        self.packed = packed

    def __contains__(self, image_id: object) -> bool:
        return isinstance(image_id, str) and self.packed.is_marked(image_id)

    def __iter__(self) -> Iterator[str]:
        return (i for i in self.packed if self.packed.is_marked(i))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _body(blob: bytes) -> bytes:
    if not blob or blob[0] != SHARD_FORMAT:
        raise ValueError(f"unknown snapshot shard format {blob[:1]!r}")
    return zlib.decompress(blob[1:])


def _entries_in(body: bytes) -> int:
    count, offset = 0, 0
    while offset < len(body):
        offset += 1 + body[offset] + _TAIL
        count += 1
    return count
