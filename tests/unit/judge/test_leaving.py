"""An image missing from a complete scan: gone, or only out of the watch? GIVEN / WHEN / THEN."""

from __future__ import annotations

from datetime import timedelta

from amiwatch.model.watch_config import parse_watch

from ..conftest import NOW, Harness, ids, kinds, record

AMI = "ami-0123456789abcdef0"
OTHER = "ami-0fedcba9876543210"
HOUR = timedelta(hours=1)
RETAGGED = [{"Key": "team", "Value": "data"}]


def baselined(harness: Harness) -> Harness:
    assert harness.run([record(AMI), record(OTHER)]) == []
    return harness


def edit_the_watch(harness: Harness) -> None:
    """Narrow the watch's selection (a new filter), as a user editing cdk.json would."""
    harness.watch = parse_watch(
        {"name": "golden", "owners": ["self"], "filters": {"tag:tier": ["gold"]}}
    )


def test_an_image_retagged_out_of_the_watch_left_it_at_once_and_says_why(harness):
    baselined(harness)

    changes = harness.run([record(OTHER)], NOW + HOUR, elsewhere=[record(AMI, Tags=RETAGGED)])

    [left] = changes
    assert left.kind.value == "left-watch"
    assert left.reason == "no-longer-matches"
    assert left.changed_fields == ("Tags",)
    assert left.previous == {"Tags": {"team": "platform"}}
    assert left.image.fields["Tags"] == {"team": "data"}  # the record now
    assert AMI not in harness.snapshot.entries


def test_an_unexplained_omission_waits_for_a_second_complete_scan(harness):
    baselined(harness)

    first = harness.run([record(OTHER)], NOW + HOUR, elsewhere=[record(AMI)])
    watched_after_one_miss = AMI in harness.snapshot.entries
    second = harness.run([record(OTHER)], NOW + 2 * HOUR, elsewhere=[record(AMI)])

    assert first == []
    assert watched_after_one_miss
    assert kinds(second) == ["left-watch"]
    assert second[0].changed_fields == () and second[0].previous is None


def test_a_one_off_omission_is_absorbed_and_forgotten(harness):
    baselined(harness)

    missed = harness.run([record(OTHER)], NOW + HOUR, elsewhere=[record(AMI)])
    back = harness.run([record(AMI), record(OTHER)], NOW + 2 * HOUR)
    missed_again = harness.run([record(OTHER)], NOW + 3 * HOUR, elsewhere=[record(AMI)])

    assert missed == [] and back == [] and missed_again == []  # one miss at a time, each absorbed
    assert AMI in harness.snapshot.entries


def test_an_image_that_is_not_visible_any_more_is_deregistered_at_once(harness):
    baselined(harness)

    changes = harness.run([record(OTHER)], NOW + HOUR)

    assert kinds(changes) == ["deregistered"]
    assert changes[0].reason == "vanished"


def test_an_image_found_deregistered_by_id_is_deregistered(harness):
    baselined(harness)

    changes = harness.run(
        [record(OTHER)], NOW + HOUR, elsewhere=[record(AMI, State="deregistered")]
    )

    assert kinds(changes) == ["deregistered"]


def test_excluded_by_the_watch_own_include_flag_is_explained():
    watch = parse_watch({"name": "golden", "owners": ["self"], "includeDeprecated": False})
    harness = baselined(Harness(watch))
    past = (NOW - HOUR).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    scheduled = record(AMI, DeprecationTime=(NOW + HOUR).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"))  # fmt: skip
    harness.run([scheduled, record(OTHER)], NOW)

    changes = harness.run(
        [record(OTHER)], NOW + 2 * HOUR,
        elsewhere=[record(AMI, DeprecationTime=past)],
    )  # fmt: skip

    assert kinds(changes) == ["left-watch"]


def test_an_image_that_matches_again_is_new_with_its_own_reason_and_id(harness):
    baselined(harness)
    left = harness.run([record(OTHER)], NOW + HOUR, elsewhere=[record(AMI, Tags=RETAGGED)])

    back = harness.run([record(AMI), record(OTHER)], NOW + 2 * HOUR)
    left_again = harness.run(
        [record(OTHER)], NOW + 3 * HOUR, elsewhere=[record(AMI, Tags=RETAGGED)]
    )

    assert kinds(back) == ["new"]
    assert back[0].reason == "matches-again"
    assert kinds(left_again) == ["left-watch"]
    assert ids(left_again) != ids(left)


def test_a_released_image_is_first_seen_not_matches_again(harness):
    baselined(harness)

    changes = harness.run([record(AMI), record(OTHER), record("ami-0aaaaaaaaaaaaaaaa")], NOW + HOUR)

    assert [c.reason for c in changes] == ["first-seen"]


def test_after_an_edit_images_that_left_or_entered_by_it_are_recorded_silently(harness):
    baselined(harness)
    edit_the_watch(harness)
    entering = record("ami-0aaaaaaaaaaaaaaaa", CreationDate="2026-10-01T00:00:00.000Z")

    changes = harness.run([record(OTHER), entering], NOW + HOUR, elsewhere=[record(AMI)])

    assert changes == []
    assert set(harness.snapshot.entries) == {OTHER, "ami-0aaaaaaaaaaaaaaaa"}
    assert harness.stored[AMI].tombstone


def test_after_an_edit_a_release_and_a_deregistration_are_still_news(harness):
    baselined(harness)  # at NOW: the previous run
    edit_the_watch(harness)
    released = record("ami-0aaaaaaaaaaaaaaaa", CreationDate="2026-11-27T13:30:00.000Z")

    changes = harness.run([released], NOW + HOUR, elsewhere=[record(AMI)])

    assert sorted(kinds(changes)) == ["deregistered", "new"]  # OTHER is gone; AMI left by edit
    assert {c.image.image_id for c in changes} == {OTHER, "ami-0aaaaaaaaaaaaaaaa"}
