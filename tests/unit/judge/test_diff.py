"""The change table, row by row: GIVEN a snapshot, WHEN a scan arrives, THEN these changes."""

from __future__ import annotations

from datetime import timedelta

from amiwatch.judge.triage import needs_review
from amiwatch.model.watch_config import parse_watch

from ..conftest import NOW, Harness, ids, kinds, record

AMI = "ami-0123456789abcdef0"
OTHER = "ami-0fedcba9876543210"
LATER = NOW + timedelta(hours=1)


def baselined(harness: Harness, *records) -> Harness:
    assert harness.run(list(records)) == []  # silent baseline
    return harness


# --- baseline ---------------------------------------------------------------------------------


def test_silent_baseline_emits_nothing_and_remembers_every_image(harness):
    changes = harness.run([record(AMI), record(OTHER, State="failed")])

    assert changes == []
    assert set(harness.snapshot.entries) == {AMI, OTHER}


def test_events_baseline_reports_every_image_as_first_seen():
    harness = Harness(parse_watch({"name": "golden", "owners": ["self"], "baseline": "events"}))

    changes = harness.run(
        [record(AMI), record(OTHER, State="failed", StateReason={"Code": "Server.InternalError"})]
    )

    assert sorted(kinds(changes)) == ["failed", "new"]


def test_silent_baseline_does_not_report_an_already_deprecated_image_later(harness):
    baselined(harness, record(AMI, DeprecationTime="2026-01-01T00:00:00.000Z"))

    assert harness.run([record(AMI, DeprecationTime="2026-01-01T00:00:00.000Z")], LATER) == []


# --- new --------------------------------------------------------------------------------------


def test_new_image_after_baseline_is_reported_once(harness):
    baselined(harness, record(AMI))

    first = harness.run([record(AMI), record(OTHER)], LATER)
    again = harness.run([record(AMI), record(OTHER)], LATER + timedelta(hours=1))

    assert kinds(first) == ["new"]
    assert first[0].image.image_id == OTHER
    assert first[0].previous is None
    assert first[0].reason == "first-seen"
    assert again == []


def test_new_image_in_failed_state_is_reported_failed_not_new(harness):
    baselined(harness, record(AMI))
    reason = {"Code": "Client.InvalidSnapshot.NotFound", "Message": "snapshot gone"}

    changes = harness.run([record(AMI), record(OTHER, State="failed", StateReason=reason)])

    assert kinds(changes) == ["failed"]
    assert changes[0].image.fields["StateReason"] == reason


def test_new_image_already_deregistered_is_ignored(harness):
    baselined(harness, record(AMI))

    assert harness.run([record(AMI), record(OTHER, State="deregistered")]) == []
    assert OTHER not in harness.snapshot.entries


def test_new_image_already_past_its_deprecation_is_new_and_deprecated(harness):
    baselined(harness, record(AMI))

    changes = harness.run(
        [record(AMI), record(OTHER, DeprecationTime="2026-06-01T00:00:00.000Z")], LATER
    )

    assert kinds(changes) == ["new", "deprecated"]


# --- state changes ----------------------------------------------------------------------------


def test_pending_image_becoming_available_is_reported_available(harness):
    baselined(harness, record(AMI, State="pending"))

    changes = harness.run([record(AMI, State="available")], LATER)

    assert kinds(changes) == ["available"]
    assert changes[0].previous == {"State": "pending"}
    assert changes[0].changed_fields == ("State",)


def test_disabled_image_enabled_again_is_reported_available(harness):
    baselined(harness, record(AMI, State="disabled"))

    assert kinds(harness.run([record(AMI, State="available")], LATER)) == ["available"]


def test_image_entering_failed_carries_its_state_reason(harness):
    baselined(harness, record(AMI, State="pending"))
    reason = {"Code": "Server.InternalError", "Message": "internal error"}

    changes = harness.run([record(AMI, State="failed", StateReason=reason)], LATER)

    assert kinds(changes) == ["failed"]
    assert changes[0].image.fields["StateReason"] == reason
    assert changes[0].previous == {"State": "pending", "StateReason": None}


def test_failed_then_error_is_a_second_distinct_failure(harness):
    baselined(harness, record(AMI, State="pending"))

    failed = harness.run([record(AMI, State="failed")], LATER)
    error = harness.run([record(AMI, State="error")], LATER + timedelta(hours=1))

    assert kinds(failed) == kinds(error) == ["failed"]
    assert ids(failed) != ids(error)


def test_available_image_disabled_is_reported_disabled(harness):
    baselined(harness, record(AMI))

    changes = harness.run([record(AMI, State="disabled")], LATER)

    assert kinds(changes) == ["disabled"]
    assert changes[0].previous == {"State": "available"}


def test_disabled_again_after_reenable_gets_a_new_event_id(harness):
    baselined(harness, record(AMI))

    first = harness.run([record(AMI, State="disabled")], LATER)
    harness.run([record(AMI, State="available")], LATER + timedelta(hours=1))
    second = harness.run([record(AMI, State="disabled")], LATER + timedelta(hours=2))

    assert kinds(first) == kinds(second) == ["disabled"]
    assert ids(first) != ids(second)


