"""Projection of DescribeImages data to the canonical record: tolerant of what AWS omits."""

from __future__ import annotations

from amiwatch.model.records import CANONICAL_FIELDS, MAX_STRING_CHARS, project_image

from ..conftest import describe_image


def test_projection_keeps_exactly_the_canonical_fields_with_tags_as_an_object():
    raw = describe_image(
        Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}],
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda"}],
        StateReason={"Code": "Server.InternalError", "Message": "boom"},
    )

    record = project_image(raw)

    assert record is not None
    assert tuple(record.fields) == CANONICAL_FIELDS
    assert record.fields["Tags"] == {"a": "1", "b": "2"}
    assert record.fields["StateReason"] == {"Code": "Server.InternalError", "Message": "boom"}
    assert "BlockDeviceMappings" not in record.fields


def test_missing_fields_become_null_and_missing_tags_an_empty_object():
    record = project_image({"ImageId": "ami-12345678"})

    assert record is not None
    assert record.name is None
    assert record.state is None
    assert record.fields["Tags"] == {}
    assert record.fields["StateReason"] is None


def test_an_image_without_image_id_is_not_projected():
    assert project_image({"Name": "no id"}) is None
    assert project_image({"ImageId": ""}) is None


def test_unknown_state_values_and_odd_types_are_kept_as_text():
    record = project_image(
        {"ImageId": "ami-12345678", "State": "quantum", "Tags": "not-a-list", "Public": "yes"}
    )

    assert record is not None
    assert record.state == "quantum"
    assert record.fields["Tags"] == {}
    assert record.fields["Public"] == "yes"


def test_a_huge_description_is_capped():
    record = project_image(describe_image(Description="x" * 1_000_000))

    assert record is not None
    assert len(record.fields["Description"]) == MAX_STRING_CHARS
    assert record.fields["Description"].endswith("...[truncated]")


def test_unreadable_deprecation_time_means_no_deprecation():
    record = project_image(describe_image(DeprecationTime="soon"))

    assert record is not None
    assert record.deprecation_time is None


def test_digest_ignores_ignored_fields_only():
    base = project_image(describe_image(LastLaunchedTime="2026-11-01T00:00:00Z"))
    launched = project_image(describe_image(LastLaunchedTime="2026-11-02T00:00:00Z"))
    renamed = project_image(describe_image(Name="other"))
    assert base and launched and renamed

    assert base.digest({"LastLaunchedTime"}) == launched.digest({"LastLaunchedTime"})
    assert base.digest(set()) != launched.digest(set())
    assert base.digest({"LastLaunchedTime"}) != renamed.digest({"LastLaunchedTime"})
