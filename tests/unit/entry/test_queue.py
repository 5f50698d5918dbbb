"""The refresh queue's consumer: batches grouped by target, partial failures, ignored messages."""

from __future__ import annotations

import json
from typing import Any

from amiwatch.entry.queue import consume, is_queue_event
from amiwatch.model.contract import Target
from amiwatch.run.result import PublishIncomplete, WatchResult
from amiwatch.wiring.settings import Settings, TargetRef

from ..judge.test_aws_events import ACCOUNT, AMI, OTHER, REGION, state_change

TOPIC = "arn:aws:sns:us-east-1:137112412989:amazon-linux-2023-ami-updates"
WATCHES = [
    {"name": "golden", "owners": ["self"], "regions": [REGION, "us-east-1"]},
    {"name": "tagged", "owners": ["self"], "filters": {"tag:team": ["platform"]},
     "regions": [REGION]},
    {"name": "al2023", "owners": ["amazon"], "filters": {"name": ["al2023-ami-2023.*"]},
     "refreshOn": [TOPIC]},
]  # fmt: skip
SETTINGS = Settings.from_env({
    "AMIWATCH_TABLE": "t", "AMIWATCH_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
    "AMIWATCH_BUS_NAME": "amiwatch", "AWS_REGION": "us-east-1",
    "AMIWATCH_WATCHES": json.dumps(WATCHES),
})  # fmt: skip


class Context:
    function_name, aws_request_id = "amiwatch", "req-1"


class Runner:
    """Records what the consumer asked for; `outcome` decides each target's result."""

    def __init__(self, outcome=lambda target: "ok") -> None:
        self.outcome = outcome
        self.calls: list[tuple[str, str, str, tuple[str, ...] | None]] = []
        self.reported: list[tuple[str, str]] = []
        self.targets: set[tuple[str, str, str]] = set()  # organisation accounts made targets

    def is_target(self, watch: str, account: str, region: str) -> bool:
        return (watch, account, region) in self.targets

    def run(
        self, ref: TargetRef, target: Target, ids: tuple[str, ...] | None, scan_id: str | None
    ) -> WatchResult:
        self.calls.append((target.watch, target.account, target.region, ids))
        status = self.outcome(target)
        result = WatchResult(target.watch, target.account, target.region, status=status)
        if status == "incomplete":
            raise PublishIncomplete(result)
        if status == "crash":
            raise RuntimeError("EC2 throttled us")
        return result

    def report(self, target: Target, outcome: WatchResult | Exception, full: bool) -> None:
        what = outcome.status if isinstance(outcome, WatchResult) else type(outcome).__name__
        self.reported.append((target.watch, what))


def batch(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m{n}", "receiptHandle": f"h{n}", "body": body,
                         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                         "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:refresh"}
                        for n, body in enumerate(bodies)]}  # fmt: skip


def consume_with(runner: Runner, event: dict[str, Any]):
    return consume(event, Context(), SETTINGS, runner.run, ("aws", ACCOUNT), runner.report,
                   runner.is_target)  # fmt: skip


def test_a_batch_refreshes_each_target_once_with_the_union_of_its_ids():
    runner = Runner()
    event = batch(state_change(AMI), state_change(OTHER), state_change(AMI, state="disabled"))

    response, tally = consume_with(runner, event)

    assert response == {"batchItemFailures": []}
    assert sorted(runner.calls) == [
        ("golden", ACCOUNT, REGION, (AMI, OTHER)),
        ("tagged", ACCOUNT, REGION, (AMI, OTHER)),
    ]
    assert (tally.messages, tally.targets, tally.retried, tally.ignored) == (3, 2, 0, {})


def test_a_target_whose_lease_is_held_gets_its_messages_again_and_only_those():
    runner = Runner(lambda target: "locked" if target.region == REGION else "ok")
    elsewhere = state_change(OTHER, region="us-east-1")

    response, tally = consume_with(runner, batch(state_change(AMI), elsewhere))

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert tally.retried == 1


