"""Decide what changed. Pure: plain data in, plain data out; `now` is an argument.

The pipeline calls `needs_review` for every scanned image (cheap: one digest compare) and `diff`
only for the few that need it, with their stored records loaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from amiwatch.config import Watch
from amiwatch.records import (
    CANONICAL_FIELDS,
    FAILED_STATES,
    ImageRecord,
    parse_time,
    project_image,
)
from amiwatch.snapshot import (
    DEPRECATED_REPORTED,
    IMMINENT_REPORTED,
    MISSED_ONCE,
    SnapshotEntry,
    StoredImage,
)


class ChangeKind(StrEnum):
    """The kinds of change a subscriber can receive."""

    NEW = "new"
    AVAILABLE = "available"
    FAILED = "failed"
    DISABLED = "disabled"
    DEREGISTERED = "deregistered"
    DEPRECATED = "deprecated"
    DEPRECATION_SCHEDULED = "deprecation-scheduled"
    DEPRECATION_IMMINENT = "deprecation-imminent"
    UPDATED = "updated"
    LEFT_WATCH = "left-watch"


# Why a change was reported: the `reason` field of every event.
REASONS = (
    "first-seen",
    "matches-again",
    "no-longer-matches",
    "state",
    "vanished",
    "deprecation-time-passed",
    "deprecation-time-set",
    "deprecation-time-changed",
    "within-warning-window",
    "fields-changed",
)
STATE_KINDS = {"available": ChangeKind.AVAILABLE, "disabled": ChangeKind.DISABLED}
STATE_FIELDS = ("State", "StateReason")


@dataclass(frozen=True)
class Change:
    """One change of one image. `revision` and `discriminator` pin it for the eventId."""

    kind: ChangeKind
    image: ImageRecord
    reason: str
    revision: int
    discriminator: str
    previous: Mapping[str, Any] | None = None
    changed_fields: tuple[str, ...] = ()


# What a silent outcome did, for the run summary (ImageOutcome.note).
REFRESHED = "refreshed"  # record rewritten under the current projection, nothing reported
ENTERED_BY_EDIT = "entered-by-edit"  # entered the watch only because its selection was edited
LEFT_BY_EDIT = "left-by-edit"  # left the watch only because its selection was edited
MISSED_ONCE_NOTE = "missed-once"  # absent from one complete scan, still exists: wait one more


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


def due_flags(watch: Watch, record: ImageRecord, now: datetime) -> int:
    """The time-driven flags that should be reported for this record at `now`."""
    deprecation = record.deprecation_time
    if deprecation is None:
        return 0
    if deprecation <= now:
        return DEPRECATED_REPORTED | IMMINENT_REPORTED
    warning = timedelta(days=watch.deprecation_warning_days)
    if watch.deprecation_warning_days and deprecation - warning <= now:
        return IMMINENT_REPORTED
    return 0


def needs_review(
    watch: Watch, entry: SnapshotEntry | None, record: ImageRecord, now: datetime
) -> bool:
    """True when a scanned image may have changed: unknown, new digest, or a time event due."""
    if entry is None:
        return True
    if record.digest(watch.ignore_fields) != entry.digest or entry.flags & MISSED_ONCE:
        return True
    return bool(due_flags(watch, record, now) & ~entry.flags)


class Triage:
    """Sorts a streaming scan: images that may have changed are held for review, in chunks.

    Pure: it only compares. Call `vanished()` after a complete scan; an image missing from an
    incomplete one must never be reported gone.
    """

    def __init__(
        self,
        watch: Watch,
        now: datetime,
        snapshot: Mapping[str, SnapshotEntry],
        *,
        baseline: bool = False,
    ) -> None:
        self.watch, self.now, self.snapshot, self.baseline = watch, now, snapshot, baseline
        self.seen: set[str] = set()
        self.pending: dict[str, ImageRecord] = {}

    def add(self, record: ImageRecord) -> None:
        """Look at one scanned image; keep it only if it may have changed."""
        self.seen.add(record.image_id)
        entry = self.snapshot.get(record.image_id)
        if self.baseline or needs_review(self.watch, entry, record, self.now):
            self.pending[record.image_id] = record

    def take(self) -> dict[str, ImageRecord]:
        """Hand over the images held for review and forget them."""
        taken, self.pending = self.pending, {}
        return taken

    def vanished(self) -> list[str]:
        """Snapshot images the (complete) scan did not return."""
        return [image_id for image_id in self.snapshot if image_id not in self.seen]


def diff(
    watch: Watch,
    now: datetime,
    snapshot: Mapping[str, SnapshotEntry],
    to_review: Mapping[str, ImageRecord],
    vanished: Mapping[str, ImageRecord | None],
    stored: Mapping[str, StoredImage],
    *,
    baseline: bool = False,
    reselection: Reselection | None = None,
) -> list[ImageOutcome]:
    """Judge every image that needs review and every image that vanished from the scan.

    `snapshot`: the entries last persisted; `to_review`: scanned records that `needs_review`
    flagged; `vanished`: snapshot ids absent from a complete scan, each with what a lookup by id
    found (the record now, or None when the image is no longer visible); `stored`: the stored
    records of those ids (missing ids have none). `baseline` is the watch's first run;
    `reselection` is set when the watch's selection was edited since the snapshot.
    """
    silent = baseline and watch.baseline == "silent"
    outcomes = []
    for image_id, record in to_review.items():
        known = None if baseline else stored.get(image_id)
        quiet = silent or _entered_by_edit(record, reselection)
        outcome = _review(watch, now, record, snapshot.get(image_id), known, silent=quiet)
        if outcome is not None:
            if quiet and not silent and outcome.stored is not None and _live(known) is None:
                outcome = replace(outcome, note=ENTERED_BY_EDIT)
            outcomes.append(outcome)
    for image_id, found in vanished.items():
        outcome = _vanished(
            watch, now, image_id, snapshot.get(image_id), stored.get(image_id), found, reselection
        )
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _entered_by_edit(record: ImageRecord, reselection: Reselection | None) -> bool:
    if reselection is None:
        return False
    created = parse_time(record.fields.get("CreationDate"))
    return reselection.since is None or created is None or created <= reselection.since


def _last_revision(entry: SnapshotEntry | None, stored: StoredImage | None) -> int:
    return max(entry.revision if entry else 0, stored.revision if stored else 0)


def _live(stored: StoredImage | None) -> StoredImage | None:
    return stored if stored is not None and not stored.tombstone else None


def _review(
    watch: Watch,
    now: datetime,
    record: ImageRecord,
    entry: SnapshotEntry | None,
    stored: StoredImage | None,
    *,
    silent: bool,
) -> ImageOutcome | None:
    known = _live(stored)
    if record.state == "deregistered":
        return _deregistered_by_state(record, entry, stored)
    if known is None:
        revision = _last_revision(entry, stored) + 1
        # A tombstone means amiwatch reported this image before: it left (or vanished) and is back.
        again = stored is not None
        return _first_sight(watch, now, record, revision, silent=silent, again=again)
    return _known(watch, now, record, entry, known)


def _first_sight(
    watch: Watch,
    now: datetime,
    record: ImageRecord,
    revision: int,
    *,
    silent: bool,
    again: bool = False,
) -> ImageOutcome:
    flags = due_flags(watch, record, now)
    changes: list[Change] = []
    if not silent:
        if record.state in FAILED_STATES:
            changes.append(_change(ChangeKind.FAILED, record, "state", revision, record.state))
        else:
            reason = "matches-again" if again else "first-seen"
            changes.append(_change(ChangeKind.NEW, record, reason, revision, ""))
        changes.extend(_time_changes(record, revision, flags, None))
    stored = StoredImage(record, revision, flags)
    return ImageOutcome(record.image_id, tuple(changes), stored.entry(watch.ignore_fields), stored)


def _known(
    watch: Watch,
    now: datetime,
    record: ImageRecord,
    entry: SnapshotEntry | None,
    known: StoredImage,
) -> ImageOutcome | None:
    before = known.record.fields
    changed = _differing(watch, before, record)
    revision = known.revision + 1 if changed else known.revision
    deprecation_changed = "DeprecationTime" in changed
    flags = 0 if deprecation_changed else known.flags
    due = due_flags(watch, record, now)
    changes, consumed = _state_changes(record, before, changed, revision)
    if deprecation_changed and record.deprecation_time is not None:
        consumed.add("DeprecationTime")
        if record.deprecation_time > now:
            reason = (
                "deprecation-time-set"
                if before["DeprecationTime"] is None
                else "deprecation-time-changed"
            )
            changes.append(
                _change(
                    ChangeKind.DEPRECATION_SCHEDULED,
                    record,
                    reason,
                    revision,
                    str(record.fields["DeprecationTime"]),
                    _previous(before, ["DeprecationTime"]),
                )
            )
    previous_deprecation = _previous(before, ["DeprecationTime"]) if deprecation_changed else None
    changes.extend(_time_changes(record, revision, due & ~flags, previous_deprecation))
    remaining = [name for name in changed if name not in consumed]
    if remaining:
        discriminator = _values_digest({n: record.fields[n] for n in remaining})
        changes.append(
            _change(
                ChangeKind.UPDATED,
                record,
                "fields-changed",
                revision,
                discriminator,
                _previous(before, remaining),
            )
        )
    updated = StoredImage(record, revision, flags | due)
    fresh_entry = updated.entry(watch.ignore_fields)
    unchanged = not changes and updated.flags == known.flags and revision == known.revision
    if unchanged and known.projection < record.projection:
        # Stored under an older projection: fields it lacks are new to amiwatch, not changes.
        return ImageOutcome(record.image_id, (), fresh_entry, updated, REFRESHED)
    if unchanged:
        if fresh_entry == entry:
            return None
        # The record was persisted but its shard entry was not (a crash in between): repair it.
        return ImageOutcome(record.image_id, (), fresh_entry, None)
    return ImageOutcome(record.image_id, tuple(changes), fresh_entry, updated)


def _differing(watch: Watch, before: Mapping[str, Any], record: ImageRecord) -> list[str]:
    """Tracked fields whose value differs; a field the stored record lacks is not a change."""
    return [
        name
        for name in CANONICAL_FIELDS
        if name not in watch.ignore_fields
        and name in before
        and name in record.fields
        and before[name] != record.fields[name]
    ]


def _state_changes(
    record: ImageRecord, before: Mapping[str, Any], changed: list[str], revision: int
) -> tuple[list[Change], set[str]]:
    if "State" not in changed:
        return [], set()
    state = record.state
    if state in FAILED_STATES:
        kind = ChangeKind.FAILED
    elif state in STATE_KINDS:
        kind = STATE_KINDS[state]
    else:
        return [], set()  # e.g. back to pending: reported as `updated`
    fields = [f for f in STATE_FIELDS if f in changed]
    change = _change(kind, record, "state", revision, str(state), _previous(before, fields))
    return [change], set(fields)


def _time_changes(
    record: ImageRecord, revision: int, due: int, previous: Mapping[str, Any] | None
) -> list[Change]:
    deprecation = str(record.fields["DeprecationTime"])
    if due & DEPRECATED_REPORTED:
        reason = "deprecation-time-passed"
        return [_change(ChangeKind.DEPRECATED, record, reason, revision, deprecation, previous)]
    if due & IMMINENT_REPORTED:
        reason = "within-warning-window"
        return [_change(ChangeKind.DEPRECATION_IMMINENT, record, reason, revision, deprecation)]
    return []


def _deregistered_by_state(
    record: ImageRecord, entry: SnapshotEntry | None, stored: StoredImage | None
) -> ImageOutcome | None:
    known = _live(stored)
    if known is None:
        # Never reported, or already reported gone: just make sure the snapshot forgets it.
        return ImageOutcome(record.image_id, (), None, None) if entry else None
    revision = _last_revision(entry, stored) + 1
    previous = _previous(known.record.fields, [f for f in STATE_FIELDS if f in known.record.fields])
    change = _change(
        ChangeKind.DEREGISTERED, record, "state", revision, "state", previous, ("State",)
    )
    tombstone = StoredImage(record, revision, 0, tombstone=True)
    return ImageOutcome(record.image_id, (change,), None, tombstone)


def _vanished(
    watch: Watch,
    now: datetime,
    image_id: str,
    entry: SnapshotEntry | None,
    stored: StoredImage | None,
    found: ImageRecord | None,
    reselection: Reselection | None,
) -> ImageOutcome | None:
    known = _live(stored)
    if known is None and entry is None:
        return None
    if known is None and stored is not None:
        # Reported in an earlier run that crashed before forgetting it.
        return ImageOutcome(image_id, (), None, None)
    # A snapshot entry without a stored record should not exist; report what we know.
    last_record = known.record if known else _bare_record(image_id)
    revision = _last_revision(entry, stored) + 1
    if found is None or found.state == "deregistered":
        change = _change(ChangeKind.DEREGISTERED, last_record, "vanished", revision, "vanished")
        tombstone = StoredImage(last_record, revision, 0, tombstone=True)
        return ImageOutcome(image_id, (change,), None, tombstone)
    if reselection is not None:
        left = StoredImage(found, revision - 1, 0, tombstone=True)
        return ImageOutcome(image_id, (), None, left, LEFT_BY_EDIT)
    before = last_record.fields
    differing = _differing(watch, before, found)
    if not differing and not _excluded_now(watch, now, found):
        missed = entry or (known.entry(watch.ignore_fields) if known else None)
        if missed is not None and not missed.flags & MISSED_ONCE:
            # One omission may be EC2's eventual consistency: wait for a second complete scan.
            marked = replace(missed, flags=missed.flags | MISSED_ONCE)
            return ImageOutcome(image_id, (), marked, None, MISSED_ONCE_NOTE)
    change = _change(
        ChangeKind.LEFT_WATCH,
        found,
        "no-longer-matches",
        revision,
        "no-longer-matches",
        _previous(before, differing) or None,
    )
    return ImageOutcome(image_id, (change,), None, StoredImage(found, revision, 0, tombstone=True))


def _excluded_now(watch: Watch, now: datetime, found: ImageRecord) -> bool:
    """Does the watch's own include flag explain why the image is no longer listed?"""
    deprecation = found.deprecation_time
    deprecated = deprecation is not None and deprecation <= now
    return (deprecated and not watch.include_deprecated) or (
        found.state == "disabled" and not watch.include_disabled
    )


def _bare_record(image_id: str) -> ImageRecord:
    record = project_image({"ImageId": image_id})
    assert record is not None
    return record


def _change(
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


def _previous(before: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {name: before[name] for name in names}


def _values_digest(values: Mapping[str, Any]) -> str:
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()
