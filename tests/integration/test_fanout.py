"""One watch over 3 accounts x 2 regions: six independent targets, one central bus and topic."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from amiwatch.aws.accounts import TargetClients
from amiwatch.aws.clients import client
from amiwatch.entry.handler import WatchesFailed, handler
from amiwatch.model.watches import AccountRef
from amiwatch.wiring import runs as edges_module
from devtools.local_aws import ACCOUNT, REGION, LocalAws

from ..doubles import DenyingSts
from .conftest import FakeLambdaContext
from .test_handler import emf_metrics

MEMBERS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
EXTERNAL_ID = "amiwatch-test-external-id"
WATCH = {
    "name": "golden",
    "owners": ["self"],
    "filters": {"tag:team": ["platform"]},
    "regions": list(REGIONS),
    "accounts": ["self", {"id": MEMBERS[0]}, {"id": MEMBERS[1], "roleName": "AmiWatchReader"}],
}
TARGETS = [(a, r) for a in ("self", *MEMBERS) for r in REGIONS]
BROKEN = (MEMBERS[1], "eu-west-1")


@pytest.fixture
def fanout_env(aws: LocalAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    watches_file = tmp_path / "watches.json"
    watches_file.write_text(json.dumps({"watches": [WATCH]}))
    for name, value in {
        "AMIWATCH_TABLE": aws.table_name,
        "AMIWATCH_TOPIC_ARN": aws.topic_arn,
        "AMIWATCH_BUS_NAME": aws.bus_name,
        "AMIWATCH_WATCHES_FILE": str(watches_file),
        "AMIWATCH_EXTERNAL_ID": EXTERNAL_ID,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    edges_module._target_clients.cache_clear()


def ec2_in(account: str, region: str) -> Any:
    """An EC2 client of that account (moto switches accounts on assumed-role credentials)."""
    ref = AccountRef() if account == "self" else AccountRef(account, "seed")
    return TargetClients(EXTERNAL_ID, "aws").ec2(ref, region, session_name="seed")


def register(account: str, region: str, name: str) -> str:
    ec2 = ec2_in(account, region)
    image_id: str = ec2.register_image(Name=name)["ImageId"]
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": "team", "Value": "platform"}])
    return image_id


def invoke(account: str, region: str) -> dict[str, Any]:
    """What one target's schedule sends."""
    event = {"target": {"watch": "golden", "account": account, "region": region}}
    return handler(event, FakeLambdaContext(aws_request_id=f"{account}-{region}"))


def deny(monkeypatch: pytest.MonkeyPatch, account: str, region: str) -> None:
    def sts_for(r: str) -> Any:
        return DenyingSts(client("sts", region=r), r, (account, region))

    monkeypatch.setattr(
        edges_module, "_target_clients",
        lambda external_id, partition: TargetClients(external_id, partition, sts_for),
    )  # fmt: skip


def account_id(account: str) -> str:
    return ACCOUNT if account == "self" else account


