"""What the judgement of one image produces, and the helpers both judgements share (pure)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from amiwatch.model.contract import Change, ChangeKind
from amiwatch.model.records import CANONICAL_FIELDS, ImageRecord, comparable, project_image
from amiwatch.model.snapshot import SnapshotEntry, StoredImage
from amiwatch.model.watches import Watch

# What a silent outcome did, for the run summary (ImageOutcome.note).
REFRESHED = "refreshed"  # record rewritten under the current projection, nothing reported
ENTERED_BY_EDIT = "entered-by-edit"  # entered the watch only because its selection was edited
LEFT_BY_EDIT = "left-by-edit"  # left the watch only because its selection was edited
MISSED_ONCE_NOTE = "missed-once"  # absent from one complete scan, still exists: wait one more
ALLOWED_MARKED = "allowed-marked"  # ImageAllowed appeared as true (or went away): not news
ALLOWED = "ImageAllowed"


@dataclass(frozen=True)
class ImageOutcome:
    """What a run found for one image: its changes and what to remember once they are delivered.

    `entry` None removes the image from the snapshot; `stored` None means no record write.
    """

    image_id: str
    changes: tuple[Change, ...]
    entry: SnapshotEntry | None
    stored: StoredImage | None
    note: str = ""


@dataclass(frozen=True)
class Reselection:
    """The watch's selection was edited since the snapshot was taken.

    Images that entered or left only because of the edit are recorded silently. `since` is the
    previous run's time: an image created after it is a release under any selection and is
    still reported `new`.
    """

    since: datetime | None


def last_revision(entry: SnapshotEntry | None, stored: StoredImage | None) -> int:
    return max(entry.revision if entry else 0, stored.revision if stored else 0)


def live(stored: StoredImage | None) -> StoredImage | None:
    return stored if stored is not None and not stored.tombstone else None


def differing_fields(watch: Watch, before: Mapping[str, Any], record: ImageRecord) -> list[str]:
    """Tracked fields whose value differs; a field the stored record lacks is not a change, nor
    is ImageAllowed appearing as true or going away (Allowed AMIs turned on or off)."""
    return [
        name
        for name in CANONICAL_FIELDS
        if name not in watch.ignore_fields
        and name in before
        and name in record.fields
        and comparable(name, before[name]) != comparable(name, record.fields[name])
        and not (name == ALLOWED and {before[name], record.fields[name]} == {None, True})
    ]


def bare_record(image_id: str) -> ImageRecord:
    record = project_image({"ImageId": image_id})
    assert record is not None
    return record


def make_change(
    kind: ChangeKind,
    record: ImageRecord,
    reason: str,
    revision: int,
    discriminator: str,
    previous: Mapping[str, Any] | None = None,
    changed_fields: tuple[str, ...] | None = None,
) -> Change:
    fields = changed_fields if changed_fields is not None else tuple(previous or ())
    frozen = MappingProxyType(dict(previous)) if previous is not None else None
    return Change(kind, record, reason, revision, discriminator, frozen, fields)


def previous_values(before: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {name: before[name] for name in names}


def values_digest(values: Mapping[str, Any]) -> str:
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()
