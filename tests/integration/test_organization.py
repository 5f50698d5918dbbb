"""A watch over an organizational unit, end to end in moto: the dispatcher lists the OU's
accounts with AWS Organizations, enqueues one scan per target on the target queue, and the
watcher consumes it as the event source mapping would (member accounts reached through STS)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from amiwatch.aws.clients import client
from amiwatch.aws.dispatching import known_targets
from amiwatch.entry.handler import handler
from amiwatch.wiring import runs as edges_module
from devtools.local_aws import REGION, LocalAws

from ..doubles import DenyingSts
from .conftest import FakeLambdaContext
from .mapped_queue import MappedQueue
from .test_fanout import EXTERNAL_ID, register
from .test_handler import emf_metrics


@dataclass
class Organization:
    """root ─ platform (OU) ─ teams (OU); accounts: one in platform, two in teams (one of them
    excluded by the watch), one suspended in platform, one outside the OU."""

    platform: str
    teams: str
    in_platform: str
    in_teams: str
    excluded: str
    suspended: str
    outside: str

    def add_account(self, parent: str, name: str) -> str:
        org = client("organizations", region=REGION)
        account = _create_account(org, name)
        root = org.list_roots()["Roots"][0]["Id"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=parent)
        return account


def _create_account(org: Any, name: str) -> str:
    status = org.create_account(Email=f"{name}@example.com", AccountName=name)
    return str(status["CreateAccountStatus"]["AccountId"])


@pytest.fixture
def organization(aws: LocalAws) -> Organization:
    org = client("organizations", region=REGION)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    platform = org.create_organizational_unit(ParentId=root, Name="platform")
    teams = org.create_organizational_unit(ParentId=platform["OrganizationalUnit"]["Id"],
                                           Name="teams")  # fmt: skip
    ous = (platform["OrganizationalUnit"]["Id"], teams["OrganizationalUnit"]["Id"])
    made = Organization(*ous, *("" for _ in range(5)))
    made.in_platform = made.add_account(ous[0], "in-platform")
    made.in_teams = made.add_account(ous[1], "in-teams")
    made.excluded = made.add_account(ous[1], "excluded")
    made.suspended = made.add_account(ous[0], "suspended")
    org.close_account(AccountId=made.suspended)
    made.outside = _create_account(org, "outside")
    return made


@pytest.fixture
def targets_queue(
    aws: LocalAws, organization: Organization, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MappedQueue]:
    dead_letters = MappedQueue(aws, "target-dead-letters", 30)
    queue = MappedQueue(aws, "targets", 5400, (dead_letters.arn, 8))
    watch = {"name": "golden", "owners": ["self"], "filters": {"tag:team": ["platform"]},
             "accounts": [{"organizationalUnit": organization.platform,
                           "excludeAccounts": [organization.excluded]}]}  # fmt: skip
    watches_file = tmp_path / "watches.json"
    watches_file.write_text(json.dumps({"watches": [watch]}))
    for name, value in {
        "AMIWATCH_TABLE": aws.table_name, "AMIWATCH_TOPIC_ARN": aws.topic_arn,
        "AMIWATCH_BUS_NAME": aws.bus_name, "AMIWATCH_WATCHES_FILE": str(watches_file),
        "AMIWATCH_EXTERNAL_ID": EXTERNAL_ID, "AWS_REGION": REGION,
        "AMIWATCH_TARGET_QUEUE_URL": queue.url, "AMIWATCH_STALE_AFTER_SECONDS": "7200",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    edges_module._target_clients.cache_clear()
    queue.dead_letters = dead_letters  # type: ignore[attr-defined]
    yield queue


def dispatch() -> dict[str, Any]:
    """What the watch's schedule sends."""
    return handler({"dispatch": {"watch": "golden"}}, FakeLambdaContext())


def scans(queue: MappedQueue) -> list[dict[str, Any]]:
    """Run every dispatched scan, one per invocation (the mapping's batch size is 1)."""
    responses = []
    while queue.visible():
        responses.append(queue.deliver(size=1))
    return responses


def test_the_dispatcher_finds_the_ou_s_active_accounts_recursively_less_the_excluded(
    aws, organization, targets_queue
):
    summary = dispatch()
    bodies = [json.loads(r["body"]) for r in targets_queue.batch()["Records"]]

    assert sorted(b["scan"]["account"] for b in bodies) == sorted(
        [organization.in_platform, organization.in_teams]
    )
    assert {b["scan"]["roleName"] for b in bodies} == {"AmiWatchMember"}
    assert summary["targets"] == summary["enqueued"] == 2
    assert summary["newTargets"] == 2 and summary["staleTargets"] == 0
    skipped = f"1 inactive accounts skipped (suspended or closing): {organization.suspended}"
    assert skipped in summary["notes"]


