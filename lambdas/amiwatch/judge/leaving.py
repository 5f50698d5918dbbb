"""Judging an image missing from a complete scan: gone, hidden, or only out of the watch (pure).

The pipeline looked each one up by id first; see docs/design.md ("Vanished images") for the
rules. One that EC2 no longer shows at all is `deregistered` only when that is what EC2 reported
or the image is the target's own (an owner always sees its own images); another owner's image
may also have been disabled, unshared or made private (`unavailable`), or hidden by the target's
Allowed AMIs (`disallowed`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from amiwatch.judge.allowed import Visibility, is_allowed
from amiwatch.judge.outcomes import (
    LEFT_BY_EDIT,
    MISSED_ONCE_NOTE,
    ImageOutcome,
    Reselection,
    bare_record,
    differing_fields,
    last_revision,
    live,
    make_change,
    previous_values,
)
from amiwatch.model.contract import ChangeKind
from amiwatch.model.records import ImageRecord, record_from_fields
from amiwatch.model.snapshot import MISSED_ONCE, SnapshotEntry, StoredImage
from amiwatch.model.watches import Watch


def judge_vanished(
    watch: Watch,
    now: datetime,
    image_id: str,
    entry: SnapshotEntry | None,
    stored: StoredImage | None,
    found: ImageRecord | None,
    reselection: Reselection | None,
    visibility: Visibility,
) -> ImageOutcome | None:
    known = live(stored)
    if known is None and entry is None:
        return None
    if known is None and stored is not None:
        # Reported in an earlier run that crashed before forgetting it.
        return ImageOutcome(image_id, (), None, None)
    # A snapshot entry without a stored record should not exist; report what we know.
    last_record = known.record if known else bare_record(image_id)
    revision = last_revision(entry, stored) + 1
    if found is None or found.state == "deregistered":
        return _not_visible(now, image_id, last_record, revision, found, visibility)
    if reselection is not None:
        left = StoredImage(found, revision - 1, 0, tombstone=True)
        return ImageOutcome(image_id, (), None, left, LEFT_BY_EDIT)
    before = last_record.fields
    differing = differing_fields(watch, before, found)
    if not differing and not _excluded_now(watch, now, found):
        missed = entry or (known.entry(watch.ignore_fields) if known else None)
        if missed is not None and not missed.flags & MISSED_ONCE:
            # One omission may be EC2's eventual consistency: wait for a second complete scan.
            marked = replace(missed, flags=missed.flags | MISSED_ONCE)
            return ImageOutcome(image_id, (), marked, None, MISSED_ONCE_NOTE)
    change = make_change(
        ChangeKind.LEFT_WATCH,
        found,
        "no-longer-matches",
        revision,
        "no-longer-matches",
        previous_values(before, differing) or None,
    )
    return ImageOutcome(image_id, (change,), None, StoredImage(found, revision, 0, tombstone=True))


def _not_visible(
    now: datetime,
    image_id: str,
    last: ImageRecord,
    revision: int,
    found: ImageRecord | None,
    visibility: Visibility,
) -> ImageOutcome:
    """EC2 no longer shows the image to the target (the decision table in docs/events.md)."""
    own = last.fields.get("OwnerId") == visibility.account
    if found is not None or own:
        kind = ChangeKind.DEREGISTERED  # what EC2 said, or an image its owner can no longer see
    elif hidden_by_allowed_amis(last, visibility, now):
        record = with_allowed(last, allowed=False)
        previous = {"ImageAllowed": last.fields.get("ImageAllowed")}
        change = make_change(ChangeKind.DISALLOWED, record, "allowed-amis", revision,
                             "allowed-amis", previous)  # fmt: skip
        # Tombstoned as not allowed: allowed again, it is an `updated` (ImageAllowed), not new.
        return ImageOutcome(image_id, (change,), None,
                            StoredImage(record, revision, 0, tombstone=True))  # fmt: skip
    else:
        kind = ChangeKind.UNAVAILABLE
    change = make_change(kind, last, "vanished", revision, "vanished")
    return ImageOutcome(image_id, (change,), None, StoredImage(last, revision, 0, tombstone=True))


def hidden_by_allowed_amis(record: ImageRecord, visibility: Visibility, now: datetime) -> bool:
    """Do the target's enforced Allowed AMIs explain why it no longer sees this image?"""
    allowed = visibility.allowed
    if allowed is None or not allowed.enforced:
        return False
    return is_allowed(record, allowed.criteria, visibility.account, now) is False


def with_allowed(record: ImageRecord, *, allowed: bool) -> ImageRecord:
    """The record as EC2 would describe it now, ImageAllowed set."""
    return record_from_fields({**record.fields, "ImageAllowed": allowed}, record.projection)


def _excluded_now(watch: Watch, now: datetime, found: ImageRecord) -> bool:
    """Does the watch's own include flag explain why the image is no longer listed?"""
    deprecation = found.deprecation_time
    deprecated = deprecation is not None and deprecation <= now
    return (deprecated and not watch.include_deprecated) or (
        found.state == "disabled" and not watch.include_disabled
    )
