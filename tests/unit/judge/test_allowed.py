"""Allowed AMIs criteria, evaluated as the EC2 User Guide describes them ("How Allowed AMIs
works"): any value within a parameter, all parameters of a criterion, any criterion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from amiwatch.judge.allowed import allowed_until, is_allowed, settings_from
from amiwatch.model.records import record_from_fields

from ..conftest import record

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
CANONICAL = "099720109477"  # a verified provider: its images carry the owner alias "amazon"


MEDIUM = {"HighestFindingSeverityLabel": "medium", "FindingScanDate": "2026-11-30T00:00:00Z",
          "MediumFixAvailableSince": "2026-11-21T12:00:00Z"}  # fmt: skip
CLEAN = {"HighestFindingSeverityLabel": None, "FindingScanDate": "2026-11-30T00:00:00Z"}


def image(**fields):
    defaults = {"OwnerId": CANONICAL, "ImageOwnerAlias": "amazon", "Name": "ubuntu-24.04-amd64",
                "CreationDate": "2026-11-01T00:00:00.000Z"}  # fmt: skip
    return record(**{**defaults, **fields})


def product(code: str) -> dict[str, str]:
    return {"ProductCodeId": code, "ProductCodeType": "marketplace"}


def criteria(*criterion):
    return settings_from({"State": "enabled", "ImageCriteria": list(criterion)}).criteria


# The User Guide's ImageCriteria example: four criteria, any of which admits an image.
GUIDE_EXAMPLE = criteria(
    {"MarketplaceProductCodes": ["abcdefg1234567890"]},
    {"ImageProviders": ["123456789012", "123456789013"],
     "CreationDateCondition": {"MaximumDaysSinceCreated": 300}},
    {"ImageProviders": ["123456789014"], "ImageNames": ["golden-ami-*"]},
    {"ImageProviders": ["amazon"], "DeprecationTimeCondition": {"MaximumDaysSinceDeprecated": 0}},
)  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "allowed"),
    [
        # Criterion 1: the Marketplace product code, whoever owns the image.
        ({"OwnerId": "999999999999", "ImageOwnerAlias": "aws-marketplace",
          "ProductCodes": [product("abcdefg1234567890")]}, True),
        ({"OwnerId": "999999999999", "ImageOwnerAlias": "aws-marketplace",
          "ProductCodes": [product("other")]}, False),
        # Criterion 2: one of two accounts AND created within 300 days.
        ({"OwnerId": "123456789013", "ImageOwnerAlias": None,
          "CreationDate": "2026-03-01T00:00:00.000Z"}, True),
        ({"OwnerId": "123456789013", "ImageOwnerAlias": None,
          "CreationDate": "2025-01-01T00:00:00.000Z"}, False),
        # Criterion 3: account 123456789014 AND a name like golden-ami-*.
        ({"OwnerId": "123456789014", "ImageOwnerAlias": None, "Name": "golden-ami-2026"}, True),
        ({"OwnerId": "123456789014", "ImageOwnerAlias": None, "Name": "silver-ami-2026"}, False),
        # Criterion 4: Amazon or a verified provider AND not deprecated.
        ({}, True),
        ({"DeprecationTime": "2027-01-01T00:00:00.000Z"}, True),  # deprecated later: not yet
        ({"DeprecationTime": "2026-11-30T00:00:00.000Z"}, False),
        # Not one of them.
        ({"OwnerId": "444455556666", "ImageOwnerAlias": None}, False),
        # The account's own images are never restricted.
        ({"OwnerId": ACCOUNT, "ImageOwnerAlias": None, "Name": "anything"}, True),
    ],
)  # fmt: skip
def test_the_user_guides_example_criteria(fields, allowed):
    assert is_allowed(image(**fields), GUIDE_EXAMPLE, ACCOUNT, NOW) is allowed


@pytest.mark.parametrize(
    ("criterion", "fields", "allowed"),
    [
        ({"ImageNames": ["ubuntu-??.04-*"]}, {}, True),
        ({"ImageNames": ["ubuntu-?.04-*"]}, {}, False),  # ? is exactly one character
        ({"ImageNames": ["Ubuntu-*"]}, {}, False),  # names match case-sensitively
        ({"ImageNames": ["[x]-image"]}, {"Name": "[x]-image"}, True),  # brackets are literal
        ({"ImageNames": ["[x]-image"]}, {"Name": "x-image"}, False),
        ({"ImageProviders": ["aws-backup-vault"]}, {"ImageOwnerAlias": "aws-backup-vault"}, True),
        ({"ImageProviders": ["aws-marketplace"]}, {}, False),  # amazon's alias is not it
        ({"ImageProviders": ["none"]}, {}, False),  # only the account's own
        ({"ImageProviders": [CANONICAL]}, {}, True),
        ({"CreationDateCondition": {"MaximumDaysSinceCreated": 31}}, {}, True),  # 30.5 days ago
        ({"CreationDateCondition": {"MaximumDaysSinceCreated": 30}}, {}, False),
        ({"DeprecationTimeCondition": {"MaximumDaysSinceDeprecated": 7}},
         {"DeprecationTime": "2026-11-25T00:00:00.000Z"}, True),
        ({"DeprecationTimeCondition": {"MaximumDaysSinceDeprecated": 5}},
         {"DeprecationTime": "2026-11-25T00:00:00.000Z"}, False),
        # What a record cannot tell: never a guess.
        ({"ImageWatermarks": [{"WatermarkKey": "golden"}]}, {}, None),
        ({"ScanResultCondition": {"MaxDaysSinceLastFindingScan": 7}}, {"ScanResults": MEDIUM},
         None),  # Inspector rescans without the record changing
        # Amazon Inspector's scan results, as ScanResults gives them.
        ({"ScanResultCondition": {"MaximumSeverityLabel": "high"}}, {"ScanResults": MEDIUM}, True),
        ({"ScanResultCondition": {"MaximumSeverityLabel": "medium"}}, {"ScanResults": MEDIUM},
         True),
        ({"ScanResultCondition": {"MaximumSeverityLabel": "low"}}, {"ScanResults": MEDIUM}, False),
        ({"ScanResultCondition": {"MaximumSeverityLabel": "low"}}, {"ScanResults": CLEAN}, True),
        ({"ScanResultCondition": {"MaximumSeverityLabel": "critical"}}, {}, False),  # not scanned
        ({"ScanResultCondition": {"MaxDaysSinceMediumFixAvailable": 11}},
         {"ScanResults": MEDIUM}, True),  # the fix is 10 days old
        ({"ScanResultCondition": {"MaxDaysSinceMediumFixAvailable": 9}},
         {"ScanResults": MEDIUM}, False),
        ({"ScanResultCondition": {"MaxDaysSinceHighFixAvailable": 1}},
         {"ScanResults": MEDIUM}, True),  # no high finding with a fix: within the limit
        # ...unless another parameter of the criterion already refuses the image.
        ({"ImageProviders": ["aws-marketplace"], "ImageWatermarks": [{"WatermarkKey": "g"}]},
         {}, False),
    ],
)  # fmt: skip
def test_each_parameter(criterion, fields, allowed):
    assert is_allowed(image(**fields), criteria(criterion), ACCOUNT, NOW) is allowed


def test_an_image_is_allowed_by_any_criterion_and_unknown_only_if_none_admits_it():
    unknown = {"ImageWatermarks": [{"WatermarkKey": "golden"}]}

    assert is_allowed(image(), criteria(unknown, {"ImageProviders": ["amazon"]}), ACCOUNT, NOW)
    assert is_allowed(image(), criteria(unknown, {"ImageNames": ["x"]}), ACCOUNT, NOW) is None
    assert is_allowed(image(), criteria(), ACCOUNT, NOW) is False  # enabled, nothing admitted


def test_the_settings_read_from_the_api_answer():
    answer = {
        "State": "audit-mode",
        "ManagedBy": "declarative-policy",
        "ImageCriteria": [
            {"ImageProviders": ["amazon"], "CreationDateCondition": {"MaximumDaysSinceCreated": 90}}
        ],
    }

    settings = settings_from(answer)

    assert settings.state == "audit-mode" and not settings.enforced
    assert settings.managed_by == "declarative-policy"
    assert settings.criteria[0].providers == ("amazon",)
    assert settings.criteria[0].max_days_since_created == 90
    assert settings.summary() == {"state": "audit-mode", "managedBy": "declarative-policy",
                                  "error": None}  # fmt: skip


def test_scan_conditions_cannot_judge_a_record_stored_before_scan_results_were_tracked():
    fields = dict(image().fields)
    del fields["ScanResults"]
    older = record_from_fields(fields, 2)
    severity = criteria({"ScanResultCondition": {"MaximumSeverityLabel": "critical"}})

    assert is_allowed(older, severity, ACCOUNT, NOW) is None


@pytest.mark.parametrize(
    ("criterion", "fields", "until"),
    [
        # The example: 300 days allowed, created 290 days ago: 10 days left.
        ({"CreationDateCondition": {"MaximumDaysSinceCreated": 300}},
         {"CreationDate": "2026-02-14T12:00:00.000Z"}, NOW + timedelta(days=10)),
        ({"DeprecationTimeCondition": {"MaximumDaysSinceDeprecated": 0}},
         {"DeprecationTime": "2026-12-20T00:00:00.000Z"}, datetime(2026, 12, 20, tzinfo=UTC)),
        ({"ScanResultCondition": {"MaxDaysSinceMediumFixAvailable": 14}},
         {"ScanResults": MEDIUM}, datetime(2026, 12, 5, 12, tzinfo=UTC)),
        # The earliest of a criterion's limits ends it.
        ({"CreationDateCondition": {"MaximumDaysSinceCreated": 300},
          "DeprecationTimeCondition": {"MaximumDaysSinceDeprecated": 0}},
         {"CreationDate": "2026-02-14T12:00:00.000Z", "DeprecationTime": "2026-12-03T00:00:00Z"},
         datetime(2026, 12, 3, tzinfo=UTC)),
        # Allowed for good, not allowed now, or not knowable: no date.
        ({"ImageProviders": ["amazon"]}, {}, None),
        ({"CreationDateCondition": {"MaximumDaysSinceCreated": 10}}, {}, None),
        ({"ImageWatermarks": [{"WatermarkKey": "golden"}]}, {}, None),
    ],
)  # fmt: skip
def test_when_an_allowed_image_stops_being_allowed(criterion, fields, until):
    found = allowed_until(image(**fields), criteria(criterion), ACCOUNT, NOW)

    assert (found[0] if found else None) == until


def test_the_criterion_that_admits_an_image_longest_decides():
    young = {"CreationDateCondition": {"MaximumDaysSinceCreated": 300}}
    marketplace = {"ImageProviders": ["amazon"], "CreationDateCondition":
                   {"MaximumDaysSinceCreated": 330}}  # fmt: skip
    created = {"CreationDate": "2026-02-14T12:00:00.000Z"}

    found = allowed_until(image(**created), criteria(young, marketplace), ACCOUNT, NOW)
    own = allowed_until(image(OwnerId=ACCOUNT, **created), criteria(young), ACCOUNT, NOW)

    assert found is not None and found[0] == NOW + timedelta(days=40)
    assert own is None  # the account's own images are never restricted