def test_new_accounts_baseline_silently_and_changes_then_reach_the_bus(
    aws, organization, targets_queue
):
    image = register(organization.in_teams, REGION, "golden-1")
    dispatch()
    first = scans(targets_queue)
    baseline_events = aws.bus_events()
    fresh = register(organization.in_teams, REGION, "golden-2")
    joined = organization.add_account(organization.teams, "joined")
    register(joined, REGION, "golden-of-joined")
    summary = dispatch()
    second = scans(targets_queue)
    [event] = aws.bus_events()

    assert [r["batchItemFailures"] for r in first] == [[], []]
    assert baseline_events == []  # the first run of each target: a silent baseline
    assert summary["targets"] == 3 and summary["newTargets"] == 1
    assert summary["notes"][0] == f"1 new targets (a silent baseline first): {joined}/{REGION}"
    assert [r["batchItemFailures"] for r in second] == [[], [], []]
    assert event["detail-type"] == "AMI New" and event["detail"]["account"] == organization.in_teams
    assert event["detail"]["image"]["ImageId"] == fresh != image


def test_a_failing_target_is_retried_then_dead_lettered_while_the_others_complete(
    aws, organization, targets_queue, monkeypatch
):
    broken = (organization.in_teams, REGION)
    monkeypatch.setattr(edges_module, "_target_clients", lambda external_id, partition:
                        edges_module.TargetClients(external_id, partition, lambda r: DenyingSts(
                            client("sts", region=r), r, broken)))  # fmt: skip
    dispatch()

    outcomes = []
    for _ in range(8):  # the stack's maxReceiveCount
        outcomes += [r["batchItemFailures"] != [] for r in scans(targets_queue)]
        targets_queue.make_visible()
    leftover = targets_queue.batch()["Records"]  # SQS moves it on the receive after the 8th
    dead = [json.loads(r["body"]) for r in targets_queue.dead_letters.batch()["Records"]]

    assert outcomes.count(False) == 1  # the healthy target ran once and was acknowledged
    assert outcomes.count(True) == 8  # the broken one: every delivery failed
    assert leftover == []
    assert [d["scan"]["account"] for d in dead] == [organization.in_teams]


def test_a_target_that_stops_succeeding_raises_the_stale_metric(
    aws, organization, targets_queue, capsys
):
    dispatch()
    scans(targets_queue)
    runs = emf_metrics(capsys.readouterr().out)
    table = aws.shared_client("dynamodb")
    key = {"pk": {"S": f"target#golden#{organization.in_platform}#{REGION}"}, "sk": {"S": "meta"}}
    long_ago = {":then": {"S": "2026-01-01T00:00:00Z"}}
    table.update_item(TableName=aws.table_name, Key=key,
                      UpdateExpression="SET lastSuccessAt = :then",
                      ExpressionAttributeValues=long_ago)  # fmt: skip

    summary = dispatch()
    metrics = emf_metrics(capsys.readouterr().out)

    # A dispatched scan reports as a scheduled run: SuccessfulRuns per target, as ever.
    where = (("account", organization.in_platform), ("region", REGION), ("service", "amiwatch"),
             ("watch", "golden"))  # fmt: skip
    assert runs[("SuccessfulRuns", where)] == 1
    assert summary["staleTargets"] == 1
    assert metrics[("StaleTargets", (("service", "amiwatch"),))] == 1
    assert metrics[("StaleTargets", (("service", "amiwatch"), ("watch", "golden")))] == 1
    assert summary["notes"][0] == (
        f"1 stale targets (no success in two periods): {organization.in_platform}/{REGION}"
    )


def test_an_account_that_leaves_is_named_once_then_forgotten_but_its_snapshot_stays(
    aws, organization, targets_queue
):
    dispatch()
    scans(targets_queue)
    client("organizations", region=REGION).close_account(AccountId=organization.in_platform)

    first = dispatch()
    second = dispatch()
    listed = known_targets(aws.shared_client("dynamodb"), aws.table_name, "golden")
    key = {"pk": {"S": f"target#golden#{organization.in_platform}#{REGION}"}, "sk": {"S": "meta"}}
    meta = aws.shared_client("dynamodb").get_item(TableName=aws.table_name, Key=key)["Item"]

    assert first["targets"] == 1 and first["removedTargets"] == 1
    assert (f"1 removed targets (no longer run or listed; their snapshots stay 90 days): "
            f"{organization.in_platform}/{REGION}") in first["notes"]  # fmt: skip
    assert second["removedTargets"] == 0 and second["purgedTargets"] == 0
    assert [k.account for k in listed] == [organization.in_teams]
    assert "baselineAt" in meta and "retiredAt" in meta
    assert meta["targetWatch"] == {"S": "retired#golden"}


