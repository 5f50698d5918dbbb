"""When EC2 stops showing an image: deregistered, unavailable or disallowed (the decision table
in docs/events.md), and Allowed AMIs in audit mode. The real pipeline over in-memory ports."""

from __future__ import annotations

from datetime import timedelta

import pytest

from amiwatch.judge.allowed import AllowedImages, settings_from

from ..conftest import NOW, TARGET, Harness, kinds, record

LATER, LATEST = NOW + timedelta(hours=1), NOW + timedelta(hours=2)
VENDOR = {"OwnerId": "137112412989", "ImageOwnerAlias": "amazon"}
MARKETPLACE = {"OwnerId": "679593333241", "ImageOwnerAlias": "aws-marketplace"}
OWN = {"OwnerId": TARGET.account}
# Enforced criteria that admit Amazon's (and verified providers') images only.
AMAZON_ONLY = settings_from({"State": "enabled",
                             "ImageCriteria": [{"ImageProviders": ["amazon"]}]})  # fmt: skip


@pytest.fixture
def two_vendors(harness: Harness):
    images = [
        record("ami-0000000000000000a", **VENDOR),
        record("ami-0000000000000000b", **MARKETPLACE),
    ]
    harness.run(images)
    return images


def test_another_owners_image_that_vanished_is_unavailable_not_deregistered(harness, two_vendors):
    vendor, _ = two_vendors

    changes = harness.run([vendor], LATER)
    again = harness.run([vendor], LATEST)

    assert kinds(changes) == ["unavailable"]
    assert changes[0].reason == "vanished"
    assert again == []
    assert harness.last_result is not None


def test_the_targets_own_image_that_vanished_is_deregistered(harness):
    own = record("ami-0000000000000000c", **OWN)
    harness.run([own])

    assert kinds(harness.run([], LATER)) == ["deregistered"]


def test_an_image_ec2_reports_deregistered_is_deregistered_whoever_owns_it(harness, two_vendors):
    vendor, marketplace = two_vendors
    gone = record(marketplace.image_id, **MARKETPLACE, State="deregistered")

    assert kinds(harness.run([vendor], LATER, elsewhere=[gone])) == ["deregistered"]


def test_enforced_allowed_amis_that_exclude_an_image_make_it_disallowed(harness, two_vendors):
    vendor, marketplace = two_vendors

    [change] = harness.run([vendor], LATER, allowed=AMAZON_ONLY)
    result, images = harness.last_result, harness.last_images

    assert change.kind.value == "disallowed" and change.reason == "allowed-amis"
    assert change.image.image_id == marketplace.image_id
    assert change.image.fields["ImageAllowed"] is False
    assert change.previous == {"ImageAllowed": None}
    assert images is not None and images.allowed_calls == 1
    assert result is not None
    assert result.summary()["allowedImages"] == {"state": "enabled", "managedBy": None,
                                                 "error": None}  # fmt: skip
    assert harness.run([vendor], LATEST, allowed=AMAZON_ONLY) == []


def test_an_image_allowed_again_is_one_updated_never_new(harness, two_vendors):
    vendor, marketplace = two_vendors
    harness.run([vendor], LATER, allowed=AMAZON_ONLY)
    back = record(marketplace.image_id, **MARKETPLACE, ImageAllowed=True)

    [change] = harness.run([vendor, back], LATEST)

    assert change.kind.value == "updated"
    assert change.changed_fields == ("ImageAllowed",)
    assert change.previous == {"ImageAllowed": False}
    assert harness.run([vendor, back], LATEST + timedelta(hours=1)) == []


def test_criteria_that_cannot_be_read_leave_unavailable_and_say_why(harness, two_vendors):
    vendor, _ = two_vendors
    denied = AllowedImages(None, error="UnauthorizedOperation: You are not authorized")

    changes = harness.run([vendor], LATER, allowed=denied)

    assert kinds(changes) == ["unavailable"]
    assert harness.last_result is not None
    assert harness.last_result.summary()["allowedImages"]["error"].startswith("Unauthorized")


def test_criteria_the_record_cannot_answer_leave_unavailable(harness, two_vendors):
    vendor, _ = two_vendors
    watermarks = settings_from({"State": "enabled", "ImageCriteria": [
        {"ImageWatermarks": [{"WatermarkKey": "golden"}]}]})  # fmt: skip

    assert kinds(harness.run([vendor], LATER, allowed=watermarks)) == ["unavailable"]


def test_the_settings_are_read_once_a_run_and_only_when_an_image_is_no_longer_visible(harness):
    images = [record(f"ami-00000000000000{n:03d}", **VENDOR) for n in range(5)]
    harness.run(images)

    harness.run(images, LATER, allowed=AMAZON_ONLY)
    quiet = harness.last_images
    harness.run(images[:2], LATEST, allowed=AMAZON_ONLY)
    busy = harness.last_images

    assert quiet is not None and quiet.allowed_calls == 0
    assert busy is not None and busy.allowed_calls == 1


def test_audit_mode_reports_an_image_that_will_be_refused_as_disallowed(harness):
    image = record("ami-0000000000000000d", **MARKETPLACE, ImageAllowed=True)
    harness.run([image])
    refused = record(image.image_id, **MARKETPLACE, ImageAllowed=False)

    [change] = harness.run([refused], LATER)
    allowed_again = harness.run([image], LATEST)

    assert change.kind.value == "disallowed" and change.reason == "allowed-amis"
    assert change.changed_fields == ("ImageAllowed",)
    assert change.previous == {"ImageAllowed": True}
    assert kinds(allowed_again) == ["updated"]
    assert allowed_again[0].changed_fields == ("ImageAllowed",)


def test_turning_allowed_amis_on_marks_images_allowed_without_news(harness):
    images = [record(f"ami-00000000000000{n:03d}", **VENDOR) for n in range(3)]
    harness.run(images)
    marked = [record(i.image_id, **VENDOR, ImageAllowed=True) for i in images]

    on = harness.run(marked, LATER)
    after = harness.run(marked, LATEST)
    off = harness.run(images, LATEST + timedelta(hours=1))

    assert on == [] and after == [] and off == []
    assert harness.stored[images[0].image_id].record.fields["ImageAllowed"] is None


def test_a_public_image_of_your_own_disabled_is_one_disabled_event(harness):
    public = record("ami-0000000000000000e", **OWN, Public=True)
    harness.run([public])
    disabled = record(public.image_id, **OWN, Public=False, State="disabled")

    [change] = harness.run([disabled], LATER)

    assert change.kind.value == "disabled"
    assert set(change.changed_fields) == {"State", "Public"}
    assert change.previous is not None and change.previous["Public"] is True
