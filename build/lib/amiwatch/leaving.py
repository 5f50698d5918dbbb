"""Judging an image missing from a complete scan: gone, or only out of the watch (pure).

The pipeline looked each one up by id first; see docs/design.md ("Vanished images") for the rules.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from amiwatch.contract import ChangeKind
from amiwatch.outcomes import (
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
from amiwatch.records import ImageRecord
from amiwatch.snapshot import MISSED_ONCE, SnapshotEntry, StoredImage
from amiwatch.watches import Watch


def judge_vanished(
    watch: Watch,
    now: datetime,
    image_id: str,
    entry: SnapshotEntry | None,
    stored: StoredImage | None,
    found: ImageRecord | None,
    reselection: Reselection | None,
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
        change = make_change(ChangeKind.DEREGISTERED, last_record, "vanished", revision, "vanished")
        tombstone = StoredImage(last_record, revision, 0, tombstone=True)
        return ImageOutcome(image_id, (change,), None, tombstone)
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


def _excluded_now(watch: Watch, now: datetime, found: ImageRecord) -> bool:
    """Does the watch's own include flag explain why the image is no longer listed?"""
    deprecation = found.deprecation_time
    deprecated = deprecation is not None and deprecation <= now
    return (deprecated and not watch.include_deprecated) or (
        found.state == "disabled" and not watch.include_disabled
    )
