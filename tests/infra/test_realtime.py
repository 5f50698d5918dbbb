"""Near-real-time in the template: the refresh queue, what feeds it, and the member forwarder."""

from __future__ import annotations

import json

from amiwatch.judge.aws_events import IMAGE_CALLS
from tests.synth import AL2023_TOPIC, TEST_CONTEXT, synthesize


def test_the_refresh_queue_is_encrypted_outlives_a_run_and_gives_up_into_an_alarmed_dlq(
    synthesized,
):
    queue_id, queue = synthesized.one("AWS::SQS::Queue", "WatcherRefreshQueue")
    dlq_id, _ = synthesized.one("AWS::SQS::Queue", "WatcherRefreshDeadLetters")
    [function] = synthesized.resources("AWS::Lambda::Function").values()
    alarms = [
        a["Properties"]
        for a in synthesized.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]

    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["VisibilityTimeout"] == 6 * function["Properties"]["Timeout"]
    assert queue["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}, "maxReceiveCount": 8
    }  # fmt: skip
    watched = [a["Dimensions"][0]["Value"] for a in alarms]
    assert {"Fn::GetAtt": [dlq_id, "QueueName"]} in watched
    assert synthesized.template["Outputs"]["RefreshQueueName"]["Value"] == {
        "Fn::GetAtt": [queue_id, "QueueName"]
    }


def test_the_watcher_reads_the_queue_in_batches_and_reports_partial_failures(synthesized):
    queue_id, _ = synthesized.one("AWS::SQS::Queue", "WatcherRefreshQueue")
    source = {"Fn::GetAtt": [queue_id, "Arn"]}
    [mapping] = [m for m in synthesized.resources("AWS::Lambda::EventSourceMapping").values()
                 if m["Properties"]["EventSourceArn"] == source]  # fmt: skip

    assert mapping["Properties"] == {
        "BatchSize": 100,
        "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
        "FunctionName": mapping["Properties"]["FunctionName"],
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "MaximumBatchingWindowInSeconds": 5,
        "ScalingConfig": {"MaximumConcurrency": 2},  # two: the rest is the scans' share
    }


def test_both_event_kinds_reach_the_queue_from_the_default_bus(synthesized, template):
    queue_id, _ = synthesized.one("AWS::SQS::Queue", "WatcherRefreshQueue")
    to_queue = [{"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}, "Id": "Target0"}]

    template.has_resource_properties("AWS::Events::Rule", {
        "EventPattern": {"source": ["aws.ec2"], "detail-type": ["EC2 AMI State Change"]},
        "Targets": to_queue, "EventBusName": "default"})  # fmt: skip
    template.has_resource_properties("AWS::Events::Rule", {
        "EventPattern": {"source": ["aws.ec2"], "detail-type": ["AWS API Call via CloudTrail"],
                         "detail": {"eventSource": ["ec2.amazonaws.com"],
                                    "eventName": list(IMAGE_CALLS)}},
        "Targets": to_queue, "EventBusName": "default"})  # fmt: skip


def test_member_accounts_may_put_events_on_the_intake_bus(synthesized):
    bus_id, bus = synthesized.one("AWS::Events::EventBus", "WatcherIntakeBus")
    [policy] = synthesized.resources("AWS::Events::EventBusPolicy").values()
    statement = policy["Properties"]["Statement"]

    assert bus["Properties"]["Name"] == "amiwatch-test-intake"
    assert statement["Action"] == "events:PutEvents"
    assert statement["Principal"] == {"AWS": "*"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:PrincipalAccount": ["111111111111", "222222222222"]}
    }
    assert statement["Resource"] == {"Fn::GetAtt": [bus_id, "Arn"]}


def test_a_vendor_topic_named_in_refresh_on_is_subscribed_in_its_own_region(synthesized):
    queue_id, _ = synthesized.one("AWS::SQS::Queue", "WatcherRefreshQueue")
    [subscription] = [s["Properties"] for s in synthesized.resources("AWS::SNS::Subscription")
                      .values() if s["Properties"]["Protocol"] == "sqs"]  # fmt: skip
    [policy] = [p for k, p in synthesized.resources("AWS::SQS::QueuePolicy").items()
                if k.startswith("WatcherRefreshQueuePolicy")]  # fmt: skip
    [from_topic] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
                    if s.get("Principal") == {"Service": "sns.amazonaws.com"}]  # fmt: skip

    assert subscription == {"Endpoint": {"Fn::GetAtt": [queue_id, "Arn"]}, "Protocol": "sqs",
                            "Region": "us-east-1", "TopicArn": AL2023_TOPIC}  # fmt: skip
    assert from_topic["Condition"] == {"ArnEquals": {"aws:SourceArn": AL2023_TOPIC}}


def test_the_member_forwarder_sends_each_event_kind_to_the_intake_bus_through_a_role(synthesized):
    forwarder = synthesized.member_events_template
    rules = {k: v for k, v in forwarder["Resources"].items() if v["Type"] == "AWS::Events::Rule"}
    [(role_id, role)] = [(k, v) for k, v in forwarder["Resources"].items()
                         if v["Type"] == "AWS::IAM::Role"]  # fmt: skip
    bus_arn = {"Fn::Sub": [
        "arn:${AWS::Partition}:events:${Region}:${Account}:event-bus/${Bus}",
        {"Region": {"Ref": "WatcherRegion"}, "Account": {"Ref": "WatcherAccountId"},
         "Bus": {"Ref": "IntakeBusName"}}]}  # fmt: skip

    assert set(forwarder["Parameters"]) >= {
        "WatcherAccountId", "WatcherRegion", "IntakeBusName", "CloudTrailEvents"
    }  # fmt: skip
    assert forwarder["Parameters"]["IntakeBusName"]["Default"] == "amiwatch-intake"
    for rule in rules.values():
        [target] = rule["Properties"]["Targets"]
        assert target["Arn"] == bus_arn
        assert target["RoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
        assert "EventBusName" not in rule["Properties"]  # the region's default bus
    assert sorted(r.get("Condition", "always") for r in rules.values()) == [
        "ForwardApiCalls", "ForwardApiCalls", "always"
    ]  # fmt: skip
    [policy] = role["Properties"]["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": bus_arn}
    ]
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_without_near_real_time_there_is_no_queue_and_without_cloudtrail_one_rule(tmp_path):
    def synth(**overrides):
        context = json.loads(json.dumps(TEST_CONTEXT))
        context["amiwatch"] = {"watches": [{"name": "golden", "owners": ["self"]}], **overrides}
        return synthesize(context, tmp_path / json.dumps(overrides).replace('"', ""))

    off = synth(nearRealTime=False).template["Resources"].values()
    state_only = synth(cloudTrailEvents=False)

    assert not [r for r in off if r["Type"] in ("AWS::SQS::Queue", "AWS::Events::Rule")
                and "Refresh" in json.dumps(r)]  # fmt: skip
    mappings = [r for r in off if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert [m["Properties"]["BatchSize"] for m in mappings] == [1]  # the target queue only
    patterns = [r["Properties"]["EventPattern"]["detail-type"]
                for r in state_only.resources("AWS::Events::Rule").values()]  # fmt: skip
    assert patterns == [["EC2 AMI State Change"]]
    assert "IntakeBusArn" not in state_only.template["Outputs"]  # one account, one region
