"""Watch validation: every mistake gets one message naming the watch and the field."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import botocore.session
import pytest

from amiwatch.config import (
    DESCRIBE_IMAGES_FILTERS,
    ConfigError,
    load_watches_file,
    parse_watch,
    parse_watches,
)

README_EXAMPLE = [
    {
        "name": "al2023",
        "owners": ["amazon"],
        "filters": {"name": ["al2023-ami-2023.*-x86_64"]},
        "deprecationWarningDays": 14,
    },
    {"name": "golden", "owners": ["self"], "filters": {"tag:team": ["platform"]}},
]


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


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "golden", "owners": ["self"], "ownrs": []},
         'watch "golden": unknown key "ownrs" (did you mean "owners"?)'),
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
