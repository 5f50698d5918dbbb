"""Watch validation: every mistake gets one message naming the watch and the field."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import botocore.session
import pytest

from amiwatch.model.errors import ConfigError
from amiwatch.model.filters import DESCRIBE_IMAGES_FILTERS
from amiwatch.model.watch_config import load_watches_file, parse_watch, parse_watches

README_EXAMPLE = [
    {
        "name": "al2023",
        "owners": ["amazon"],
        "filters": {"name": ["al2023-ami-2023.*-x86_64"]},
        "deprecationWarningDays": 14,
    },
    {"name": "golden", "owners": ["self"], "filters": {"tag:team": ["platform"]}},
]


OU = "ou-ab12-cdef3456"


def test_the_documented_example_parses_with_defaults():
    al2023, golden = parse_watches(README_EXAMPLE)

    assert al2023.deprecation_warning_days == 14
    assert golden.include_deprecated and golden.include_disabled
    assert golden.ignore_fields == {"LastLaunchedTime"}
    assert golden.baseline == "silent"
    assert golden.describe_images_kwargs() == {
        "IncludeDeprecated": True,
        "IncludeDisabled": True,
        "Owners": ["self"],
        "Filters": [{"Name": "tag:team", "Values": ["platform"]}],
    }


def test_a_watch_round_trips_through_its_dict_form():
    for watch in parse_watches(README_EXAMPLE):
        assert parse_watch(watch.to_dict()) == watch


def test_a_watch_over_accounts_and_regions_has_one_target_each():
    watch = parse_watch({
        "name": "fleet", "owners": ["self"], "regions": ["us-east-1", "eu-west-1"],
        "accounts": ["self", {"id": "111111111111"}, {"id": "222222222222", "roleName": "Reader"}],
    })  # fmt: skip

    targets = [(a.id, a.role_name, r) for a, r in watch.targets("ap-south-1")]

    assert targets == [
        ("self", "AmiWatchMember", "us-east-1"), ("self", "AmiWatchMember", "eu-west-1"),
        ("111111111111", "AmiWatchMember", "us-east-1"),
        ("111111111111", "AmiWatchMember", "eu-west-1"),
        ("222222222222", "Reader", "us-east-1"), ("222222222222", "Reader", "eu-west-1"),
    ]  # fmt: skip
    assert watch.accounts[2].role_arn("aws-cn") == "arn:aws-cn:iam::222222222222:role/Reader"
    assert parse_watch(watch.to_dict()) == watch
    assert [r for _, r in parse_watches(README_EXAMPLE)[0].targets("ap-south-1")] == ["ap-south-1"]


def test_a_watch_may_take_its_accounts_from_the_organisation_and_round_trips():
    watch = parse_watch({
        "name": "fleet", "owners": ["self"],
        "accounts": ["self", {"organizationalUnit": "ou-ab12-cdef3456",
                              "excludeAccounts": ["333333333333"], "roleName": "Reader"},
                     {"organization": True}],
    })  # fmt: skip

    assert [a.id for a in watch.accounts] == ["self"]
    assert [(o.unit, sorted(o.exclude), o.role_name) for o in watch.organization_accounts] == [
        ("ou-ab12-cdef3456", ["333333333333"], "Reader"), (None, [], "AmiWatchMember")
    ]  # fmt: skip
    assert parse_watch(watch.to_dict()) == watch
    only_org = parse_watch(
        {"name": "org", "owners": ["self"], "accounts": [{"organization": True}]}
    )
    assert only_org.accounts == () and only_org.targets("us-east-1") == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "golden", "owners": ["self"], "ownrs": []},
         'watch "golden": unknown key "ownrs" (did you mean "owners"?)'),
        ({"name": "eks", "parameters": ["/my/own/parameter"]},
         'watch "eks": "parameters" has "/my/own/parameter": AWS public parameters only, '
         'starting with "/aws/service/"'),
        ({"name": "eks", "parameters": ["/aws/service/eks/optimized-ami/*/image_id"]},
         "an exact name, or a path ending in \"/\" (no wildcards)"),
        ({"name": "eks", "parameters": ["/aws/service/a", "/aws/service/a"]},
         '"parameters" lists a name twice'),
        ({"name": "eks", "parameters": [f"/aws/service/p{i}" for i in range(51)]},
         '"parameters" lists 51; at most 50 a watch'),
        ({"name": "eks", "owners": ["amazon"], "parameters": ["/aws/service/a"]},
         '"parameters" names the images itself: it cannot be combined with owners'),
        ({"name": "eks", "parameters": ["/aws/service/a"], "accounts": [{"id": "111122223333"}]},
         '"parameters" are public and the same in every account: use "regions"'),
        ({"name": "Golden!", "owners": ["self"]},
         'watch "Golden!": "name" must match [a-z0-9-]{1,64}, got "Golden!"'),
        ({"owners": ["self"]}, 'watches[0]: "name" must match [a-z0-9-]{1,64}, got null'),
        ({"name": "x" * 65, "owners": ["self"]}, '"name" must match [a-z0-9-]{1,64}'),
        ({"name": "golden"},
         'watch "golden": has no scope: set at least one of owners, executableUsers, imageIds, '
         "filters"),
        ({"name": "golden", "owners": ["self"], "filters": {"nmae": ["x"]}},
         'watch "golden": unknown filter "nmae" (did you mean "name"?)'),
        ({"name": "golden", "owners": ["self"], "filters": {"name": []}},
         'watch "golden": filter "name" needs a non-empty list of values'),
        ({"name": "golden", "owners": ["self"], "filters": {"tag:": ["x"]}},
         'watch "golden": filter "tag:" needs a tag key'),
        ({"name": "golden", "owners": []},
         'watch "golden": "owners" must not be an empty list'),
        ({"name": "golden", "owners": ["me"]}, 'watch "golden": "owners" has invalid value "me"'),
        ({"name": "golden", "imageIds": ["ami-xyz"]},
         'watch "golden": "imageIds" has invalid value "ami-xyz"'),
        ({"name": "golden", "owners": ["self"], "includeDeprecated": "yes"},
         'watch "golden": "includeDeprecated" must be true or false, got "yes"'),
        ({"name": "golden", "owners": ["self"], "deprecationWarningDays": -1},
         'watch "golden": "deprecationWarningDays" must be 0..3650, got -1'),
        ({"name": "golden", "owners": ["self"], "deprecationWarningDays": True},
         '"deprecationWarningDays" must be a whole number, got true'),
        ({"name": "golden", "owners": ["self"], "ignoreFields": ["LastLaunchTime"]},
         'watch "golden": "ignoreFields" has unknown field "LastLaunchTime" '
         '(did you mean "LastLaunchedTime"?)'),
        ({"name": "golden", "owners": ["self"], "baseline": "loud"},
         'watch "golden": "baseline" must be "silent" or "events", got "loud"'),
        ({"name": "golden", "owners": ["self"], "regions": []},
         'watch "golden": "regions" must be a non-empty list of region names'),
        ({"name": "golden", "owners": ["self"], "regions": ["us-east-1", "us-east-1"]},
         'watch "golden": "regions" lists a region twice'),
        ({"name": "golden", "owners": ["self"], "accounts": [{"id": "111111111111", "role": "x"}]},
         'watch "golden": "accounts"[0] must be one of "self", {"id", "roleName"}, '
         '{"organizationalUnit"} or {"organization": true}'),
        ({"name": "golden", "owners": ["self"], "accounts": [{"organizationalUnit": "ou-12"}]},
         'watch "golden": "accounts"[0].organizationalUnit must be an OU id (ou-…) or the root '
         'id (r-…), got "ou-12"'),
        ({"name": "golden", "owners": ["self"], "accounts": [{"organization": "yes"}]},
         'watch "golden": "accounts"[0].organization must be true'),
        ({"name": "golden", "owners": ["self"],
          "accounts": [{"organization": True, "excludeAccounts": ["1234"]}]},
         'watch "golden": "accounts"[0].excludeAccounts must be a list of 12-digit account ids'),
        ({"name": "golden", "owners": ["self"],
          "accounts": [{"organization": True, "exclude": ["111111111111"]}]},
         'watch "golden": "accounts"[0]: unknown key "exclude"'),
        ({"name": "golden", "owners": ["self"], "accounts": [{"organizationalUnit": OU},
                                                             {"organizationalUnit": OU}]},
         'watch "golden": "accounts" lists an organizational unit (or the organisation) twice'),
        ({"name": "base", "parameters": ["/aws/service/eks/"],
          "accounts": [{"organization": True}]},
         '"parameters" are public and the same in every account'),
        ({"name": "golden", "owners": ["self"],
          "accounts": [{"id": "111111111111", "roleName": "no spaces"}]},
         'watch "golden": "accounts"[0].roleName "no spaces" is not an IAM role name'),
    ],
)  # fmt: skip
def test_each_mistake_is_named(raw, message):
    with pytest.raises(ConfigError) as error:
        parse_watches([raw])

    assert message in str(error.value)


def test_duplicate_names_are_rejected():
    with pytest.raises(ConfigError, match='watch "golden": duplicate name'):
        parse_watches([{"name": "golden", "owners": ["self"]}] * 2)


def test_an_empty_watch_list_is_rejected():
    with pytest.raises(ConfigError, match='"watches" must be a non-empty list'):
        parse_watches([])


class _TopLevelItems(HTMLParser):
    """Collects the `<code>` name that opens each top-level `<li>` of the reference text."""

    def __init__(self) -> None:
        super().__init__()
        self.depth, self.in_code, self.fresh_item, self.names = 0, False, False, []

    def handle_starttag(self, tag, attrs):
        self.depth += tag == "ul"
        self.fresh_item = self.fresh_item or (tag == "li" and self.depth == 0)
        self.in_code = tag == "code"

    def handle_endtag(self, tag):
        self.depth -= tag == "ul"
        self.in_code = False

    def handle_data(self, data):
        if self.in_code and self.fresh_item:
            self.names.append(data)
            self.fresh_item = False


def test_filter_names_match_the_ec2_api_reference():
    # The DescribeImages reference text ships in botocore's service model: every top-level
    # filter listed there must be accepted, and nothing else.
    model = botocore.session.get_session().get_service_model("ec2")
    doc = model.operation_model("DescribeImages").input_shape.members["Filters"].documentation
    parser = _TopLevelItems()
    parser.feed(doc.replace("<ul>", "", 1)[: doc.rfind("</ul>")])

    assert "tag:<key>" in parser.names
    assert {n for n in parser.names if n != "tag:<key>"} == DESCRIBE_IMAGES_FILTERS


def test_a_long_watch_list_loads_intact_from_a_file(tmp_path):
    # 200 watches is ~30 KB of JSON: far past Lambda's 4 KB environment limit.
    raw = [
        {"name": f"team-{i:03d}", "owners": ["self"], "filters": {"tag:team": [f"team-{i}"]}}
        for i in range(200)
    ]
    path = tmp_path / "watches.json"
    path.write_text(json.dumps({"watches": raw}))

    watches = load_watches_file(path)

    assert len(watches) == 200
    assert watches[-1].filters == (("tag:team", ("team-199",)),)


def test_a_parameters_watch_round_trips_and_fans_out_over_regions():
    watch = parse_watch({"name": "eks", "regions": ["us-east-1", "eu-west-1"], "parameters": [
        "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id",
        "/aws/service/bottlerocket/aws-k8s-1.31/x86_64/latest/"]})  # fmt: skip

    assert watch.follows_parameters
    assert parse_watch(watch.to_dict()) == watch
    assert [r for _, r in watch.targets("us-east-1")] == ["us-east-1", "eu-west-1"]