def partition_items(aws: LocalAws, account: str) -> list[str]:
    answer = aws.shared_client("dynamodb").query(
        TableName=aws.table_name, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"target#golden#{account}#{REGION}"}},
    )  # fmt: skip
    return [item["sk"]["S"] for item in answer["Items"]]


def test_a_retired_target_s_snapshot_is_deleted_90_days_after_its_last_run(
    aws, organization, targets_queue
):
    for n in range(30):  # more items than one BatchWriteItem deletes
        register(organization.in_platform, REGION, f"golden-{n}")
    dispatch()
    scans(targets_queue)
    org = client("organizations", region=REGION)
    org.close_account(AccountId=organization.in_platform)
    dispatch()  # retires it
    kept = partition_items(aws, organization.in_platform)
    key = {"pk": {"S": f"target#golden#{organization.in_platform}#{REGION}"}, "sk": {"S": "meta"}}
    aws.shared_client("dynamodb").update_item(
        TableName=aws.table_name, Key=key, UpdateExpression="SET lastRunAt = :then",
        ExpressionAttributeValues={":then": {"S": "2020-01-01T00:00:00Z"}},
    )  # fmt: skip

    summary = dispatch()

    assert len(kept) > 30 and "meta" in kept
    assert summary["purgedTargets"] == 1
    assert (f"1 retired targets' snapshots deleted (90 days after their last run): "
            f"{organization.in_platform}/{REGION}") in summary["notes"]  # fmt: skip
    assert partition_items(aws, organization.in_platform) == []
    assert partition_items(aws, organization.in_teams) != []  # the others are untouched
    assert dispatch()["purgedTargets"] == 0


def test_an_account_that_comes_back_is_compared_with_its_kept_snapshot(
    aws, organization, targets_queue
):
    register(organization.in_platform, REGION, "golden-1")
    dispatch()
    scans(targets_queue)
    org = client("organizations", region=REGION)
    root = org.list_roots()["Roots"][0]["Id"]
    move = {"AccountId": organization.in_platform}
    org.move_account(**move, SourceParentId=organization.platform, DestinationParentId=root)
    assert dispatch()["removedTargets"] == 1
    fresh = register(organization.in_platform, REGION, "golden-2")
    org.move_account(**move, SourceParentId=root, DestinationParentId=organization.platform)

    summary = dispatch()
    scans(targets_queue)
    listed = known_targets(aws.shared_client("dynamodb"), aws.table_name, "golden")
    [event] = aws.bus_events()

    assert (summary["newTargets"], summary["returnedTargets"]) == (0, 1)
    assert (f"1 returned targets (compared with their kept snapshot): "
            f"{organization.in_platform}/{REGION}") in summary["notes"]  # fmt: skip
    assert event["detail-type"] == "AMI New" and event["detail"]["image"]["ImageId"] == fresh
    assert sorted(k.account for k in listed) == sorted([organization.in_platform,
                                                        organization.in_teams])  # fmt: skip


def forwarded(account: str, image_id: str) -> str:
    """An "EC2 AMI State Change" a member account forwarded (AmiWatchMemberEvents)."""
    detail = {"RequestId": "r-1", "ImageId": image_id, "State": "available", "ErrorMessage": ""}
    return json.dumps({"source": "aws.ec2", "detail-type": "EC2 AMI State Change",
                       "account": account, "region": REGION, "detail": detail})  # fmt: skip


def test_an_ami_event_of_an_ou_account_refreshes_its_target_at_once(
    aws, organization, targets_queue
):
    register(organization.in_teams, REGION, "golden-1")
    dispatch()
    scans(targets_queue)
    fresh = register(organization.in_teams, REGION, "golden-2")
    stranger = register(organization.outside, REGION, "golden-x")
    refresh = MappedQueue(aws, "refresh", 30)
    for account, image in ((organization.in_teams, fresh), (organization.outside, stranger)):
        refresh.sqs.send_message(QueueUrl=refresh.url, MessageBody=forwarded(account, image))

    response = refresh.deliver()
    [event] = aws.bus_events()

    assert response == {"batchItemFailures": []}
    assert event["detail-type"] == "AMI New" and event["detail"]["image"]["ImageId"] == fresh
    assert partition_items(aws, organization.outside) == []  # outside the OU: not a target
