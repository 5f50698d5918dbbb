"""The `amiwatch` command as people use it: every event printed, why a delivery failed, one line
(not a traceback) for each setup mistake, flags checked as flags."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from amiwatch.aws import clients
from amiwatch.entry.cli import EXIT_AWS, EXIT_CONFIG, EXIT_OK, EXIT_UNDELIVERED, main
from devtools.fleet import serve
from devtools.local_aws import REGION

from .conftest import WATCHES, register

FLEET = {"name": "fleet", "owners": ["self"], "baseline": "events"}


def cdk_json(tmp_path: Path, *watches: dict) -> Path:
    config = tmp_path / "cdk.json"
    config.write_text(json.dumps({"context": {"amiwatch": {"watches": list(watches)}}}))
    return config


@pytest.fixture
def fleet_of_1500(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """EC2 answered by a 1,500-image fleet on 127.0.0.1; the rest (STS) by moto."""
    server, _ = serve(1500)
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", f"http://127.0.0.1:{server.server_address[1]}")
    with mock_aws():
        yield
    server.shutdown()


def test_a_dry_run_prints_every_one_of_1500_changes_as_json(fleet_of_1500, tmp_path, capsys):
    code = main(["--config", str(cdk_json(tmp_path, FLEET)), "--dry-run", "--json",
                 "--region", REGION])  # fmt: skip
    out, err = capsys.readouterr()

    lines = [json.loads(line) for line in out.splitlines()]
    assert code == EXIT_OK
    assert len(lines) == 1500 and {d["change"] for d in lines} == {"new"}
    assert json.loads(err.splitlines()[-1])["changes"] == {"new": 1500}  # the summary, as JSON


def test_a_dry_run_table_prints_every_row(fleet_of_1500, tmp_path, capsys):
    main(["--config", str(cdk_json(tmp_path, FLEET)), "--dry-run", "--region", REGION])
    out = capsys.readouterr().out.splitlines()

    assert out[0] == "DRY RUN: nothing is written or published"
    assert out[1].split() == ["CHANGE", "WATCH", "IMAGE", "NAME", "STATE", "DETAIL"]
    assert len([line for line in out if line.startswith("new ")]) == 1500
    assert json.loads(out[-1])["images"] == 1500


def test_a_dry_run_with_no_snapshot_lists_the_images_it_would_record(aws, tmp_path, capsys):
    images = [register(aws, f"golden-{n}") for n in ("a", "b")]
    config = str(cdk_json(tmp_path, *WATCHES))

    main(["--config", config, "--dry-run", "--region", REGION])
    table = capsys.readouterr().out
    main(["--config", config, "--dry-run", "--json", "--region", REGION])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    rows = [line.split() for line in table.splitlines() if line.startswith("baseline")]
    assert sorted(row[2] for row in rows) == sorted(images)
    assert all(row[:2] == ["baseline", "golden"] and "recorded" in row for row in rows)
    assert sorted(line["image"]["ImageId"] for line in lines) == sorted(images)
    assert all(line["baseline"] is True and line["watch"] == "golden" for line in lines)


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        (["--bus-name", "nope"],
         "eventbridge: ResourceNotFoundException: Event bus nope does not exist"),
        (["--topic-arn", f"arn:aws:sns:{REGION}:123456789012:nope"], "sns topic: NotFound"),
    ],
)  # fmt: skip
def test_why_a_delivery_failed_is_shown(aws, tmp_path, capsys, flags, why):
    register(aws, "golden-a")
    config = str(cdk_json(tmp_path, *WATCHES))
    base = ["--config", config, "--region", REGION, "--table", aws.table_name,
            "--topic-arn", aws.topic_arn, "--bus-name", aws.bus_name]  # fmt: skip
    main(base)  # the baseline
    register(aws, "golden-b")
    capsys.readouterr()

    code = main([*base, *flags])
    out, err = capsys.readouterr()
    summary = json.loads(out.splitlines()[-1])

    assert code == EXIT_UNDELIVERED
    assert "1 of 1 events not delivered" in err and why in err
    assert summary["undelivered"] == 1 and "failed" not in summary
    assert [why in reason for reason in summary["deliveryErrors"]] == [True]


def test_a_missing_table_is_one_line_not_a_traceback(aws, tmp_path, capsys):
    code = main(["--config", str(cdk_json(tmp_path, *WATCHES)), "--dry-run", "--region", REGION,
                 "--table", "no-such-table"])  # fmt: skip
    err = capsys.readouterr().err

    assert code == EXIT_AWS
    assert err.strip().splitlines() == [
        "amiwatch: the snapshot table 'no-such-table' does not exist in this region (or these "
        "credentials cannot see it): pass the stack's TableName output with --table, and the "
        "stack's region with --region"
    ]


def no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # boto3's default session keeps the credentials an earlier test resolved: start afresh.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


def test_no_region_and_no_credentials_are_one_line_each(tmp_path, capsys, monkeypatch):
    no_aws_environment(monkeypatch, tmp_path)
    config = str(cdk_json(tmp_path, *WATCHES))

    no_region = main(["--config", config, "--dry-run"])
    region_err = capsys.readouterr().err
    no_credentials = main(["--config", config, "--dry-run", "--region", REGION])
    credentials_err = capsys.readouterr().err

    assert (no_region, no_credentials) == (EXIT_AWS, EXIT_AWS)
    assert (
        region_err.startswith("amiwatch: no AWS region: pass --region") and region_err[-1] == "\n"
    )
    assert credentials_err.startswith("amiwatch: no AWS credentials: set AWS_PROFILE")
    assert "Traceback" not in region_err + credentials_err


def test_an_unreachable_endpoint_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(clients, "RETRY", clients.RETRY.merge(
        clients.Config(retries={"max_attempts": 1})))  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")

    code = main(["--config", str(cdk_json(tmp_path, *WATCHES)), "--dry-run", "--region", REGION])
    err = capsys.readouterr().err

    assert code == EXIT_AWS
    assert err.startswith("amiwatch: cannot reach http://127.0.0.1:9/: check --region")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "the top level must be an object"),
        ({"context": []}, '"context" must be an object holding "amiwatch"'),
    ],
)
def test_a_config_of_the_wrong_shape_is_named(tmp_path, capsys, document, message):
    config = tmp_path / "cdk.json"
    config.write_text(json.dumps(document))

    code = main(["--config", str(config), "--dry-run"])

    assert code == EXIT_CONFIG
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--digest-threshold", "ten"],
         "--digest-threshold must be a whole number 1..100000, got 'ten'"),
        (["--digest-threshold", "0"],
         "--digest-threshold must be a whole number 1..100000, got '0'"),
        (["--chat-changes", "faild"],
         '--chat-changes: unknown change "faild" (did you mean "failed"?)'),
    ],
)  # fmt: skip
def test_flags_are_checked_as_flags_by_the_rules_of_cdk_json(tmp_path, capsys, flags, message):
    code = main(["--config", str(cdk_json(tmp_path, *WATCHES)), "--dry-run", *flags])
    err = capsys.readouterr().err

    assert code == EXIT_CONFIG
    assert message in err and "AMIWATCH_" not in err


def test_a_vanished_image_is_not_shown_as_available(aws, tmp_path, capsys):
    gone = register(aws, "golden-gone")
    config = str(cdk_json(tmp_path, *WATCHES))
    flags = ["--config", config, "--region", REGION, "--table", aws.table_name,
             "--topic-arn", aws.topic_arn, "--bus-name", aws.bus_name]  # fmt: skip
    main(flags)
    aws.client("ec2").deregister_image(ImageId=gone)
    # moto drops a deregistered image at once: the lookup by id then finds nothing.
    capsys.readouterr()

    main(flags)
    [row] = [line for line in capsys.readouterr().out.splitlines() if gone in line]

    # Its own image: an owner always sees its own, so not finding it means deregistered.
    assert row.split()[:5] == ["deregistered", "golden", gone, "golden-gone", "deregistered"]
    assert "available" not in row
