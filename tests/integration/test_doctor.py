"""`amiwatch doctor` against a deployment in moto: the synthesized stack's own policies answer
IAM's simulator (devtools/doubles/iam_simulation.py), the real handler answers the Lambda
invoke in this process, EC2 answers dry runs as AWS does; the rest is moto."""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from amiwatch.entry import cli, doctor
from amiwatch.entry.handler import handler
from amiwatch.model import defaults
from amiwatch.model.errors import ConfigError
from amiwatch.wiring.orders import ORDERS
from devtools.doubles.deployed_function import InProcessFunction, answer_dry_runs
from devtools.doubles.iam_simulation import PolicySimulator
from devtools.doubles.image_visibility import Ec2Visibility
from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_parameter
from tests.synth import TEST_CONTEXT

from .conftest import FakeLambdaContext

ROOT = Path(__file__).resolve().parents[2]
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:AmiWatch-WatcherFunction"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/AmiWatch-WatcherRole2FDAA555-X1"
MEMBERS = ("111111111111", "222222222222")


@dataclass
class Deployment:
    aws: LocalAws
    config: Path
    iam: PolicySimulator
    function: InProcessFunction
    undo: list[Any] = field(default_factory=list)

    def clients(self, service: str, region: str | None = None) -> Any:
        if service == "iam":
            return self.iam
        if service == "lambda":
            return self.function
        return boto3.client(service, region_name=region or REGION)


def logical(synthesized: Any, kind: str, prefix: str) -> str:
    logical_id, _ = synthesized.one(kind, prefix)
    return logical_id