def test_state_back_to_pending_is_an_update(harness):
    baselined(harness, record(AMI))

    changes = harness.run([record(AMI, State="pending")], LATER)

    assert kinds(changes) == ["updated"]
    assert changes[0].changed_fields == ("State",)


# --- deregistered -----------------------------------------------------------------------------


def test_image_in_deregistered_state_is_reported_then_forgotten(harness):
    baselined(harness, record(AMI))

    changes = harness.run([record(AMI, State="deregistered")], LATER)
    lingering = harness.run([record(AMI, State="deregistered")], LATER + timedelta(hours=1))

    assert kinds(changes) == ["deregistered"]
    assert changes[0].reason == "state"
    assert AMI not in harness.snapshot.entries
    assert lingering == []


def test_image_missing_from_the_scan_is_reported_vanished_with_its_last_record(harness):
    baselined(harness, record(AMI, Name="golden-42"), record(OTHER))

    changes = harness.run([record(OTHER)], LATER)

    assert kinds(changes) == ["deregistered"]
    assert changes[0].reason == "vanished"
    assert changes[0].image.name == "golden-42"
    assert AMI not in harness.snapshot.entries
    assert harness.run([record(OTHER)], LATER + timedelta(hours=1)) == []


def test_image_that_vanishes_and_reappears_is_new_again_with_a_new_event_id(harness):
    baselined(harness, record(OTHER))
    first = harness.run([record(OTHER), record(AMI)], LATER)

    gone = harness.run([record(OTHER)], LATER + timedelta(hours=1))
    back = harness.run([record(OTHER), record(AMI)], LATER + timedelta(hours=2))

    assert kinds(first) == ["new"]
    assert kinds(gone) == ["deregistered"]
    assert kinds(back) == ["new"]
    assert ids(back) != ids(first)


# --- deprecation ------------------------------------------------------------------------------