def test_a_failed_publish_or_a_crash_in_one_target_re_drives_its_messages_not_the_batch():
    runner = Runner(lambda target: {"golden": "incomplete", "tagged": "crash"}[target.watch])
    elsewhere = state_change(OTHER, region="us-east-1")

    response, _ = consume_with(runner, batch(state_change(AMI), elsewhere))

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}
    assert sorted(runner.reported) == [
        ("golden", "incomplete"), ("golden", "incomplete"), ("tagged", "RuntimeError")
    ]  # fmt: skip


def test_a_malformed_or_unwatched_message_is_acknowledged_and_counted_not_retried():
    runner = Runner()
    unwatched = state_change(AMI, account="999999999999")
    event = batch("{oops", state_change(AMI), unwatched, state_change(AMI, source="aws.s3"))

    response, tally = consume_with(runner, event)

    assert response == {"batchItemFailures": []}
    assert len(runner.calls) == 2
    assert tally.ignored == {"malformed": 1, "no-watch": 1, "unexpected-source": 1}


def test_a_vendor_notice_runs_a_full_scan_of_each_target_of_the_watches_on_its_topic():
    runner = Runner()
    notice = json.dumps({"Type": "Notification", "TopicArn": TOPIC, "Message": "released"})
    stray = json.dumps({"Type": "Notification", "TopicArn": TOPIC + "-other", "Message": "x"})

    response, tally = consume_with(runner, batch(notice, stray))

    assert runner.calls == [("al2023", ACCOUNT, "us-east-1", None)]
    assert response == {"batchItemFailures": []} and tally.ignored == {"no-watch": 1}


def test_only_a_batch_of_sqs_records_is_a_queue_event():
    assert is_queue_event(batch(state_change()))
    assert not is_queue_event({"watches": ["golden"]})
    assert not is_queue_event({"Records": [{"eventSource": "aws:sns"}]})
    assert not is_queue_event({"Records": []})


ORG_SETTINGS = Settings.from_env({
    "AMIWATCH_TABLE": "t", "AMIWATCH_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
    "AMIWATCH_BUS_NAME": "amiwatch", "AWS_REGION": "us-east-1", "AMIWATCH_EXTERNAL_ID": "x-id",
    "AMIWATCH_WATCHES": json.dumps([
        {"name": "fleet", "owners": ["self"], "regions": [REGION],
         "accounts": [{"organization": True}]},
        *WATCHES,
    ]),
})  # fmt: skip


def test_each_bad_record_is_one_bad_record_and_the_rest_of_the_batch_is_served():
    runner = Runner()
    nested = "[" * 100_000 + "]" * 100_000
    listed = json.dumps({"source": "aws.ec2", "region": REGION, "account": ACCOUNT,
                         "detail-type": "AWS API Call via CloudTrail",
                         "detail": {"eventName": "CreateTags",
                                    "requestParameters": {"resourcesSet": [AMI]}}})  # fmt: skip
    event = batch("placeholder", nested, listed, state_change(OTHER))
    event["Records"][0]["body"] = None

    response, tally = consume_with(runner, event)

    assert response == {"batchItemFailures": []}
    assert sorted(runner.calls) == [("golden", ACCOUNT, REGION, (AMI, OTHER)),
                                    ("tagged", ACCOUNT, REGION, (AMI, OTHER))]  # fmt: skip
    assert tally.ignored == {"malformed": 2}


def test_a_throttled_target_check_retries_only_the_messages_of_that_account_and_region():
    runner = Runner()

    def throttled(watch: str, account: str, region: str) -> bool:
        if account == "444455556666":
            raise RuntimeError("ProvisionedThroughputExceededException")
        return True

    member = state_change(OTHER, account="444455556666")
    response, tally = consume(batch(member, state_change(AMI)), Context(), ORG_SETTINGS,
                              runner.run, ("aws", ACCOUNT), runner.report, throttled)  # fmt: skip

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert ("golden", ACCOUNT, REGION, (AMI,)) in runner.calls
    assert tally.retried == 1
