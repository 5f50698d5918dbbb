"""Day one (issue 24): what a person meets at the terminal, each as one line and a documented
exit code, never a traceback; `amiwatch status` judged by cdk.json's schedule; `test-alert`."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import jsonschema
import pytest

from amiwatch import __version__
from amiwatch.aws import clients
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.entry import alert_cli, cli, status
from amiwatch.entry.cli import EXIT_AWS, EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_OK, guarded, main
from amiwatch.model.contract import Target
from amiwatch.model.schema import event_schema
from devtools.local_aws import ACCOUNT, REGION, LocalAws

from .conftest import WATCHES, register

ROOT = Path(__file__).resolve().parents[2]


def cdk_json(tmp_path: Path, **amiwatch: object) -> Path:
    config = tmp_path / "cdk.json"
    config.write_text(json.dumps({"context": {"amiwatch": {"watches": WATCHES, **amiwatch}}}))
    return config


def real_run(aws: LocalAws, config: Path) -> list[str]:
    return ["--config", str(config), "--table", aws.table_name, "--topic-arn", aws.topic_arn,
            "--bus-name", aws.bus_name]  # fmt: skip


def test_aws_region_is_the_region_when_no_flag_and_no_aws_default_region(
    aws, tmp_path, monkeypatch
):
    register(aws, "golden-a")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)

    code = main(["--config", str(cdk_json(tmp_path)), "--dry-run"])

    assert code == EXIT_OK
    assert clients.client("ec2").meta.region_name == REGION


def test_a_dry_run_says_dry_run_and_would_be_recorded(aws, tmp_path, capsys):
    register(aws, "golden-a")

    main(["--config", str(cdk_json(tmp_path)), "--dry-run", "--region", REGION])
    out = capsys.readouterr().out.splitlines()

    assert out[0] == "DRY RUN: nothing is written or published"
    [row] = [line for line in out if line.startswith("baseline ")]
    assert row.endswith("would be recorded as the baseline, no event")


def test_a_run_that_finds_the_lease_taken_says_so_in_a_line(aws, tmp_path, capsys):
    register(aws, "golden-a")
    target = Target("golden", ACCOUNT, REGION)
    store = DynamoSnapshotStore(aws.client("dynamodb"), aws.table_name, target)
    assert store.acquire_lease("scheduled-run", datetime.now(UTC), 960)

    code = main([*real_run(aws, cdk_json(tmp_path)), "--region", REGION])
    err = capsys.readouterr().err

    assert code == EXIT_OK
    assert "golden: another run holds this target's lease" in err
    assert "recorded nothing" in err


@pytest.mark.parametrize(("typed", "said"), [
    ("stauts", 'unknown command "stauts" (did you mean "status"?)'),
    ("doctr", 'unknown command "doctr" (did you mean "doctor"?)'),
    ("frobnicate", 'unknown command "frobnicate" (commands: status, forecast, doctor, test-alert)'),
])  # fmt: skip
def test_a_mistyped_command_says_which_one_was_meant(capsys, typed, said):
    assert main([typed]) == EXIT_CONFIG
    assert capsys.readouterr().err.strip() == f"amiwatch: {said}"


def test_version_and_a_usage_that_names_the_subcommands(capsys):
    with pytest.raises(SystemExit) as shown:
        main(["--version"])
    assert shown.value.code == 0 and capsys.readouterr().out.strip() == f"amiwatch {__version__}"

    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out.split("\n\n", 1)[0]
    assert "amiwatch {status,forecast,doctor,test-alert} [options]" in usage


def test_ctrl_c_is_one_line_and_exit_130(aws, tmp_path, capsys, monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_watch", interrupted)
    code = guarded(lambda: main([*real_run(aws, cdk_json(tmp_path)), "--region", REGION]))
    err = capsys.readouterr().err.strip()

    assert code == EXIT_INTERRUPTED == 130
    assert err == ("amiwatch: interrupted: nothing unrecorded is lost, the next run finds those "
                   "changes again")  # fmt: skip


def test_an_endpoint_without_a_scheme_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "localhost:5000")

    code = guarded(lambda: main(["--config", str(cdk_json(tmp_path)), "--dry-run",
                                 "--region", REGION]))  # fmt: skip

    assert code == EXIT_AWS
    assert capsys.readouterr().err.strip() == (
        "amiwatch: the endpoint 'localhost:5000' (AWS_ENDPOINT_URL or --endpoint-url) is not a "
        "URL: write it with its scheme, e.g. http://localhost:5000"
    )


class BrokenXml(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(500)
        self.send_header("Content-Type", "text/xml")
        self.end_headers()
        self.wfile.write(b"<Error><Code>Internal")

    def log_message(self, *_args: object) -> None:
        pass


def test_an_endpoint_answering_500_with_no_aws_response_is_one_line(tmp_path, capsys, monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), BrokenXml)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(clients, "RETRY", clients.RETRY.merge(
        clients.Config(retries={"max_attempts": 1})))  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")

    code = main(["--config", str(cdk_json(tmp_path)), "--dry-run", "--region", REGION])
    server.shutdown()
    err = capsys.readouterr().err.strip()

    assert code == EXIT_AWS
    assert err.startswith("amiwatch: the endpoint answered with something that is not an AWS "
                          "response (Unable to parse response (no element found")  # fmt: skip
    assert "\n" not in err


def test_a_real_run_piped_into_head_still_records_what_it_delivered(moto_endpoint, tmp_path):
    aws = LocalAws.provision(endpoint_url=moto_endpoint, subscribers=True)
    images = [register(aws, f"golden-{n:03d}") for n in range(120)]  # > 64 KiB of JSON lines
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_endpoint, "AWS_DEFAULT_REGION": REGION,
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # fmt: skip
    command = " ".join(["amiwatch", *real_run(aws, cdk_json(tmp_path)), "--json"])

    script = f'{command} | head -1; echo "exit ${{PIPESTATUS[0]}}" >&2'
    piped = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                           timeout=120, check=False)  # fmt: skip

    assert len(piped.stdout.splitlines()) == 1
    assert "Traceback" not in piped.stderr
    assert "the output was closed (broken pipe); the run went on" in piped.stderr
    assert piped.stderr.strip().endswith("exit 0")
    recorded = DynamoSnapshotStore(aws.client("dynamodb"), aws.table_name,
                                   Target("golden", ACCOUNT, REGION)).load()  # fmt: skip
    assert recorded is not None and set(images) <= set(recorded.entries)


def test_status_exits_1_when_no_target_has_run_yet(aws, tmp_path, capsys):
    code = status.main(["--config", str(cdk_json(tmp_path)), "--table", aws.table_name,
                        "--region", REGION])  # fmt: skip

    assert code == status.EXIT_STALE == 1
    assert capsys.readouterr().out.startswith("no targets have run yet")


@pytest.mark.parametrize(("schedule", "state"), [("rate(1 day)", "ok"), ("rate(1 hour)", "stale")])
def test_status_judges_staleness_by_the_cdk_json_schedule(aws, tmp_path, capsys, schedule, state):
    register(aws, "golden-a")
    config = cdk_json(tmp_path, schedule=schedule)
    main([*real_run(aws, config), "--region", REGION])
    ddb = aws.client("dynamodb")
    five_hours_ago = (datetime.now(UTC) - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for item in ddb.scan(TableName=aws.table_name)["Items"]:
        if "lastSuccessAt" in item:
            ddb.update_item(TableName=aws.table_name, Key={"pk": item["pk"], "sk": item["sk"]},
                            UpdateExpression="SET lastSuccessAt = :t",
                            ExpressionAttributeValues={":t": {"S": five_hours_ago}})  # fmt: skip
    capsys.readouterr()

    code = status.main(["--config", str(config), "--table", aws.table_name, "--region", REGION])

    assert capsys.readouterr().out.splitlines()[1].split()[0] == state
    assert code == (EXIT_OK if state == "ok" else status.EXIT_STALE)


def stack_with_outputs(aws: LocalAws, **outputs: str) -> None:
    """A CloudFormation stack in moto whose outputs are the ones named (moto deploys none of
    amiwatch's resource types: LocalAws made them)."""
    template = {"Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {k: {"Value": v} for k, v in outputs.items()}}  # fmt: skip
    aws.client("cloudformation").create_stack(
        StackName="AmiWatch", TemplateBody=json.dumps(template)
    )


def test_a_test_alert_reaches_the_bus_the_topic_and_chat_with_the_contract(aws, tmp_path, capsys):
    aws.attach_people(aws.chat_topic_arn)
    stack_with_outputs(aws, BusName=aws.bus_name, TopicArn=aws.topic_arn,
                       ChatTopicArn=aws.chat_topic_arn)  # fmt: skip

    code = alert_cli.main(["--config", str(cdk_json(tmp_path)), "--region", REGION])
    out = capsys.readouterr().out

    assert code == EXIT_OK
    [event] = aws.bus_events()
    assert event["detail-type"] == "AMI Watch Test" and event["source"] == "amiwatch"
    detail = event["detail"]
    jsonschema.validate(detail, event_schema())
    assert (detail["change"], detail["image"], detail["watch"]) == ("test", None, "golden")
    [message] = aws.topic_messages()
    assert message["detail"] == detail and message["attributes"]["change"] == "test"
    [email] = aws.people_messages()  # an email subscription's default filter policy lets it in
    assert email["subject"] == f"[amiwatch] Test alert: watch golden {REGION}"
    [chat] = aws.chat_messages()
    assert chat["content"]["title"] == "NOTICE: amiwatch test alert (watch golden)"
    assert f"eventId {detail['eventId']}" in out


def test_a_test_alert_to_a_stack_without_the_outputs_names_them(aws, tmp_path, capsys):
    stack_with_outputs(aws, RoleArn="arn:aws:iam::123456789012:role/AmiWatchMember")

    code = alert_cli.main(["--config", str(cdk_json(tmp_path)), "--region", REGION])

    assert code == EXIT_AWS and aws.bus_events() == []
    assert capsys.readouterr().err.strip() == (
        "amiwatch: stack AmiWatch has no output BusName or TopicArn: pass the watcher stack with "
        "--stack (AmiWatch by default), or --bus-name and --topic-arn"
    )


def test_a_test_alert_to_a_stack_that_is_not_there_is_one_line(aws, tmp_path, capsys):
    code = alert_cli.main(["--config", str(cdk_json(tmp_path)), "--region", REGION])

    assert code == EXIT_AWS
    assert capsys.readouterr().err.strip() == (
        f"amiwatch: no stack AmiWatch in {REGION}: pass --stack and --region of the deployed "
        "stack, or --bus-name and --topic-arn"
    )
