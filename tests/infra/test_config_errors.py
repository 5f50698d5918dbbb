"""Bad configuration fails synth with a message that names the field; nag enforces too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import aws_sns as sns

from amiwatch.model.errors import ConfigError
from amiwatch.model.schedule import Heartbeat
from infra.config.cdk_json import load_app_config

from .conftest import TEST_CONTEXT

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = {"name": "golden", "owners": ["self"]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"schedule": "every hour"}, 'amiwatch.schedule "every hour" is not "rate(N unit)"'),
        ({"schedule": "rate(1 hours)"}, 'use "rate(1 hour)" for one'),
        ({"schedule": "rate(5 minute)"}, '"rate(N minutes)" for more'),
        ({"schedule": "cron(0 * * *)"}, "cron needs 6 fields (minutes hours day-of-month"),
        ({"forecastSchedule": "weekly"}, 'amiwatch.forecastSchedule "weekly" is not "rate(N'),
        ({"forecastSchedule": "cron(0 8 * * MON *)"}, "amiwatch.forecastSchedule"),
        ({"forecastSchedule": True}, "amiwatch.forecastSchedule must be a rate() or cron() "
         "expression, or false for no forecast, got true"),
        ({"forecastDays": 0}, "amiwatch.forecastDays must be a whole number of days 1..365"),
        ({"forecastDays": "30"}, 'amiwatch.forecastDays must be a whole number of days 1..365, '
         'got "30"'),
        ({"fixGraceDays": -1}, "amiwatch.fixGraceDays must be a whole number of days 0..365"),
        ({"forecastQuiet": "no"}, 'amiwatch.forecastQuiet must be true or false, got "no"'),
        ({"chatChanges": ["forcast"]}, 'unknown change "forcast" (did you mean "forecast"?)'),
        ({"emails": ["not-an-address"]}, 'amiwatch.emails[0]: "not-an-address" is not an email'),
        ({"emails": [{"address": "a@example.com", "filterPolicy": {"kind": ["failed"]}}]},
         'amiwatch.emails[0].filterPolicy: unknown attribute "kind"'),
        ({"emails": [{"address": "a@example.com", "filter": {}}]}, "amiwatch.emails[0]: use"),
        ({"emails": [{"address": "a@example.com", "filterPolicy": {"delivery": ["each"]}}]},
         'amiwatch.emails[0].filterPolicy: "delivery" is set by amiwatch'),
        ({"emails": [{"address": "a@example.com", "filterPolicy": {
            k: ["x"] for k in ("change", "watch", "region", "account", "state")}}]},
         "amiwatch.emails[0].filterPolicy: at most 4 attributes"),
        ({"emails": [{"address": "a@example.com", "filterPolicy": {
            "image_id": [f"ami-{i}" for i in range(20)], "region": [f"r{i}" for i in range(8)]}}]},
         "amiwatch.emails[0].filterPolicy (a@example.com): 168 value combinations"),
        # 100 combinations of its own, but SNS receives both $or branches: 100 + 100.
        ({"emails": [{"address": "b@example.com", "filterPolicy": {
            "change": ["new", "failed", "disabled", "deprecated", "updated"],
            "region": [f"r{i}" for i in range(20)]}}]},
         "amiwatch.emails[0].filterPolicy (b@example.com): 200 value combinations in the policy "
         "SNS receives (yours, plus the digest branch amiwatch adds), SNS allows 150"),
        ({"schedule": "cron(0 9 * * * *)"},
         'exactly one of day-of-month and day-of-week must be ? (got "*" and "*")'),
        ({"schedule": "cron(a b c d e f)"}, 'minutes "a" is not valid'),
        ({"schedule": "cron(0 25 * * ? *)"}, 'hours "25" is not valid (allowed: 0-23'),
        ({"busName": "a" * 65}, "use 1-64 letters, digits"),
        ({"busName": "aws.partner"}, 'names starting with "aws." are reserved'),
        ({"emails": ["a@example.com", "A@example.com"]},
         "amiwatch.emails[1]: A@example.com is listed twice"),
        ({"emails": [{"address": "a@example.com", "filterPolicy": {"change": ["faild"]}}]},
         'amiwatch.emails[0].filterPolicy "change": no message carries "faild" '
         '(did you mean "failed"?)'),
        ({"emails": [{"address": "a@example.com", "filterPolicy": {"severity": ["CRITICAL"]}}]},
         'amiwatch.emails[0].filterPolicy "severity": no message carries "CRITICAL" '
         '(did you mean "critical"?)'),
        ({"watches": [{"name": "golden", "owners": ["self"], "vulnerableAt": "severe"}]},
         '"vulnerableAt" "severe" is not a severity (one of informational, low, medium, high, '
         'critical)'),
        ({"emails": [{"address": "a@example.com", "filterPolicy": {"chnage": ["failed"]}}]},
         'amiwatch.emails[0].filterPolicy: unknown attribute "chnage" (did you mean "change"?)'),
        ({"emails": ["oncall@example.com\n"]}, "is not an email address"),
        ({"watches": [{"name": "golden\n", "owners": ["self"]}]}, '"name" must match'),
        ({"watches": [{"name": "golden", "owners": ["111122223333\n"]}]},
         '"owners" has invalid value "111122223333\\n"'),
        ({"watches": [{"name": "golden", "imageIds": ["ami-12345678\n"]}]},
         '"imageIds" has invalid value'),
        ({"watches": [{"name": "golden", "owners": ["\u0661" * 12]}]},
         '"owners" has invalid value'),  # Arabic-Indic digits are not an account id
        ({"watches": [{"name": "golden", "owners": ["self"],
                       "filters": {"name": [f"n{i}" for i in range(150)],
                                   "tag:team": [f"t{i}" for i in range(51)]}}]},
         '"filters" has 201 values in all; EC2 accepts at most 200'),
        ({"heartbeatPeriodMinutes": 5000},
         "amiwatch.heartbeatPeriodMinutes 5000: the alarm watches two such periods and "
         "CloudWatch evaluates at most 7 days, so the largest is 4320"),
        ({"busName": "default"}, 'amiwatch.busName "default" is not a custom bus name'),
        ({"logRetentionDays": 10}, "amiwatch.logRetentionDays must be one of"),
        ({"timeoutSeconds": 1000}, "amiwatch.timeoutSeconds must be a whole number 60..900"),
        ({"shedule": "rate(1 hour)"}, 'amiwatch: unknown key "shedule"'),
        ({"watches": [{"name": "golden"}]}, 'watch "golden": has no scope'),
        ({"chatChanges": ["failed", "updated:Name"]},
         'amiwatch.chatChanges: unknown change "updated:Name"'),
        ({"chatChanges": "failed"}, "amiwatch.chatChanges must be a list of change kinds"),
        ({"slack": {"workspaceId": "T0123ABCD"}}, "amiwatch.slack.channelId is required"),
        ({"slack": {"workspaceId": "t-lower", "channelId": "C1"}},
         'amiwatch.slack.workspaceId "t-lower" does not match'),
        ({"teams": {"teamId": "x", "tenantId": "y", "channelId": "z", "channel": "c"}},
         'amiwatch.teams: unknown key "channel"'),
        ({"teams": {"teamId": "0a1b2c3d-0000-4000-8000-0123456789ab",
                    "tenantId": "9f8e7d6c-0000-4000-8000-0123456789ab", "channelId": "general"}},
         'amiwatch.teams.channelId "general" does not match'),
        ({"digestThreshold": 0}, "amiwatch.digestThreshold must be a whole number 1..100000"),
        ({"watches": [{**GOLDEN, "regions": ["eu-wset-1"]}]},
         'watch "golden": unknown region "eu-wset-1" (did you mean "eu-west-1"?)'),
        ({"watches": [{**GOLDEN, "regions": ["Frankfurt"]}]},
         'watch "golden": "regions" has invalid region name "Frankfurt"'),
        ({"watches": [{**GOLDEN, "accounts": [{"id": "1234"}]}]},
         'watch "golden": "accounts"[0].id must be a 12-digit account id, got "1234"'),
        ({"watches": [{**GOLDEN, "accounts": ["self", "self"]}]},
         'watch "golden": "accounts" lists an account twice'),
        ({"watches": [{**GOLDEN, "accounts": [{"id": "111111111111"}]}]},
         'amiwatch.externalId is required: watch "golden" reads other accounts'),
        ({"concurrency": 1}, "amiwatch.concurrency 1 leaves no room for the target queue"),
        ({"concurrency": 4, "targetConcurrency": 5},
         "amiwatch.targetConcurrency 5 is more than amiwatch.concurrency 4"),
        ({"organizationRoleArn": "arn:aws:iam::123:role/x"},
         'amiwatch.organizationRoleArn "arn:aws:iam::123:role/x" is not an IAM role ARN'),
        ({"watches": [{**GOLDEN, "accounts": [{"organization": True}]}]},
         'amiwatch.externalId is required: watch "golden" reads other accounts'),
        ({"watches": [{**GOLDEN, "accounts": [{"organizationalUnit": "ou-ab12-cdef3456"}]}],
          "externalId": "x1"},
         'watch "golden" reads accounts of an organisation scope, whose AMI events the intake '
         "bus could not admit"),
        ({"refreshBatchingWindowSeconds": 301},
         "amiwatch.refreshBatchingWindowSeconds must be a whole number 0..300"),
        ({"nearRealTime": "yes"}, "amiwatch.nearRealTime must be true or false"),
        ({"chatCommands": "read-only"}, "amiwatch.chatCommands must be true or false"),
        ({"intakeOrganizationId": "123456789012"},
         'amiwatch.intakeOrganizationId "123456789012" is not an organization id'),
        ({"watches": [{**GOLDEN, "refreshOn": ["amazon-linux-2023-ami-updates"]}]},
         '"refreshOn" has invalid value "amazon-linux-2023-ami-updates"'),
        # Day one (issue 24): what people typed.
        ({"targetMetrics": "no"}, "amiwatch.targetMetrics must be true or false"),
        ({"schedul": "rate(1 hour)"}, 'amiwatch: unknown key "schedul" (did you mean "schedule"?)'),
        ({"watches": [{**GOLDEN, "accounts": [{"id": 111122223333}]}]},
         '"accounts"[0].id must be a string: "111122223333" in quotes'),
        ({"watches": [{**GOLDEN, "accounts": [{"id": 11122223333}]}]}, '"011122223333" in quotes'),
        ({"slack": {"workspaceId": "T0123ABCD", "channelId": "#platform"}},
         'amiwatch.slack.channelId "#platform" is a channel name: use the channel ID'),
        ({"slack": {"workspaceId": "T0123ABCD", "chanelId": "C1"}},
         'amiwatch.slack: unknown key "chanelId" (did you mean "channelId"?)'),
    ],
)  # fmt: skip
def test_each_bad_setting_is_named(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_app_config({"watches": [GOLDEN], **overrides})

    assert message in str(error.value)


@pytest.mark.parametrize(
    ("schedule", "period_minutes", "periods"),
    [
        ("rate(1 hour)", 60, 3),
        ("rate(5 minutes)", 5, 3),
        ("cron(0 6 * * ? *)", 1440, 3),  # daily
        ("cron(0 9,17 * * ? *)", 960, 3),  # twice a day: the 16-hour night is the longest gap
        ("cron(0 9 ? * MON-FRI *)", 1440, 7),  # Friday to Monday: three days
        ("rate(3 days)", 1440, 7),
    ],
)
def test_the_heartbeat_watches_two_of_the_schedule_longest_gaps(schedule, period_minutes, periods):
    heartbeat = load_app_config({"watches": [GOLDEN], "schedule": schedule}).heartbeat

    # Whatever the clock alignment of the periods, the window spans two whole gaps.
    assert heartbeat == Heartbeat(period_minutes, periods)


@pytest.mark.parametrize("schedule", ["rate(4 days)", "cron(0 9 ? * MON *)", "cron(0 0 1 * ? *)"])
def test_schedules_longer_than_cloudwatch_can_watch_have_no_heartbeat(schedule):
    assert load_app_config({"watches": [GOLDEN], "schedule": schedule}).heartbeat is None


def test_synth_of_a_bad_cdk_json_exits_with_the_message_and_no_traceback():
    context = json.loads(json.dumps(TEST_CONTEXT))
    context["amiwatch"]["watches"][1]["filters"] = {"nmae": ["x"]}
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": "/tmp/unused"}

    synth = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], capture_output=True, text=True, env=env,
        check=False, timeout=120,
    )  # fmt: skip

    assert synth.returncode == 1
    assert synth.stderr.strip() == (
        'invalid configuration in cdk.json: watch "golden": unknown filter "nmae" '
        '(did you mean "name"?)'
    )


def test_a_key_far_from_every_known_one_lists_them_all():
    with pytest.raises(ConfigError, match=r'unknown key "zzz" \(known: schedule, watches, '):
        load_app_config({"watches": [GOLDEN], "zzz": 1})


def test_amiwatch_at_the_top_of_cdk_json_says_move_it_under_context():
    from amiwatch.model.errors import check_placement

    with pytest.raises(ConfigError, match=r'top level of cdk\.json.*move it under "context"'):
        check_placement({"app": "sh devtools/cdk_app.sh", "amiwatch": {"watches": []}})


def test_cdk_synth_before_make_venv_says_make_venv_first(tmp_path):
    shutil.copy2(ROOT / "devtools" / "cdk_app.sh", tmp_path / "cdk_app.sh")

    run = subprocess.run(["sh", "cdk_app.sh"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=30, check=False)  # fmt: skip

    assert run.returncode == 1
    assert "run `make venv` first" in run.stderr and "not found" not in run.stderr
    assert json.loads((ROOT / "cdk.json").read_text())["app"] == "sh devtools/cdk_app.sh"


def test_synth_with_an_intake_bus_prints_no_deprecation_warning(tmp_path):
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(TEST_CONTEXT), "CDK_OUTDIR": str(tmp_path)}

    synth = subprocess.run([sys.executable, str(ROOT / "app.py")], capture_output=True, text=True,
                           env=env, check=False, timeout=300)  # fmt: skip

    assert synth.returncode == 0, synth.stderr
    assert "IntakeBus" in (tmp_path / "AmiWatch.template.json").read_text()
    assert "deprecated" not in synth.stderr


def small_context(**amiwatch: object) -> dict:
    """The real cdk.json context (feature flags) with one plain watch: a quick synth."""
    return {**json.loads(json.dumps(TEST_CONTEXT)), "amiwatch": {"watches": [GOLDEN], **amiwatch}}


def test_an_unacknowledged_nag_finding_fails_synth(tmp_path):
    from app import build_app

    app = build_app(context=small_context(), outdir=str(tmp_path))
    sns.Topic(app.node.find_child("AmiWatch"), "PlainTopic")  # no KMS, no SSL enforcement

    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()
    report = (tmp_path / "validation-report.json").read_text()
    assert "AwsSolutions-SNS3" in report and "AmiWatch/PlainTopic" in report


def test_default_concurrency_is_what_the_targets_need_from_four_up_to_ten():
    fleet = {**GOLDEN, "regions": ["us-east-1", "eu-west-1"],
             "accounts": ["self", *({"id": f"{i:012d}"} for i in range(1, 6))]}  # fmt: skip

    organisation = {**GOLDEN, "accounts": [{"organizationalUnit": "ou-ab12-cdef3456"}]}

    assert load_app_config({"watches": [GOLDEN]}).concurrency == 4  # refreshes, scans, dispatch
    assert load_app_config({"watches": [fleet], "externalId": "x1"}).concurrency == 10
    org = {"watches": [organisation], "externalId": "x1", "intakeOrganizationId": "o-abcd123456"}
    assert load_app_config(org).concurrency == 10
    small = load_app_config({"watches": [GOLDEN], "concurrency": 3})
    assert (small.concurrency, small.target_concurrency) == (3, 2)
    assert load_app_config({"watches": [fleet], "externalId": "x1"}).target_concurrency == 7


def test_ten_watches_of_two_thousand_static_targets_are_one_valid_configuration():
    accounts = ["self", *({"id": f"{i:012d}"} for i in range(1, 500))]
    regions = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"]
    watches = [{**GOLDEN, "name": f"w{n}", "accounts": accounts, "regions": regions}
               for n in range(10)]  # fmt: skip

    config = load_app_config({"watches": watches, "externalId": "x1"})

    assert len(config.targets()) == 20_000


def test_a_weekly_schedule_synthesizes_without_a_heartbeat_and_says_why(tmp_path):
    from aws_cdk.assertions import Annotations, Match, Template

    from app import build_app

    app = build_app(context=small_context(schedule="cron(0 6 ? * MON *)"), outdir=str(tmp_path))
    stack = app.node.find_child("AmiWatch")

    alarms = Template.from_stack(stack).find_resources("AWS::CloudWatch::Alarm")
    assert alarms  # the other alarms stay
    assert not [a for a in alarms.values() if a["Properties"].get("MetricName") == "SuccessfulRuns"]
    Annotations.from_stack(stack).has_warning(
        "/AmiWatch/Watcher/Monitoring",
        Match.string_like_regexp("leaves more than 3 days between runs"),
    )


def test_more_members_than_the_intake_bus_can_list_need_the_organisation_or_no_real_time():
    accounts = ["self", *({"id": f"{i:012d}"} for i in range(1, 602))]
    watch = {**GOLDEN, "accounts": accounts}

    with pytest.raises(ConfigError, match=r"601 member accounts.*amiwatch.intakeOrganizationId"):
        load_app_config({"watches": [watch], "externalId": "x1"})
    through_org = {"watches": [watch], "externalId": "x1", "intakeOrganizationId": "o-abcd123456"}
    assert load_app_config(through_org).intake_organization_id == "o-abcd123456"
    assert not load_app_config({**through_org, "nearRealTime": False}).near_real_time