@pytest.fixture
def deployed(aws, lambda_env, synthesized, tmp_path, monkeypatch) -> Any:
    """What `npx cdk deploy AmiWatch` leaves, for TEST_CONTEXT's watches, in moto."""
    config = {"context": {"amiwatch": TEST_CONTEXT["amiwatch"]}}
    (tmp_path / "cdk.json").write_text(json.dumps(config))
    lambda_env.write_text(json.dumps({"watches": TEST_CONTEXT["amiwatch"]["watches"]}))
    monkeypatch.setenv("AMIWATCH_EXTERNAL_ID", TEST_CONTEXT["amiwatch"]["externalId"])
    sqs, events = aws.client("sqs"), aws.client("events")
    queue_url = sqs.create_queue(QueueName="AmiWatch-TargetQueue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]  # fmt: skip
    alarm_topic = aws.client("sns").create_topic(Name="AmiWatch-Alarms")["TopicArn"]
    bus_arn = events.describe_event_bus(Name=aws.bus_name)["Arn"]
    intake = events.create_event_bus(Name="amiwatch-test-intake")["EventBusArn"]
    events.put_permission(EventBusName="amiwatch-test-intake", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "cdk-MemberAccountsForwardAmiEvents", "Effect": "Allow",
            "Principal": {"AWS": "*"}, "Action": "events:PutEvents", "Resource": intake,
            "Condition": {"StringEquals": {"aws:PrincipalAccount": list(MEMBERS)}}}]}))  # fmt: skip
    outputs = {"FunctionName": FUNCTION.rsplit(":", 1)[-1], "TableName": aws.table_name,
               "TopicArn": aws.topic_arn, "ChatTopicArn": aws.chat_topic_arn,
               "AlarmTopicArn": alarm_topic, "BusName": aws.bus_name, "BusArn": bus_arn,
               "TargetQueueName": "AmiWatch-TargetQueue", "IntakeBusArn": intake}  # fmt: skip
    template = {"Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {k: {"Value": v} for k, v in outputs.items()}}  # fmt: skip
    aws.client("cloudformation").create_stack(
        StackName="AmiWatch", TemplateBody=json.dumps(template)
    )
    scheduler = aws.client("scheduler")
    for watch in TEST_CONTEXT["amiwatch"]["watches"]:
        for order in ("dispatch", "forecast"):
            scheduler.create_schedule(
                Name=f"{order}-{watch['name']}", ScheduleExpression="rate(30 minutes)",
                FlexibleTimeWindow={"Mode": "OFF"},
                Target={"Arn": FUNCTION, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
                        "Input": json.dumps({order: {"watch": watch["name"]}})},
            )  # fmt: skip
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName="AmiWatch-StaleTargets", MetricName="StaleTargets", Namespace="amiwatch",
        Dimensions=[{"Name": "service", "Value": "amiwatch"}], Statistic="Maximum", Period=1800,
        EvaluationPeriods=5, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[alarm_topic],
    )  # fmt: skip
    aws.client("s3").create_bucket(Bucket="trail-logs")
    trail = aws.client("cloudtrail")
    trail.create_trail(Name="org-trail", S3BucketName="trail-logs", IsMultiRegionTrail=True)
    trail.start_logging(Name="org-trail")
    trail.put_event_selectors(TrailName="org-trail", EventSelectors=[
        {"ReadWriteType": "All", "IncludeManagementEvents": True}])  # fmt: skip
    set_parameter(
        defaults.powertools_parameter(doctor.version("aws-lambda-powertools")),
        f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3:1",
    )
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b0e7c3e-0000-4000-8000-00000000beef"
    aws.client("sns").set_topic_attributes(TopicArn=aws.topic_arn, AttributeName="KmsMasterKeyId",
                                           AttributeValue=key_arn)  # fmt: skip
    arns = {
        logical(synthesized, "AWS::KMS::Key", "WatcherKey"): key_arn,
        logical(synthesized, "AWS::DynamoDB::Table", "WatcherSnapshot"):
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{aws.table_name}",
        logical(synthesized, "AWS::SNS::Topic", "WatcherTopic"): aws.topic_arn,
        logical(synthesized, "AWS::SNS::Topic", "WatcherChatTopic"): aws.chat_topic_arn,
        logical(synthesized, "AWS::Events::EventBus", "WatcherBus"): bus_arn,
        logical(synthesized, "AWS::SQS::Queue", "WatcherTargetQueue"): queue_arn,
    }  # fmt: skip
    role = logical(synthesized, "AWS::IAM::Role", "WatcherRole")
    iam = PolicySimulator.from_template(synthesized.template, {role: ROLE}, arns, ACCOUNT, REGION)
    _, resource = synthesized.one("AWS::Lambda::Function")
    environment = {k: v for k, v in resource["Properties"]["Environment"]["Variables"].items()
                   if isinstance(v, str)}  # fmt: skip
    function = InProcessFunction(FUNCTION, ROLE, lambda payload: handler(
        payload, FakeLambdaContext(invoked_function_arn=FUNCTION)), environment)  # fmt: skip
    deployment = Deployment(aws, tmp_path / "cdk.json", iam, function)
    deployment.undo.append(Ec2Visibility(ACCOUNT, REGION).install_for_new_clients())
    yield deployment
    for undo in deployment.undo:
        undo()


def run_doctor(deployment: Deployment, monkeypatch: pytest.MonkeyPatch, *flags: str) -> int:
    monkeypatch.setattr(doctor, "any_client", lambda service, region=None:
                        deployment.clients(service, region))  # fmt: skip
    return cli.main(["doctor", "--config", str(deployment.config), "--region", REGION, *flags])


