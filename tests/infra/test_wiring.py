"""The synthesized pieces fit: resources built from the template, the handler from the asset.

Nothing is deployed. The template's table, topic and bus are created in a moto server from the
template's own properties; the Lambda's environment is resolved against them; the handler is
imported from the asset directory in cdk.out (in a separate process, so nothing from lambdas/
can leak in) and invoked; the events are read back through SNS->SQS and bus->SQS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import jsonschema

from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_image

from .conftest import Synthesized

INVOKE = """
import json, sys
import amiwatch
from amiwatch.entry.handler import handler

class Context:
    function_name = "amiwatch"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:{region}:{account}:function:amiwatch"
    aws_request_id = sys.argv[1]

results = [handler(event, Context()) for event in json.loads(sys.argv[2])]
print("RESULT " + json.dumps({{"results": results, "module": amiwatch.__file__}}))
"""
PSEUDO = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}


def resolve(value: Any) -> Any:
    """Resolve the pseudo-parameter Refs and Fn::Join the template uses for its own env."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in PSEUDO:
        return PSEUDO[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve(p) for p in parts)
    return value


def queued_scans(environment: dict[str, str], endpoint: str) -> list[dict[str, Any]]:
    """What the event source mapping hands the function, one message per invocation (its
    batch size is 1): every scan the dispatcher put on the target queue, taken off it."""
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
    url = environment["AMIWATCH_TARGET_QUEUE_URL"]
    events = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return events
        for m in messages:
            events.append({"Records": [{
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"], "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {}, "eventSource": "aws:sqs", "awsRegion": REGION,
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:wiring-targets"}]})  # fmt: skip
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def schedule_events(synthesized: Synthesized, kind: str = "dispatch") -> list[dict[str, Any]]:
    """What each schedule of this kind sends the Lambda, resolved as EventBridge Scheduler
    would (its context attribute replaced by the schedule's time)."""
    sent = [
        json.loads(resolve(s["Properties"]["Target"]["Input"]).replace(
            "<aws.scheduler.scheduled-time>", SCHEDULED_AT))
        for s in synthesized.resources("AWS::Scheduler::Schedule").values()
    ]  # fmt: skip
    return [event for event in sent if kind in event]


SCHEDULED_AT = "2026-12-07T08:00:00Z"


def build_from_template(synthesized: Synthesized, endpoint: str) -> dict[str, str]:
    """Create the stateful resources the Lambda uses; map logical ids to physical names."""
    make = lambda s: boto3.client(s, region_name=REGION, endpoint_url=endpoint)  # noqa: E731
    table_id, table = synthesized.one("AWS::DynamoDB::Table")
    props = table["Properties"]
    make("dynamodb").create_table(
        TableName="wiring-snapshot",
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
        BillingMode=props["BillingMode"],
    )
    queue_id, _ = synthesized.one("AWS::SQS::Queue", "WatcherTargetQueue")
    queue_url = make("sqs").create_queue(QueueName="wiring-targets")["QueueUrl"]
    [(topic_id, topic)] = [
        (k, v)
        for k, v in synthesized.resources("AWS::SNS::Topic").items()
        if v["Properties"]["DisplayName"] == "amiwatch"
    ]
    topic_arn = make("sns").create_topic(
        Name="wiring-topic", Attributes={"DisplayName": topic["Properties"]["DisplayName"]}
    )["TopicArn"]
    [chat_id] = [k for k, v in synthesized.resources("AWS::SNS::Topic").items()
                 if v["Properties"]["DisplayName"] == "amiwatch chat"]  # fmt: skip
    chat_arn = make("sns").create_topic(Name="wiring-chat")["TopicArn"]
    bus_id, bus = synthesized.one("AWS::Events::EventBus", "WatcherBus")
    make("events").create_event_bus(Name=bus["Properties"]["Name"])
    return {
        table_id: "wiring-snapshot",
        topic_id: topic_arn,
        chat_id: chat_arn,
        bus_id: bus["Properties"]["Name"],
        queue_id: queue_url,
    }


def resolve_environment(synthesized: Synthesized, physical: dict[str, str]) -> dict[str, str]:
    _, function = synthesized.one("AWS::Lambda::Function")
    resolved = {}
    for name, value in function["Properties"]["Environment"]["Variables"].items():
        if isinstance(value, dict):
            assert set(value) == {"Ref"}, f"{name}: cannot resolve {value}"
            resolved[name] = physical[value["Ref"]]
        else:
            resolved[name] = value
    return resolved


def invoke(
    synthesized: Synthesized,
    environment: dict[str, str],
    endpoint: str,
    request: str,
    tmp_path: Any,
    events: list[dict[str, Any]],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(synthesized.asset_dir),
        "LAMBDA_TASK_ROOT": str(synthesized.asset_dir),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **environment,
    }
    script = INVOKE.format(region=REGION, account=ACCOUNT)
    run = subprocess.run(
        [sys.executable, "-c", script, request, json.dumps(events)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    [result] = [json.loads(line[len("RESULT ") :]) for line in lines if line.startswith("RESULT ")]
    emf = [json.loads(line) for line in lines if '"_aws"' in line]
    return result, emf


def test_the_synthesized_handler_runs_against_the_synthesized_resources(
    synthesized, moto_endpoint, tmp_path
):
    physical = build_from_template(synthesized, moto_endpoint)
    environment = resolve_environment(synthesized, physical)
    readers = LocalAws.attach(
        REGION,
        moto_endpoint,
        environment["AMIWATCH_TABLE"],
        environment["AMIWATCH_TOPIC_ARN"],
        environment["AMIWATCH_BUS_NAME"],
    )
    readers.attach_people(environment["AMIWATCH_CHAT_TOPIC_ARN"])
    ec2 = readers.client("ec2")
    image_id = ec2.register_image(Name="golden-2026-11")["ImageId"]
    ending = ec2.register_image(Name="golden-2026-10")["ImageId"]
    ec2.create_tags(Resources=[image_id, ending], Tags=[{"Key": "team", "Value": "platform"}])
    soon = datetime.now(UTC) + timedelta(days=5)
    set_image(ending, deprecation_time=soon.strftime("%Y-%m-%dT%H:%M:%S.000Z"))

    events = schedule_events(synthesized)

    def period(
        name: str, kind: str = "dispatch"
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        """The schedules fire (the dispatcher enqueues), then the mapping runs every scan."""
        fired = schedule_events(synthesized, kind)
        dispatched, emf = invoke(synthesized, environment, moto_endpoint, name, tmp_path, fired)
        scans = queued_scans(environment, moto_endpoint)
        ran, _ = invoke(synthesized, environment, moto_endpoint, name, tmp_path, scans)
        return dispatched, ran["results"], emf

    dispatched, answers, _ = period("baseline")
    set_image(
        image_id, state="failed", state_reason={"Code": "Server.InternalError", "Message": "boom"}
    )
    _, second_answers, emf = period("second")
    bus, topic = readers.bus_events(), readers.topic_messages()
    chat, people = readers.chat_messages(), readers.people_messages()

    assert dispatched["module"].startswith(str(synthesized.asset_dir))
    assert sorted(e["dispatch"]["watch"] for e in events) == ["al2023", "fleet", "golden"]
    assert sorted(r["watch"] for r in dispatched["results"]) == ["al2023", "fleet", "golden"]
    assert sum(r["enqueued"] for r in dispatched["results"]) == 8  # al2023, golden, fleet x 6
    assert len(answers) == len(second_answers) == 8  # one invocation per target's scan
    assert all(a == {"batchItemFailures": []} for a in answers + second_answers)
    where = sorted((e["detail"]["watch"], e["detail"]["account"], e["detail"]["region"])
                   for e in bus)  # fmt: skip
    assert where == [("fleet", ACCOUNT, REGION), ("golden", ACCOUNT, REGION)]
    assert [e["detail-type"] for e in bus] == ["AMI Failed", "AMI Failed"]
    assert {e["detail"]["image"]["ImageId"] for e in bus} == {image_id}
    assert sorted(m["detail"]["eventId"] for m in topic) == sorted(
        e["detail"]["eventId"] for e in bus
    )
    assert topic[0]["attributes"]["state_reason_code"] == "Server.InternalError"
    assert sorted(c["id"] for c in chat) == sorted(e["detail"]["eventId"] for e in bus)
    assert chat[0]["content"]["title"].startswith("CRITICAL: AMI failed: golden-2026-11")
    assert [m["attributes"]["delivery"] for m in people] == ["each", "each"]
    validate_against_registry(synthesized, bus)
    stale_dims = stale_alarm_dimensions(synthesized)
    assert stale_dims in emitted_dimensions(emf, "StaleTargets")

    # The forecast schedules: each target's forecast from its snapshot, people once per watch.
    forecast, orders, _ = period("forecast", "forecast")
    forecasts, told = readers.bus_events(), readers.people_messages()

    assert sorted(r["forecast"]["watch"] for r in forecast["results"]) == sorted(e["dispatch"][
        "watch"] for e in events)  # fmt: skip
    assert len(orders) == 8 and all(a == {"batchItemFailures": []} for a in orders)
    assert {(e["detail-type"], e["detail"]["watch"], e["detail"]["period"]) for e in forecasts} == {
        ("AMI Forecast", "golden", SCHEDULED_AT),
        ("AMI Forecast", "fleet", SCHEDULED_AT),
    }
    # moto has no DescribeImageReferences: usage is unknown, so the row stays and says why.
    assert {e["detail"]["rows"][0]["image"]["ImageId"] for e in forecasts} == {ending}
    assert all(e["detail"]["rows"][0]["usage"]["error"] for e in forecasts)
    assert sorted(m["detail"]["watch"] for m in told) == ["fleet", "golden"]
    assert {m["attributes"]["change"] for m in told} == {"forecast"}
    validate_against_registry(synthesized, forecasts)


def validate_against_registry(synthesized: Synthesized, events: list[dict[str, Any]]) -> None:
    """Each event validates against its detail type's registry schema, and not another's."""
    schemas = {
        s["Properties"]["SchemaName"]: json.loads(s["Properties"]["Content"])
        for s in synthesized.resources("AWS::EventSchemas::Schema").values()
    }
    for received in events:
        # moto 5.2.5 leaves `account` out of the envelope it hands to SQS; EventBridge sets it.
        event = {"account": ACCOUNT, **received}
        name = "amiwatch@" + event["detail-type"].replace(" ", "")
        jsonschema.Draft4Validator(schemas[name]).validate(event)
        other = schemas["amiwatch@AMINew"]
        assert not jsonschema.Draft4Validator(other).is_valid(event)


def stale_alarm_dimensions(synthesized: Synthesized) -> dict[str, str]:
    """The dimensions the one stale-targets alarm watches (the dispatcher must emit them)."""
    [props] = [a["Properties"] for a in synthesized.resources("AWS::CloudWatch::Alarm").values()
               if a["Properties"].get("MetricName") == "StaleTargets"]  # fmt: skip
    return {d["Name"]: resolve(d["Value"]) for d in props["Dimensions"]}


def emitted_dimensions(emf: list[dict[str, Any]], metric: str) -> list[dict[str, str]]:
    found = []
    for blob in emf:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            if any(m["Name"] == metric for m in directive["Metrics"]):
                found.extend({d: blob[d] for d in group} for group in directive["Dimensions"])
    return found