def test_each_target_publishes_its_own_changes_once_and_a_broken_one_fails_alone(
    aws, fanout_env, monkeypatch, capsys
):
    for account, region in TARGETS:
        register(account, region, f"golden-base-{account}-{region}")
    for account, region in TARGETS:
        assert invoke(account, region)["watches"][0]["baseline"] is True
    new = {t: register(*t, f"golden-new-{t[0]}-{t[1]}") for t in TARGETS}
    healthy = edges_module._target_clients
    deny(monkeypatch, *BROKEN)
    capsys.readouterr()

    failures = []
    for account, region in TARGETS:
        try:
            invoke(account, region)
        except WatchesFailed as exc:
            failures.append(str(exc))
    metrics = emf_metrics(capsys.readouterr().out)
    second = aws.bus_events()
    topic = aws.topic_messages()

    assert len(failures) == 1
    assert failures[0].startswith(f'watch "golden": account {BROKEN[0]} in region "{BROKEN[1]}": ')
    assert f"cannot assume arn:aws:iam::{BROKEN[0]}:role/AmiWatchReader" in failures[0]
    assert "AccessDenied" in failures[0]
    landed = Counter((e["detail"]["account"], e["detail"]["region"]) for e in second)
    assert landed == Counter({(account_id(a), r): 1 for a, r in TARGETS if (a, r) != BROKEN})
    for event in second:
        target = next(t for t in TARGETS if (account_id(t[0]), t[1]) == (
            event["detail"]["account"], event["detail"]["region"]))  # fmt: skip
        assert event["detail"]["image"]["ImageId"] == new[target]
        assert event["resources"] == [f"arn:aws:ec2:{target[1]}::image/{new[target]}"]
    assert sorted(m["detail"]["eventId"] for m in topic) == sorted(
        e["detail"]["eventId"] for e in second
    )
    service = ("service", "amiwatch")
    assert metrics[("TargetFailures", (service,))] == 1  # what the stack's alarm watches
    broken_dims = (("account", BROKEN[0]), ("region", BROKEN[1]), service, ("watch", "golden"))
    assert metrics[("TargetFailures", broken_dims)] == 1
    assert ("SuccessfulRuns", broken_dims) not in metrics

    monkeypatch.setattr(edges_module, "_target_clients", healthy)  # the role works again
    for account, region in TARGETS:
        invoke(account, region)
    third = aws.bus_events()

    assert [(e["detail"]["account"], e["detail"]["region"]) for e in third] == [BROKEN]
    assert third[0]["detail"]["image"]["ImageId"] == new[BROKEN]


def test_each_target_has_its_own_snapshot_partition_and_lease(aws, fanout_env):
    for account, region in TARGETS:
        register(account, region, f"golden-{account}-{region}")
        invoke(account, region)

    items = aws.client("dynamodb").scan(TableName=aws.table_name)["Items"]
    partitions = {i["pk"]["S"] for i in items}

    assert partitions == {f"target#golden#{account_id(a)}#{r}" for a, r in TARGETS}


def test_a_plain_invocation_runs_every_target_and_an_unknown_target_is_refused(aws, fanout_env):
    for account, region in TARGETS:
        register(account, region, f"golden-{account}-{region}")

    summaries = handler({}, FakeLambdaContext())["watches"]

    assert [(s["account"], s["region"]) for s in summaries] == [
        (account_id(a), r) for a, r in TARGETS
    ]
    with pytest.raises(Exception, match="has no target account 333333333333 in region us-east-1"):
        invoke("333333333333", "us-east-1")


def test_a_region_not_enabled_fails_that_target_alone_with_a_clear_error(
    aws, fanout_env, monkeypatch
):
    for account, region in TARGETS:
        register(account, region, f"golden-{account}-{region}")
    real_ec2 = TargetClients.ec2

    def ec2(self: TargetClients, account: Any, region: str, session_name: str) -> Any:
        made = real_ec2(self, account, region, session_name)
        if account.id == MEMBERS[0] and region == "eu-west-1":
            made.meta.events.register("before-call.ec2.DescribeImages", opted_out)
        return made

    monkeypatch.setattr(TargetClients, "ec2", ec2)

    with pytest.raises(WatchesFailed) as failed:
        handler({}, FakeLambdaContext())

    message = str(failed.value)
    assert message.startswith('watch "golden": ')
    assert message.count("watch ") == 1
    assert f'account {MEMBERS[0]} in region "eu-west-1": the region is not enabled' in message
    assert "(OptInRequired:" in message
    items = aws.client("dynamodb").scan(TableName=aws.table_name)["Items"]
    with_shards = {i["pk"]["S"] for i in items if i["sk"]["S"].startswith("shard#")}
    assert with_shards == {
        f"target#golden#{account_id(a)}#{r}"
        for a, r in TARGETS
        if (a, r) != (MEMBERS[0], "eu-west-1")
    }


def opted_out(**_: Any) -> None:
    raise ClientError(
        {"Error": {"Code": "OptInRequired", "Message": "You are not subscribed to this service."}},
        "DescribeImages",
    )