def lines(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    out = capsys.readouterr().out.splitlines()
    return {line.split(":", 1)[0][2:]: line for line in out if line[:2] in ("✓ ", "✗ ")}


def test_a_healthy_deployment_passes_every_check(deployed, monkeypatch, capsys):
    deployed.undo.append(answer_dry_runs(own_access_key=os.environ["AWS_ACCESS_KEY_ID"]))

    code = run_doctor(deployed, monkeypatch)
    said = lines(capsys)

    assert code == 0, "\n".join(said.values())
    assert set(said) == {"stack", "watcher role", "powertools layer", "schedules",
                         "stale-targets alarm", "cloudtrail eu-west-1", "cloudtrail us-east-1",
                         "intake bus", "targets of al2023", "targets of golden",
                         "targets of fleet"}  # fmt: skip
    assert all(line.startswith("✓ ") for line in said.values())
    assert "may call all 26 actions a run calls" in said["watcher role"]
    assert (
        "6 of 6 readable as the watcher role; Allowed AMIs disabled in 6"
        in said["targets of fleet"]
    )
    assert "admits the 2 member accounts" in said["intake bus"]
    # Bounded: one invoke per watch; the simulator a call per resource group, not per target.
    assert [p["doctor"]["watch"] for p in deployed.function.invocations] == [
        "al2023",
        "golden",
        "fleet",
    ]
    assert deployed.iam.calls <= 10
    assert deployed.function.configuration_calls == 1  # asked once, for every check


def test_a_permission_missing_from_the_watcher_role_is_named_with_the_fix(deployed, monkeypatch,
                                                                          capsys):  # fmt: skip
    deployed.undo.append(answer_dry_runs(own_access_key=os.environ["AWS_ACCESS_KEY_ID"]))
    deployed.iam = deployed.iam.without(ROLE, "ec2:DescribeLaunchTemplateVersions")

    code = run_doctor(deployed, monkeypatch)
    line = lines(capsys)["watcher role"]

    assert code == 1
    assert line.startswith("✗ watcher role: AmiWatch-WatcherRole2FDAA555-X1 may not call "
                           "ec2:DescribeLaunchTemplateVersions (implicitDeny)")  # fmt: skip
    assert "-> redeploy this version" in line


def test_a_topic_key_the_watcher_role_may_not_use_is_named(deployed, monkeypatch, capsys):
    deployed.undo.append(answer_dry_runs(own_access_key=os.environ["AWS_ACCESS_KEY_ID"]))
    deployed.iam = deployed.iam.without(ROLE, "kms:GenerateDataKey")

    code = run_doctor(deployed, monkeypatch)
    line = lines(capsys)["watcher role"]

    assert code == 1
    assert "kms:GenerateDataKey (implicitDeny) on arn:aws:kms:" in line


def test_a_member_role_that_refuses_an_action_names_the_accounts(deployed, monkeypatch, capsys):
    deployed.undo.append(
        answer_dry_runs(os.environ["AWS_ACCESS_KEY_ID"], denied_to_members={"ec2:GetImageFindings"})
    )

    code = run_doctor(deployed, monkeypatch)
    said = lines(capsys)

    assert code == 1
    line = said["targets of fleet"]
    assert line.startswith("✗ targets of fleet: 4 of 6 failed: ")
    assert "111111111111 / us-east-1: dry run refused ec2:GetImageFindings" in line
    assert "-> deploy or update the AmiWatchMemberRole stack" in line
    assert said["targets of golden"].startswith("✓ ")


def test_a_function_older_than_the_doctor_is_not_invoked(deployed, monkeypatch, capsys):
    deployed.function.environment.pop("AMIWATCH_ORDERS")  # as deployed before this version

    code = run_doctor(deployed, monkeypatch)
    line = lines(capsys)["targets of golden"]

    assert code == 1 and deployed.function.invocations == []
    assert line == (
        "✗ targets of golden: the deployed function predates `amiwatch doctor` and "
        "cannot check its targets -> redeploy this version (npx cdk deploy AmiWatch)"
    )


def test_the_function_refuses_an_order_it_does_not_know_instead_of_running_everything(
    deployed, aws
):  # fmt: skip
    with pytest.raises(ConfigError, match='the event holds "doktor", which this version does not'):
        handler({"doktor": {"watch": "golden"}}, FakeLambdaContext(invoked_function_arn=FUNCTION))

    assert aws.bus_events() == []
    assert set(ORDERS) == set(defaults.ORDERS)


def test_a_watch_the_deployment_does_not_have_says_which_cdk_json(deployed, monkeypatch, capsys):
    config = json.loads(deployed.config.read_text())
    config["context"]["amiwatch"]["watches"].append({"name": "not-deployed", "owners": ["self"]})
    deployed.config.write_text(json.dumps(config))

    code = run_doctor(deployed, monkeypatch)
    line = lines(capsys)["targets of not-deployed"]

    assert code == 1
    assert line.startswith("✗ targets of not-deployed: the function failed: event names unknown "
                           "watches: not-deployed -> is --config the cdk.json this stack was "
                           "deployed from?")  # fmt: skip


def test_no_trail_and_no_alarm_fail_with_what_to_do(deployed, monkeypatch, capsys):
    deployed.undo.append(answer_dry_runs(own_access_key=os.environ["AWS_ACCESS_KEY_ID"]))
    deployed.aws.client("cloudtrail").stop_logging(Name="org-trail")
    deployed.aws.client("cloudwatch").delete_alarms(AlarmNames=["AmiWatch-StaleTargets"])

    code = run_doctor(deployed, monkeypatch, "--json")
    out = [line for line in capsys.readouterr().out.splitlines() if line.startswith('{"name"')]
    checks = {c["name"]: c for c in map(json.loads, out)}

    assert code == 1
    assert checks["cloudtrail us-east-1"]["ok"] is False
    assert checks["cloudtrail us-east-1"]["detail"] == (
        "no trail logs write management events in us-east-1 (found: org-trail (off))"
    )
    assert "cloudTrailEvents false" in checks["cloudtrail us-east-1"]["fix"]
    assert checks["stale-targets alarm"] == {
        "name": "stale-targets alarm",
        "ok": False,
        "detail": "no alarm on amiwatch StaleTargets",
        "fix": "redeploy (npx cdk deploy AmiWatch)",
    }


def test_no_stack_is_the_one_check_and_says_how_to_deploy(aws, tmp_path, monkeypatch, capsys):
    (tmp_path / "cdk.json").write_text(
        json.dumps({"context": {"amiwatch": TEST_CONTEXT["amiwatch"]}})
    )
    monkeypatch.setattr(doctor, "any_client", lambda service, region=None: aws.client(service))

    code = cli.main(["doctor", "--config", str(tmp_path / "cdk.json"), "--region", REGION])

    assert code == 1
    assert capsys.readouterr().out.strip() == (
        f"✗ stack: no stack AmiWatch in {ACCOUNT} / {REGION} -> deploy it (npx cdk deploy "
        "AmiWatch), or pass --stack and --region of the deployed stack"
    )


def test_the_quickstart_commands_run_as_written(deployed, monkeypatch, capsys):
    """docs/quickstart.md's doctor and test-alert lines, parsed as a shell would, run here."""
    deployed.undo.append(answer_dry_runs(own_access_key=os.environ["AWS_ACCESS_KEY_ID"]))
    monkeypatch.chdir(deployed.config.parent)
    monkeypatch.setenv("AWS_REGION", REGION)
    quickstart = (ROOT / "docs" / "quickstart.md").read_text()
    commands = [line.split("#", 1)[0].strip() for line in quickstart.splitlines()
                if line.startswith(("amiwatch doctor", "amiwatch test-alert"))]  # fmt: skip
    assert len(commands) == 2
    monkeypatch.setattr(doctor, "any_client", lambda service, region=None:
                        deployed.clients(service, region))  # fmt: skip

    codes = [cli.main(shlex.split(command)[1:]) for command in commands]

    assert codes == [0, 0], capsys.readouterr()
    assert deployed.aws.bus_events()[-1]["detail-type"] == "AMI Watch Test"


def test_troubleshooting_has_an_entry_per_check_and_per_exit_code(deployed, monkeypatch, capsys):
    deployed.undo.append(answer_dry_runs(own_access_key=os.environ["AWS_ACCESS_KEY_ID"]))
    run_doctor(deployed, monkeypatch)
    checks = {name.split(" ", 1)[0] if name.startswith(("cloudtrail", "targets")) else name
              for name in lines(capsys)}  # fmt: skip
    entries = {line.removeprefix("#### ").replace("\\<", "<").replace("\\>", ">")
               for line in (ROOT / "docs" / "operations.md").read_text().splitlines()
               if line.startswith("#### ")}  # fmt: skip

    named = {e.split(" ", 1)[0] if e.startswith(("cloudtrail", "targets")) else e for e in entries}
    assert checks <= named
    assert {"exit 0", "exit 1", "exit 2", "exit 3", "exit 130"} <= entries
    assert {cli.EXIT_INTERRUPTED, doctor.EXIT_FAILED} == {130, 1}
