"""Decide what changed. Pure: plain data in, plain data out; `now` is an argument.

The pipeline triages every scanned image (`triage`: one digest compare) and calls `diff` only for
the few that may have changed, with their stored records loaded. Images missing from a complete
scan are judged by `leaving`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from amiwatch.judge.allowed import Visibility
from amiwatch.judge.findings import vulnerable_change
from amiwatch.judge.leaving import judge_vanished
from amiwatch.judge.outcomes import (
    ALLOWED,
    ALLOWED_MARKED,
    ENTERED_BY_EDIT,
    REFRESHED,
    ImageOutcome,
    Reselection,
    differing_fields,
    last_revision,
    live,
    make_change,
    previous_values,
    values_digest,
)
from amiwatch.judge.triage import due_flags
from amiwatch.model.contract import Change, ChangeKind
from amiwatch.model.records import FAILED_STATES, ImageRecord, parse_time
from amiwatch.model.snapshot import (
    DEPRECATED_REPORTED,
    IMMINENT_REPORTED,
    SnapshotEntry,
    StoredImage,
)
from amiwatch.model.watches import Watch

STATE_KINDS = {"available": ChangeKind.AVAILABLE, "disabled": ChangeKind.DISABLED}

STATE_FIELDS = ("State", "StateReason")
SCANS = "ScanResults"


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
    visibility: Visibility | None = None,
) -> list[ImageOutcome]:
    """Judge every image that needs review and every image that vanished from the scan.

    `snapshot`: the entries last persisted; `to_review`: scanned records that `needs_review`
    flagged; `vanished`: snapshot ids absent from a complete scan, each with what a lookup by id
    found (the record now, or None when the image is no longer visible); `stored`: the stored
    records of those ids (missing ids have none). `baseline` is the watch's first run;
    `reselection` is set when the watch's selection was edited since the snapshot.
    `visibility`: the target's account and (when needed) its Allowed AMIs settings.
    """
    visibility = visibility or Visibility(account="")
    silent = baseline and watch.baseline == "silent"
    outcomes = []
    for image_id, record in to_review.items():
        known = None if baseline else stored.get(image_id)
        quiet = silent or _entered_by_edit(record, reselection)
        outcome = _review(watch, now, record, snapshot.get(image_id), known, silent=quiet)
        if outcome is not None:
            if quiet and not silent and outcome.stored is not None and live(known) is None:
                outcome = replace(outcome, note=ENTERED_BY_EDIT)
            outcomes.append(outcome)
    for image_id, found in vanished.items():
        outcome = judge_vanished(watch, now, image_id, snapshot.get(image_id),
                                 stored.get(image_id), found, reselection, visibility)  # fmt: skip
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _entered_by_edit(record: ImageRecord, reselection: Reselection | None) -> bool:
    if reselection is None:
        return False
    created = parse_time(record.fields.get("CreationDate"))
    return reselection.since is None or created is None or created <= reselection.since


def _review(
    watch: Watch,
    now: datetime,
    record: ImageRecord,
    entry: SnapshotEntry | None,
    stored: StoredImage | None,
    *,
    silent: bool,
) -> ImageOutcome | None:
    known = live(stored) or _hidden_by_allowed_amis(stored)
    if record.state == "deregistered":
        return _deregistered_by_state(record, entry, stored)
    if known is None:
        revision = last_revision(entry, stored) + 1
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
            changes.append(make_change(ChangeKind.FAILED, record, "state", revision, record.state))
        else:
            reason = "matches-again" if again else "first-seen"
            changes.append(make_change(ChangeKind.NEW, record, reason, revision, ""))
        changes.extend(_time_changes(record, revision, flags, None))
        vulnerable = vulnerable_change(watch, record, None, revision)
        changes.extend([vulnerable] if vulnerable else [])
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
    changed = differing_fields(watch, before, record)
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
                make_change(
                    ChangeKind.DEPRECATION_SCHEDULED,
                    record,
                    reason,
                    revision,
                    str(record.fields["DeprecationTime"]),
                    previous_values(before, ["DeprecationTime"]),
                )
            )
    previous_deprecation = (
        previous_values(before, ["DeprecationTime"]) if deprecation_changed else None
    )
    changes.extend(_time_changes(record, revision, due & ~flags, previous_deprecation))
    vulnerable = vulnerable_change(watch, record, before, revision) if SCANS in changed else None
    if vulnerable is not None:
        changes.append(vulnerable)
        consumed.add(SCANS)
    remaining = [name for name in changed if name not in consumed]
    if remaining:
        discriminator = values_digest({n: record.fields[n] for n in remaining})
        changes.append(
            make_change(
                ChangeKind.UPDATED,
                record,
                "fields-changed",
                revision,
                discriminator,
                previous_values(before, remaining),
            )
        )
    updated = StoredImage(record, revision, flags | due)
    fresh_entry = updated.entry(watch.ignore_fields)
    unchanged = not changes and updated.flags == known.flags and revision == known.revision
    if unchanged and known.projection < record.projection:
        # Stored under an older projection: fields it lacks are new to amiwatch, not changes.
        return ImageOutcome(record.image_id, (), fresh_entry, updated, REFRESHED)
    if unchanged and known.record.fields.get(ALLOWED) != record.fields.get(ALLOWED):
        # Allowed AMIs turned on or off: ImageAllowed appeared as true, or went away. Not news.
        return ImageOutcome(record.image_id, (), fresh_entry, updated, ALLOWED_MARKED)
    if unchanged:
        if fresh_entry == entry:
            return None
        # The record was persisted but its shard entry was not (a crash in between): repair it.
        return ImageOutcome(record.image_id, (), fresh_entry, None)
    return ImageOutcome(record.image_id, tuple(changes), fresh_entry, updated)


def _state_changes(
    record: ImageRecord, before: Mapping[str, Any], changed: list[str], revision: int
) -> tuple[list[Change], set[str]]:
    if "State" not in changed:
        return _audit_changes(record, before, changed, revision)
    state = record.state
    if state in FAILED_STATES:
        kind = ChangeKind.FAILED
    elif state in STATE_KINDS:
        kind = STATE_KINDS[state]
    else:
        return [], set()  # e.g. back to pending: reported as `updated`
    # DisableImage removes every launch permission: a public image becomes private with it.
    explained = (*STATE_FIELDS, "Public") if kind == ChangeKind.DISABLED else STATE_FIELDS
    fields = [f for f in explained if f in changed]
    change = make_change(
        kind, record, "state", revision, str(state), previous_values(before, fields)
    )
    audit, consumed = _audit_changes(record, before, changed, revision)
    return [change, *audit], set(fields) | consumed


def _audit_changes(
    record: ImageRecord, before: Mapping[str, Any], changed: list[str], revision: int
) -> tuple[list[Change], set[str]]:
    """Allowed AMIs in audit mode: ImageAllowed false means launches will be refused once the
    criteria are enforced (`disallowed`); back to true is an ordinary `updated`."""
    if ALLOWED not in changed or record.fields.get(ALLOWED) is not False:
        return [], set()
    change = make_change(ChangeKind.DISALLOWED, record, "allowed-amis", revision,
                         "allowed-amis", previous_values(before, [ALLOWED]))  # fmt: skip
    return [change], {ALLOWED}


def _hidden_by_allowed_amis(stored: StoredImage | None) -> StoredImage | None:
    """A tombstone of an image the target's Allowed AMIs hid: it is still known (compared field
    by field when it is listed again), not a stranger."""
    if stored is not None and stored.tombstone and stored.record.fields.get(ALLOWED) is False:
        return stored
    return None


def _time_changes(
    record: ImageRecord, revision: int, due: int, previous: Mapping[str, Any] | None
) -> list[Change]:
    deprecation = str(record.fields["DeprecationTime"])
    if due & DEPRECATED_REPORTED:
        reason = "deprecation-time-passed"
        return [make_change(ChangeKind.DEPRECATED, record, reason, revision, deprecation, previous)]
    if due & IMMINENT_REPORTED:
        reason = "within-warning-window"
        return [make_change(ChangeKind.DEPRECATION_IMMINENT, record, reason, revision, deprecation)]
    return []


def _deregistered_by_state(
    record: ImageRecord, entry: SnapshotEntry | None, stored: StoredImage | None
) -> ImageOutcome | None:
    known = live(stored)
    if known is None:
        # Never reported, or already reported gone: just make sure the snapshot forgets it.
        return ImageOutcome(record.image_id, (), None, None) if entry else None
    revision = last_revision(entry, stored) + 1
    previous = previous_values(
        known.record.fields, [f for f in STATE_FIELDS if f in known.record.fields]
    )
    change = make_change(
        ChangeKind.DEREGISTERED, record, "state", revision, "state", previous, ("State",)
    )
    tombstone = StoredImage(record, revision, 0, tombstone=True)
    return ImageOutcome(record.image_id, (change,), None, tombstone)
