"""Template assertions on the properties a regression would break."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

from aws_cdk.assertions import Match

from infra.runtime import pinned_versions

from .conftest import TEST_CONTEXT, Synthesized, synthesize
from .test_member import REFERENCE_CHECKS

ROOT = Path(__file__).resolve().parents[2]


def dead_letter_queue_id(synthesized: Synthesized) -> str:
    """The watcher's own DLQ (failed invocations), not the refresh queue's."""
    return next(k for k in synthesized.resources("AWS::SQS::Queue")
                if k.startswith("WatcherDeadLetterQueue"))  # fmt: skip


def ref(synthesized: Synthesized, kind: str, prefix: str = "") -> dict:
    logical_id, _ = synthesized.one(kind, prefix)
    return {"Ref": logical_id}


def test_each_watch_has_one_dispatch_schedule_whatever_its_targets(synthesized):
    function_id, _ = synthesized.one("AWS::Lambda::Function")
    dlq_id = dead_letter_queue_id(synthesized)
    schedules = [s for s in synthesized.resources("AWS::Scheduler::Schedule").values()
                 if "dispatch" in json.loads(s["Properties"]["Target"]["Input"])]  # fmt: skip

    inputs = sorted(json.loads(s["Properties"]["Target"]["Input"])["dispatch"]["watch"]
                    for s in schedules)  # fmt: skip
    assert inputs == ["al2023", "fleet", "golden"]  # fleet has 6 targets: still one schedule
    rules = synthesized.resources("AWS::Events::Rule").values()
    assert not [r for r in rules if "ScheduleExpression" in r["Properties"]]  # Scheduler does it
    for schedule in schedules:
        props = schedule["Properties"]
        assert props["ScheduleExpression"] == "rate(30 minutes)"
        assert props["State"] == "ENABLED"
        assert props["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
        assert props["Target"]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
        assert props["Target"]["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
        assert props["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_each_watch_has_a_weekly_forecast_schedule_that_names_its_period(synthesized):
    function_id, _ = synthesized.one("AWS::Lambda::Function")
    forecasts = [s["Properties"] for s in synthesized.resources("AWS::Scheduler::Schedule").values()
                 if "forecast" in json.loads(s["Properties"]["Target"]["Input"])]  # fmt: skip
    env = synthesized.one("AWS::Lambda::Function")[1]["Properties"]["Environment"]["Variables"]

    orders = sorted(
        (json.loads(p["Target"]["Input"])["forecast"] for p in forecasts),
        key=lambda order: order["watch"],
    )
    assert [o["watch"] for o in orders] == ["al2023", "fleet", "golden"]
    # The schedule's own time: a retried invocation forecasts the same period (same eventIds).
    assert {o["scheduledAt"] for o in orders} == {"<aws.scheduler.scheduled-time>"}
    assert {p["ScheduleExpression"] for p in forecasts} == {"cron(0 8 ? * MON *)"}
    assert all(p["Target"]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]} for p in forecasts)
    assert (env["AMIWATCH_FORECAST_DAYS"], env["AMIWATCH_FIX_GRACE_DAYS"],
            env["AMIWATCH_FORECAST_QUIET"]) == ("30", "14", "true")  # fmt: skip


def test_forecast_schedule_false_leaves_the_forecast_out(tmp_path):
    context = {**TEST_CONTEXT, "amiwatch": {**TEST_CONTEXT["amiwatch"], "forecastSchedule": False}}
    template = synthesize(context, tmp_path).template

    inputs = [
        json.loads(s["Properties"]["Target"]["Input"])
        for s in template["Resources"].values()
        if s["Type"] == "AWS::Scheduler::Schedule"
    ]
    assert inputs and all("dispatch" in i for i in inputs)


def test_the_target_queue_is_consumed_one_scan_at_a_time_with_bounded_concurrency(synthesized):
    queue_id, queue = synthesized.one("AWS::SQS::Queue", "WatcherTargetQueue")
    dlq_id, _ = synthesized.one("AWS::SQS::Queue", "WatcherTargetDeadLetters")
    [mapping] = [m["Properties"] for m in synthesized.resources(
        "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}]  # fmt: skip
    _, function = synthesized.one("AWS::Lambda::Function")
    env = function["Properties"]["Environment"]["Variables"]

    assert mapping["BatchSize"] == 1
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}  # concurrency 4 - 2 refresh
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": [dlq_id, "Arn"]
    }
    assert env["AMIWATCH_TARGET_QUEUE_URL"] == {"Ref": queue_id}
    assert env["AMIWATCH_STALE_AFTER_SECONDS"] == "3600"  # two 30-minute periods
    assert env["AMIWATCH_TARGET_METRICS"] == "true"  # targetMetrics' default


def test_the_role_has_exactly_the_permissions_it_needs(synthesized):
    table_id, _ = synthesized.one("AWS::DynamoDB::Table")
    key_id, _ = synthesized.one("AWS::KMS::Key", "WatcherKey")
    bus_id, _ = synthesized.one("AWS::Events::EventBus", "WatcherBus")
    topics = {v["Properties"]["DisplayName"]: k
              for k, v in synthesized.resources("AWS::SNS::Topic").items()}  # fmt: skip
    [policy] = [p for k, p in synthesized.resources("AWS::IAM::Policy").items()
                if k.startswith("WatcherRoleDefaultPolicy")]  # fmt: skip
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    # (action, resource) pairs: independent of how CDK merges statements.
    granted = {
        (action, json.dumps(resource, sort_keys=True))
        for s in statements
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        for resource in ([s["Resource"]] if not isinstance(s["Resource"], list) else s["Resource"])
    }

    def arn(logical_id):
        return json.dumps({"Fn::GetAtt": [logical_id, "Arn"]}, sort_keys=True)

    dlq_id = dead_letter_queue_id(synthesized)
    log_id, _ = synthesized.one("AWS::Logs::LogGroup")
    refresh_id, _ = synthesized.one("AWS::SQS::Queue", "WatcherRefreshQueue")
    targets_id, _ = synthesized.one("AWS::SQS::Queue", "WatcherTargetQueue")
    expected = {
        # DescribeImageReferences checks the resources with the role's own permissions: the
        # reference checks too (only through EC2, asserted below; they were missing before).
        '"*"': ["ec2:DescribeImageReferences", "ec2:DescribeImages",
                "ec2:GetAllowedImagesSettings", "ec2:GetImageFindings", "xray:PutTelemetryRecords",
                "xray:PutTraceSegments", *REFERENCE_CHECKS["Action"]],
        arn(table_id): [
            "dynamodb:BatchGetItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
        ],
        json.dumps({"Fn::Join": ["", [{"Fn::GetAtt": [table_id, "Arn"]},
                                      "/index/TargetsByWatch"]]}, sort_keys=True): [
            "dynamodb:Query"],
        json.dumps({"Ref": topics["amiwatch"]}): ["sns:Publish"],
        json.dumps({"Ref": topics["amiwatch chat"]}): ["sns:Publish"],
        arn(key_id): ["kms:Decrypt", "kms:GenerateDataKey"],
        arn(bus_id): ["events:PutEvents"],
        arn(log_id): ["logs:CreateLogStream", "logs:PutLogEvents"],
        arn(dlq_id): ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"],
        arn(refresh_id): ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
                          "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
        arn(targets_id): ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
                          "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage",
                          "sqs:SendMessage"],
        **{member_role(account, role): ["sts:AssumeRole"]
           for account, role in [("111111111111", "AmiWatchMember"),
                                 ("222222222222", "AmiWatchReader")]},
    }  # fmt: skip
    assert granted == {(a, resource) for resource, actions in expected.items() for a in actions}
    assert all("*" not in action for action, _ in granted)
    [checks] = [s for s in statements if "ec2:DescribeInstances" in s["Action"]]
    assert checks == REFERENCE_CHECKS  # only through EC2's images service
    role = lambda_role(synthesized)
    assert "ManagedPolicyArns" not in role["Properties"]


def member_role(account, role):
    arn = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::{account}:role/{role}"]]}
    return json.dumps(arn, sort_keys=True)


def lambda_role(synthesized):
    [role] = [
        r
        for r in synthesized.resources("AWS::IAM::Role").values()
        if "lambda.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    return role  # fmt: skip


def test_the_lambda_is_configured_for_large_watches(synthesized, template):
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "Handler": "amiwatch.entry.handler.handler",
            "MemorySize": 1024,
            "Timeout": 900,
            "ReservedConcurrentExecutions": 4,
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": Match.object_like({"LogFormat": "JSON"}),
            "Layers": [{"Ref": Match.string_like_regexp("SsmParameterValue")}],
            "Environment": {
                "Variables": {
                    "AMIWATCH_TABLE": ref(synthesized, "AWS::DynamoDB::Table"),
                    "AMIWATCH_TOPIC_ARN": Match.object_like(
                        {"Ref": Match.string_like_regexp("Topic")}
                    ),
                    "AMIWATCH_BUS_NAME": ref(synthesized, "AWS::Events::EventBus", "WatcherBus"),
                    "AMIWATCH_WATCHES_FILE": "watches.json",
                    "AMIWATCH_LEASE_SECONDS": "960",
                    "POWERTOOLS_SERVICE_NAME": "amiwatch",
                    "POWERTOOLS_METRICS_NAMESPACE": "amiwatch",
                }
            },
        },
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})


def test_the_powertools_layer_is_the_version_the_tests_ran(synthesized):
    _, function = synthesized.one("AWS::Lambda::Function")
    [layer] = function["Properties"]["Layers"]
    parameter = synthesized.template["Parameters"][layer["Ref"]]
    pinned = pinned_versions()["aws-lambda-powertools"]

    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"  # resolved at deploy time
    assert parameter["Default"] == f"/aws/service/powertools/python/arm64/python3.13/{pinned}"
    assert pinned == importlib.metadata.version("aws-lambda-powertools")  # what the tests import


def test_failed_async_invocations_land_in_an_encrypted_dlq(synthesized, template):
    dlq_id = dead_letter_queue_id(synthesized)

    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [dlq_id, "Arn"]}}},
            "MaximumRetryAttempts": 2,
        },
    )
    template.has_resource_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})


def test_the_snapshot_table_is_durable_and_encrypted(template):
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like({
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                              {"AttributeName": "sk", "KeyType": "RANGE"}],
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
            }),
        },
    )  # fmt: skip


def test_topics_are_kms_encrypted_and_refuse_plain_http(synthesized, template):
    key_id, key = synthesized.one("AWS::KMS::Key", "WatcherKey")
    alarm_key_id, alarm_key = synthesized.one("AWS::KMS::Key", "WatcherAlarmKey")
    topics = {v["Properties"]["DisplayName"]: v["Properties"]
              for v in synthesized.resources("AWS::SNS::Topic").values()}  # fmt: skip

    assert set(topics) == {"amiwatch", "amiwatch chat", "amiwatch alarms"}
    assert topics["amiwatch"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert topics["amiwatch chat"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    # Its own key: disabling the events' key by mistake must not silence the alarms too.
    assert topics["amiwatch alarms"]["KmsMasterKeyId"] == {"Fn::GetAtt": [alarm_key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    assert alarm_key["Properties"]["EnableKeyRotation"] is True
    for policy in synthesized.resources("AWS::SNS::TopicPolicy").values():
        [deny] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
                  if s["Effect"] == "Deny"]  # fmt: skip
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    events_principals = [s["Principal"] for s in key["Properties"]["KeyPolicy"]["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} not in events_principals


def test_cloudwatch_alarms_may_publish_to_the_alarm_topic_and_use_its_key(synthesized):
    # The topic's TLS-only policy replaces SNS's default policy (which admitted the account):
    # without these statements no alarm would ever reach anyone.
    topic_id = next(k for k, v in synthesized.resources("AWS::SNS::Topic").items()
                    if v["Properties"]["DisplayName"] == "amiwatch alarms")  # fmt: skip
    [policy] = [p["Properties"]["PolicyDocument"]
                for p in synthesized.resources("AWS::SNS::TopicPolicy").values()
                if p["Properties"]["Topics"] == [{"Ref": topic_id}]]  # fmt: skip
    alarms = synthesized.resources("AWS::CloudWatch::Alarm")
    [publish] = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    _, alarm_key = synthesized.one("AWS::KMS::Key", "WatcherAlarmKey")
    [use_key] = [s for s in alarm_key["Properties"]["KeyPolicy"]["Statement"]
                 if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]  # fmt: skip

    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Action"] == "sns:Publish"
    assert publish["Resource"] == {"Ref": topic_id}
    assert publish["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert publish["Condition"]["ArnLike"]["aws:SourceArn"] == [
        {"Fn::GetAtt": [alarm_id, "Arn"]} for alarm_id in alarms
    ]
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": topic_id}] for a in alarms.values())
    assert use_key["Effect"] == "Allow"
    assert sorted(use_key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]


def test_the_bus_is_named_and_archived(synthesized, template):
    bus_id, _ = synthesized.one("AWS::Events::EventBus", "WatcherBus")

    template.has_resource_properties("AWS::Events::EventBus", {"Name": "amiwatch-test"})
    template.has_resource_properties(
        "AWS::Events::Archive",
        {
            "SourceArn": {"Fn::GetAtt": [bus_id, "Arn"]},
            "EventPattern": {"source": ["amiwatch"]},
            "RetentionDays": 365,
        },
    )


def test_alarms_cover_errors_throttles_duration_dead_letters_and_stale_targets(synthesized):
    alarms = {
        a["Properties"]["AlarmDescription"]: a["Properties"]
        for a in synthesized.resources("AWS::CloudWatch::Alarm").values()
    }
    by_metric = {(p.get("Namespace"), p.get("MetricName")): p for p in alarms.values()
                 if "MetricName" in p}  # fmt: skip
    alarm_topic = next(k for k, v in synthesized.resources("AWS::SNS::Topic").items()
                       if v["Properties"]["DisplayName"] == "amiwatch alarms")  # fmt: skip

    assert by_metric[("AWS/Lambda", "Errors")]["Threshold"] == 1
    assert by_metric[("AWS/Lambda", "Throttles")]["Threshold"] == 1
    assert by_metric[("AWS/Lambda", "Duration")]["Threshold"] == 720_000
    assert by_metric[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]["Threshold"] == 1
    assert by_metric[("amiwatch", "TargetFailures")]["Dimensions"] == [
        {"Name": "service", "Value": "amiwatch"}
    ]
    stale = by_metric[("amiwatch", "StaleTargets")]
    assert stale["Dimensions"] == [{"Name": "service", "Value": "amiwatch"}]
    assert stale["Statistic"] == "Maximum" and stale["Threshold"] == 1
    # Two 30-minute schedule periods plus one: every window covers two whole gaps; no dispatch
    # at all (missing data) is as bad as a stale target.
    assert stale["Period"] == 1800
    assert stale["EvaluationPeriods"] == stale["DatapointsToAlarm"] == 3
    assert stale["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert stale["TreatMissingData"] == "breaching"
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": alarm_topic}]
    # Errors, throttles, duration, three DLQs, target failures, stale targets: not per target.
    assert len(alarms) == 8


def test_email_subscriptions_carry_their_filter_policies(template):
    # Every email subscription skips per-change messages of busy runs and gets their digest.
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "email",
            "Endpoint": "platform@example.com",
            "FilterPolicy": {"delivery": ["each", "digest"]},
            "FilterPolicyScope": "MessageAttributes",
        },
    )
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "email",
            "Endpoint": "oncall@example.com",
            "FilterPolicy": {
                "$or": [
                    {"change": ["failed", "deregistered"], "delivery": ["each"]},
                    {"digest_changes": ["failed", "deregistered"], "delivery": ["digest"]},
                ]
            },
            "FilterPolicyScope": "MessageAttributes",
        },
    )


def test_outputs_have_stable_logical_ids(synthesized):
    assert set(synthesized.template["Outputs"]) == {
        "TopicArn", "ChatTopicArn", "AlarmTopicArn", "BusName", "BusArn", "SchemaRegistryName",
        "TableName", "FunctionName", "RefreshQueueName", "IntakeBusArn", "TargetQueueName",
        "DashboardName",
    }  # fmt: skip


def test_the_asset_ships_the_watch_list_intact(synthesized):
    shipped = json.loads((synthesized.asset_dir / "watches.json").read_text())

    assert [w["name"] for w in shipped["watches"]] == ["al2023", "golden", "fleet"]
    assert shipped["watches"][0]["filters"] == {"name": ["al2023-ami-2023.*-x86_64"]}
    assert (synthesized.asset_dir / "amiwatch" / "entry" / "handler.py").exists()
    assert not list(synthesized.asset_dir.rglob("__pycache__"))


def test_a_watch_list_far_past_4_kb_still_fits_the_environment(tmp_path):
    from .conftest import synthesize

    context = json.loads(json.dumps(TEST_CONTEXT))
    # Few watches (each is a schedule and an alarm to synthesize), long enough to pass 4 KB.
    context["amiwatch"]["watches"] = [
        {"name": f"team-{i:03d}", "owners": ["self"],
         "filters": {"tag:team": [f"team-{i}-{'x' * 150}"]}}
        for i in range(30)
    ]  # fmt: skip
    big = synthesize(context, tmp_path)
    _, function = big.one("AWS::Lambda::Function")
    environment = json.dumps(function["Properties"]["Environment"]["Variables"])
    shipped = json.loads((big.asset_dir / "watches.json").read_text())

    assert len(json.dumps(shipped)) > 4096
    assert len(shipped["watches"]) == 30
    assert len(environment) < 1024


def test_synth_needs_no_lookups(synthesized):
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text())

    assert "missing" not in manifest  # no context lookups: no AWS calls at synth


STACKS = ("AmiWatch", "AmiWatchMemberRole")


def test_cfn_lint_finds_nothing(synthesized):
    templates = [str(synthesized.outdir / f"{s}.template.json") for s in STACKS]
    lint = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--ignore-checks",
            "W3005",
            "--",
            *templates,
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_every_resource_of_the_0_2_template_keeps_its_logical_id(synthesized):
    # A changed logical id makes CloudFormation replace the resource: a new table (the snapshot
    # lost), new topics (subscriptions lost), or a failed deploy for the named bus and registry.
    before = json.loads((Path(__file__).parent / "logical_ids_v0_2.json").read_text())
    now = {k: v["Type"] for k, v in synthesized.template["Resources"].items()}
    # Stateless and per target, replaced by one dispatch schedule per watch and one stale-targets
    # alarm (docs/organizations.md, "Upgrading"): CloudFormation deletes them, nothing is lost.
    per_target = [k for k, kind in before.items()
                  if (kind == "AWS::Scheduler::Schedule" and k.startswith("WatcherSchedule"))
                  or k.startswith("WatcherAlarmNoSuccessfulRun")]  # fmt: skip
    kept = {k: v for k, v in before.items() if k not in per_target}

    assert len(per_target) == 16
    assert {k: now.get(k) for k in kept} == kept
    assert not [k for k in per_target if k in now]


def test_a_parameters_watch_may_read_public_parameters_of_its_regions_only(tmp_path):
    from .conftest import synthesize

    context = json.loads(json.dumps(TEST_CONTEXT))
    context["amiwatch"] = {
        "watches": [
            {
                "name": "eks",
                "regions": ["us-east-1", "eu-west-1"],
                "parameters": ["/aws/service/eks/optimized-ami/1.31/"],
            }
        ]
    }
    small = synthesize(context, tmp_path)
    statements = [s for p in small.resources("AWS::IAM::Policy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]  # fmt: skip
    [ssm] = [s for s in statements if "ssm:GetParametersByPath" in json.dumps(s["Action"])]

    assert ssm["Action"] == ["ssm:GetParameters", "ssm:GetParametersByPath"]
    resources = json.dumps(ssm["Resource"])
    assert resources.count("::parameter/aws/service/*") == 2
    assert "us-east-1" in resources and "eu-west-1" in resources
