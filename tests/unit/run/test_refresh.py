"""A targeted refresh (AWS said these images changed) over the real pipeline: GIVEN/WHEN/THEN."""

from __future__ import annotations

from datetime import timedelta

from amiwatch.model.watch_config import parse_watch

from ..conftest import NOW, Harness, ids, kinds, record

AMI = "ami-0123456789abcdef0"
OTHER = "ami-0fedcba9876543210"
FRESH = "ami-0aaaabbbbccccdddd"
SOON = NOW + timedelta(seconds=20)
LATER = NOW + timedelta(hours=1)
DEPRECATED = "2026-11-27T13:00:00.000Z"


def baselined(harness: Harness, *records) -> Harness:
    assert harness.run(list(records)) == []
    return harness


def test_a_new_image_is_reported_in_seconds_and_the_scheduled_run_stays_silent(harness):
    baselined(harness, record(AMI))

    changes, result = harness.refresh([FRESH], [record(FRESH)], SOON)
    scheduled = harness.run([record(AMI), record(FRESH)], LATER)

    assert kinds(changes) == ["new"] and changes[0].image.image_id == FRESH
    assert result.status == "ok" and result.published == 1
    assert scheduled == []


def test_a_change_has_the_same_event_id_whichever_run_sees_it_first(watch):
    by_refresh, by_schedule = Harness(watch), Harness(watch)
    for harness in (by_refresh, by_schedule):
        baselined(harness, record(AMI), record(OTHER))
    deprecated = record(AMI, DeprecationTime=DEPRECATED)

    refreshed, _ = by_refresh.refresh([AMI], [deprecated], SOON)
    scheduled = by_schedule.run([deprecated, record(OTHER)], LATER)

    assert kinds(refreshed) == kinds(scheduled) == ["deprecated"]
    assert ids(refreshed) == ids(scheduled)


def test_only_the_named_images_are_looked_at(harness):
    baselined(harness, record(AMI), record(OTHER))

    # OTHER changed too, but no event named it: the refresh leaves it to the schedule.
    changes, result = harness.refresh(
        [AMI], [record(AMI, State="disabled"), record(OTHER, State="disabled")], SOON
    )
    scheduled = harness.run([record(AMI, State="disabled"), record(OTHER, State="disabled")], LATER)

    assert [c.image.image_id for c in changes] == [AMI]
    assert kinds(changes) == ["disabled"] and result.images == 1
    assert [c.image.image_id for c in scheduled] == [OTHER]


def test_a_known_image_that_is_gone_is_deregistered_and_one_retagged_away_left_the_watch(harness):
    baselined(harness, record(AMI), record(OTHER))
    retagged = record(OTHER, Tags=[{"Key": "team", "Value": "data"}])

    changes, result = harness.refresh([AMI, OTHER], [], SOON, elsewhere=[retagged])

    assert sorted((c.image.image_id, c.kind.value) for c in changes) == [
        (AMI, "deregistered"),
        (OTHER, "left-watch"),
    ]
    assert result.lookup_calls == 1
    assert harness.snapshot.entries == {}
    assert harness.run([], LATER) == []


def test_an_image_the_watch_never_had_and_does_not_match_is_ignored(harness):
    baselined(harness, record(AMI))

    changes, result = harness.refresh([FRESH], [], SOON, elsewhere=[record(FRESH)])

    assert changes == [] and result.status == "ok" and result.lookup_calls == 0
    assert FRESH not in harness.snapshot.entries


def test_before_the_baseline_a_refresh_reports_nothing_and_leaves_the_baseline_to_the_schedule(
    harness,
):
    changes, result = harness.refresh([AMI], [record(AMI)], SOON)

    assert changes == [] and result.status == "no-baseline"
    assert harness.run([record(AMI)], LATER) == []  # still the silent baseline


def test_after_an_edit_of_the_watch_the_refresh_waits_for_the_scheduled_run(harness):
    baselined(harness, record(AMI))
    harness.watch = parse_watch({"name": "golden", "owners": ["self"], "filters": {"tag:t": ["x"]}})

    changes, result = harness.refresh([FRESH], [record(FRESH)], SOON)

    assert changes == [] and result.status == "deferred"


def test_a_refresh_while_a_scheduled_run_holds_the_lease_is_locked_and_changes_nothing(harness):
    baselined(harness, record(AMI))
    harness.store.lease = "the-scheduled-run"

    changes, result = harness.refresh([AMI], [record(AMI, State="disabled")], SOON)

    assert changes == [] and result.status == "locked"
    assert harness.snapshot.entries[AMI] == baselined_entry(AMI)


def baselined_entry(image_id: str):
    reference = Harness(parse_watch({"name": "golden", "owners": ["self"]}))
    reference.run([record(image_id)])
    return reference.snapshot.entries[image_id]


def test_a_change_whose_publish_failed_is_not_remembered_and_comes_again_with_its_id(harness):
    baselined(harness, record(AMI))

    refused, result = harness.refresh([FRESH], [record(FRESH)], SOON, deliver=lambda c: False)
    scheduled = harness.run([record(AMI), record(FRESH)], LATER)

    assert result.status == "incomplete" and result.undelivered
    assert FRESH in [c.image.image_id for c in scheduled]
    assert ids(refused) == ids(scheduled)


def test_a_refresh_reads_and_writes_only_the_shards_of_its_images(harness):
    many = [record(f"ami-{n:017x}") for n in range(1, 9002)]
    baselined(harness, *many)
    shard_count = harness.store.shard_count
    before = dict(harness.store.shards)
    target = many[4321].image_id

    changes, _ = harness.refresh([target], [record(target, State="disabled")], SOON)

    assert kinds(changes) == ["disabled"]
    assert shard_count > 1 and len(harness.store.shards_read[-1]) == 1
    rewritten = [k for k, blob in harness.store.shards.items() if blob != before[k]]
    assert rewritten == harness.store.shards_read[-1]
    assert len(harness.snapshot.entries) == len(many)
