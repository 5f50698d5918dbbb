"""Alerts that are true: an image that left the watch is not "deregistered", an edit of the watch
is not news, a purged AMI does not stop a watch, and records evolve without losing changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from amiwatch.aws.scan import Ec2Images
from amiwatch.model import records
from amiwatch.model.contract import Target
from amiwatch.model.watch_config import parse_watch
from amiwatch.run.pipeline import run_watch
from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_image

from ..doubles import purge
from .conftest import WATCHES, register

WATCH = parse_watch(WATCHES[0])  # owners self, tag:team = platform
TARGET = Target(WATCH.name, ACCOUNT, REGION)
T0 = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def run(aws: LocalAws, now: datetime, watch=WATCH, ec2: Any = None):
    edges = aws.watch_ports(Target(watch.name, ACCOUNT, REGION))
    if ec2 is not None:
        edges = replace(edges, images=Ec2Images(ec2))
    return run_watch(watch, Target(watch.name, ACCOUNT, REGION), edges, now, owner="run")


def retag(aws: LocalAws, image_id: str, team: str) -> None:
    aws.client("ec2").create_tags(Resources=[image_id], Tags=[{"Key": "team", "Value": team}])


@pytest.fixture
def golden(aws: LocalAws) -> dict[str, str]:
    ids = {name: register(aws, name) for name in ("golden-a", "golden-b", "golden-c")}
    run(aws, T0)
    return ids


def test_an_image_retagged_out_of_the_watch_left_it_and_was_not_deregistered(aws, golden):
    retag(aws, golden["golden-b"], "data")

    result = run(aws, T0 + HOUR)
    [event] = aws.bus_events()
    [message] = aws.topic_messages()

    assert result.summary()["changes"] == {"left-watch": 1}
    assert event["detail-type"] == "AMI Left Watch"
    assert event["detail"]["reason"] == "no-longer-matches"
    assert event["detail"]["image"]["Tags"] == {"team": "data"}
    assert event["detail"]["previous"] == {"Tags": {"team": "platform"}}
    assert event["detail"]["changedFields"] == ["Tags"]
    assert message["attributes"]["change"] == "left-watch"
    assert aws.chat_messages() == []  # not in the default chatChanges
    assert run(aws, T0 + 2 * HOUR).summary()["changes"] == {}


def test_an_image_that_matches_again_is_new_and_says_so(aws, golden):
    retag(aws, golden["golden-b"], "data")
    run(aws, T0 + HOUR)
    aws.bus_events()
    retag(aws, golden["golden-b"], "platform")

    run(aws, T0 + 2 * HOUR)
    [event] = aws.bus_events()

    assert event["detail-type"] == "AMI New"
    assert event["detail"]["reason"] == "matches-again"


def test_a_deregistered_image_is_deregistered_and_says_what_is_known(aws, golden):
    aws.client("ec2").deregister_image(ImageId=golden["golden-a"])

    run(aws, T0 + HOUR)
    [event] = aws.bus_events()
    [email] = aws.people_messages()

    assert event["detail"]["change"] == "deregistered"
    assert event["detail"]["reason"] == "vanished"
    assert email["subject"].startswith("[amiwatch] AMI Deregistered: golden-a")


def test_editing_the_watch_filter_is_not_news(aws, golden):
    more = {name: register(aws, name) for name in ("golden-d", "golden-e")}
    for image_id in [*golden.values(), *more.values()]:
        set_image(image_id, creation_date=T0 - 30 * 24 * HOUR)  # all older than the runs
    for image_id in [golden["golden-a"], more["golden-d"]]:
        aws.client("ec2").create_tags(Resources=[image_id], Tags=[{"Key": "tier", "Value": "gold"}])
    run(aws, T0 + HOUR)  # d and e are new: reported
    aws.bus_events(), aws.topic_messages()
    gold = {"tag:team": ["platform"], "tag:tier": ["gold"]}
    narrowed = parse_watch({**WATCHES[0], "filters": gold})

    narrow = run(aws, T0 + 2 * HOUR, narrowed)
    widen = run(aws, T0 + 3 * HOUR, WATCH)
    after = run(aws, T0 + 4 * HOUR, WATCH)

    assert aws.bus_events() == [] and aws.topic_messages() == []
    assert narrow.summary()["selectionChanged"] is True
    assert narrow.summary()["silent"] == {"left-by-edit": 3}
    assert widen.summary()["silent"] == {"entered-by-edit": 3}
    assert after.summary()["selectionChanged"] is False and after.summary()["silent"] == {}


def test_after_an_edit_a_new_release_and_a_deregistration_are_still_reported(aws, golden):
    aws.client("ec2").deregister_image(ImageId=golden["golden-c"])
    widened = parse_watch({**WATCHES[0], "filters": {"tag:team": ["platform", "data"]}})
    released = register(aws, "golden-new", team="data")  # CreationDate: now, after the last run

    result = run(aws, datetime.now(UTC) + HOUR, widened)
    changes = {e["detail"]["change"]: e["detail"]["image"]["ImageId"] for e in aws.bus_events()}

    assert changes == {"new": released, "deregistered": golden["golden-c"]}
    assert result.summary()["selectionChanged"] is True


def test_a_purged_image_id_is_reported_once_and_the_other_ids_keep_being_watched(aws):
    ids = [register(aws, f"golden-{n}") for n in ("a", "b", "c")]
    by_id = parse_watch({"name": "pinned", "imageIds": [*ids, "ami-0000000000000dead"]})
    ec2 = aws.client("ec2")
    purge(ec2, {"ami-0000000000000dead"})  # a typo: EC2 never knew it
    baseline = run(aws, T0, by_id, ec2)
    ec2.deregister_image(ImageId=ids[1])
    purge(ec2, {ids[1]})  # an hour later EC2 has purged it
    ec2.disable_image(ImageId=ids[2])

    first = run(aws, T0 + HOUR, by_id, ec2)
    second = run(aws, T0 + 2 * HOUR, by_id, ec2)
    events = {e["detail"]["change"]: e["detail"]["image"]["ImageId"] for e in aws.bus_events()}

    assert baseline.summary()["images"] == 3
    assert baseline.summary()["unknownImageIds"] == ["ami-0000000000000dead"]
    assert events == {"deregistered": ids[1], "disabled": ids[2]}
    assert first.summary()["changes"] == {"deregistered": 1, "disabled": 1}
    assert second.summary()["changes"] == {} and second.status == "ok"
    assert sorted(second.summary()["unknownImageIds"]) == sorted(["ami-0000000000000dead", ids[1]])


def test_records_of_an_older_projection_are_refreshed_silently_then_watched(aws, monkeypatch):
    ids = [register(aws, f"golden-{n}") for n in ("a", "b")]
    monkeypatch.setattr(records, "PROJECTION", 1)  # as amiwatch before ProductCodes & co.
    run(aws, T0)
    monkeypatch.undo()

    upgrade = run(aws, T0 + HOUR)
    marketplace = [{"ProductCodeId": "abc123xyz", "ProductCodeType": "marketplace"}]
    set_image(ids[0], product_codes=marketplace)
    changed = run(aws, T0 + 2 * HOUR)
    [event] = aws.bus_events()

    assert upgrade.summary()["changes"] == {}
    assert upgrade.summary()["silent"] == {"refreshed": 2}
    assert changed.summary()["changes"] == {"updated": 1}
    assert event["detail"]["changedFields"] == ["ProductCodes"]
    assert event["detail"]["previous"] == {"ProductCodes": []}
    assert event["detail"]["image"]["ProductCodes"] == marketplace