def test_deprecation_time_passing_is_reported_deprecated_once(harness):
    deprecation = (NOW + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    baselined(harness, record(AMI, DeprecationTime=deprecation))

    before = harness.run([record(AMI, DeprecationTime=deprecation)], NOW + timedelta(days=10))
    passed = harness.run([record(AMI, DeprecationTime=deprecation)], NOW + timedelta(days=31))
    after = harness.run([record(AMI, DeprecationTime=deprecation)], NOW + timedelta(days=32))

    assert before == []
    assert kinds(passed) == ["deprecated"]
    assert passed[0].reason == "deprecation-time-passed"
    assert after == []


def test_deprecation_set_to_a_future_time_is_scheduled(harness):
    baselined(harness, record(AMI))
    future = "2027-06-01T00:00:00.000Z"

    changes = harness.run([record(AMI, DeprecationTime=future)], LATER)

    assert kinds(changes) == ["deprecation-scheduled"]
    assert changes[0].reason == "deprecation-time-set"
    assert changes[0].previous == {"DeprecationTime": None}


def test_deprecation_moved_to_another_future_time_is_scheduled_again(harness):
    baselined(harness, record(AMI, DeprecationTime="2027-06-01T00:00:00.000Z"))

    changes = harness.run([record(AMI, DeprecationTime="2027-09-01T00:00:00.000Z")], LATER)

    assert kinds(changes) == ["deprecation-scheduled"]
    assert changes[0].reason == "deprecation-time-changed"


def test_deprecation_moved_into_the_past_is_deprecated_with_the_old_time(harness):
    baselined(harness, record(AMI, DeprecationTime="2027-06-01T00:00:00.000Z"))

    changes = harness.run([record(AMI, DeprecationTime="2026-11-01T00:00:00.000Z")], LATER)

    assert kinds(changes) == ["deprecated"]
    assert changes[0].previous == {"DeprecationTime": "2027-06-01T00:00:00.000Z"}


def test_deprecation_cancelled_is_an_update(harness):
    baselined(harness, record(AMI, DeprecationTime="2027-06-01T00:00:00.000Z"))

    changes = harness.run([record(AMI, DeprecationTime=None)], LATER)

    assert kinds(changes) == ["updated"]
    assert changes[0].changed_fields == ("DeprecationTime",)


def test_deprecation_imminent_fires_once_inside_the_warning_window(harness):
    deprecation = "2026-12-31T00:00:00.000Z"  # 34 days after NOW; the window is 14 days
    baselined(harness, record(AMI, DeprecationTime=deprecation))

    outside = harness.run([record(AMI, DeprecationTime=deprecation)], NOW + timedelta(days=19))
    inside = harness.run([record(AMI, DeprecationTime=deprecation)], NOW + timedelta(days=21))
    again = harness.run([record(AMI, DeprecationTime=deprecation)], NOW + timedelta(days=22))

    assert outside == []
    assert kinds(inside) == ["deprecation-imminent"]
    assert again == []


def test_deprecation_imminent_fires_again_for_a_new_deprecation_time(harness):
    baselined(harness, record(AMI, DeprecationTime="2026-12-31T00:00:00.000Z"))
    warned_at = NOW + timedelta(days=21)
    first = harness.run([record(AMI, DeprecationTime="2026-12-31T00:00:00.000Z")], warned_at)

    moved = harness.run([record(AMI, DeprecationTime="2026-12-30T00:00:00.000Z")], warned_at)

    assert kinds(first) == ["deprecation-imminent"]
    assert kinds(moved) == ["deprecation-scheduled", "deprecation-imminent"]
    assert ids(moved)[1] != ids(first)[0]


def test_deprecation_imminent_is_off_without_warning_days():
    harness = Harness(parse_watch({"name": "golden", "owners": ["self"]}))
    baselined(harness, record(AMI, DeprecationTime="2026-12-01T00:00:00.000Z"))

    assert harness.run([record(AMI, DeprecationTime="2026-12-01T00:00:00.000Z")], LATER) == []


# --- updated ----------------------------------------------------------------------------------


def test_changed_tags_are_an_update_with_previous_values(harness):
    baselined(harness, record(AMI))

    changes = harness.run([record(AMI, Tags=[{"Key": "team", "Value": "security"}])], LATER)

    assert kinds(changes) == ["updated"]
    assert changes[0].changed_fields == ("Tags",)
    assert changes[0].previous == {"Tags": {"team": "platform"}}
    assert changes[0].image.fields["Tags"] == {"team": "security"}


def test_image_made_public_is_an_update_of_public(harness):
    baselined(harness, record(AMI))

    changes = harness.run([record(AMI, Public=True)], LATER)

    assert kinds(changes) == ["updated"]
    assert changes[0].previous == {"Public": False}


def test_ignored_fields_change_nothing_and_need_no_review(harness, watch):
    baselined(harness, record(AMI, LastLaunchedTime="2026-11-01T00:00:00Z"))
    launched = record(AMI, LastLaunchedTime="2026-11-27T12:00:00Z")

    assert not needs_review(watch, harness.snapshot.entries[AMI], launched, LATER)
    assert harness.run([launched], LATER) == []


def test_state_change_and_field_change_in_one_run_are_two_changes(harness):
    baselined(harness, record(AMI, State="pending"))

    changes = harness.run([record(AMI, State="available", Description="v2")], LATER)

    assert kinds(changes) == ["available", "updated"]
    assert changes[1].changed_fields == ("Description",)


def test_unchanged_image_needs_no_review(harness, watch):
    baselined(harness, record(AMI))

    assert not needs_review(watch, harness.snapshot.entries[AMI], record(AMI), LATER)
    assert harness.run([record(AMI)], LATER) == []


# --- delivery and crashes ---------------------------------------------------------------------


def test_undelivered_change_is_found_again_with_the_same_event_id(harness):
    baselined(harness, record(AMI))

    lost = harness.run([record(AMI, State="disabled")], LATER, deliver=lambda c: False)
    retried = harness.run([record(AMI, State="disabled")], LATER + timedelta(hours=1))
    done = harness.run([record(AMI, State="disabled")], LATER + timedelta(hours=2))

    assert kinds(lost) == kinds(retried) == ["disabled"]
    assert ids(lost) == ids(retried)
    assert done == []


def test_partly_delivered_image_resends_all_its_changes_with_the_same_ids(harness):
    baselined(harness, record(AMI, State="pending"))
    scan = [record(AMI, State="available", Description="v2")]

    first = harness.run(scan, LATER, deliver=lambda c: c.kind.value == "available")
    second = harness.run(scan, LATER + timedelta(hours=1))

    assert ids(second) == ids(first)


def test_crash_between_record_and_shard_write_repeats_nothing(harness):
    baselined(harness, record(AMI))

    reported = harness.run([record(AMI, Public=True)], LATER, persist_shards=False)
    repaired = harness.run([record(AMI, Public=True)], LATER + timedelta(hours=1))
    quiet = harness.run([record(AMI, Public=True)], LATER + timedelta(hours=2))

    assert kinds(reported) == ["updated"]
    assert repaired == []
    assert quiet == []


def test_vanished_after_crash_before_forgetting_is_not_reported_twice(harness):
    baselined(harness, record(AMI), record(OTHER))

    first = harness.run([record(OTHER)], LATER, persist_shards=False)
    second = harness.run([record(OTHER)], LATER + timedelta(hours=1))

    assert kinds(first) == ["deregistered"]
    assert second == []
    assert AMI not in harness.snapshot.entries


def test_event_ids_are_deterministic_for_the_same_situation(watch):
    one, two = Harness(watch), Harness(watch)
    for h in (one, two):
        baselined(h, record(AMI))

    assert ids(one.run([record(AMI, State="disabled")], LATER)) == ids(
        two.run([record(AMI, State="disabled")], LATER + timedelta(minutes=5))
    )
