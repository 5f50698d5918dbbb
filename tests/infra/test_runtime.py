"""The Lambda runs what the tests ran: the pinned SDK in the asset, the pinned Powertools layer,
and a first log line that says which versions were loaded."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from botocore.session import get_session

from amiwatch.aws.clients import EC2_OPERATIONS, RUNTIME_SERVICES
from infra.runtime import BUNDLED_SERVICES, pinned_versions

from .conftest import Synthesized

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
import boto3, botocore, botocore.session
model = botocore.session.get_session().get_service_model("ec2")
describe = model.operation_model("DescribeImages").input_shape.members
print(json.dumps({
    "botocore_file": botocore.__file__, "botocore": botocore.__version__,
    "boto3": boto3.__version__, "operations": sorted(model.operation_names),
    "describe_images_params": sorted(describe),
    "services": sorted(botocore.session.get_session().get_available_services()),
}))
"""


def probe_asset(asset: Path) -> dict:
    """Load botocore the way the Lambda will: the asset's own copy, first on the path."""
    answer = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60,
        env={"PYTHONPATH": str(asset), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        cwd=asset,
    )  # fmt: skip
    return json.loads(answer.stdout)


def test_the_asset_ships_the_pinned_sdk_with_the_ec2_model_the_code_calls(synthesized):
    loaded = probe_asset(synthesized.asset_dir)
    pins = pinned_versions()

    assert loaded["botocore_file"].startswith(str(synthesized.asset_dir))
    assert (loaded["boto3"], loaded["botocore"]) == (pins["boto3"], pins["botocore"])
    assert set(loaded["operations"]) >= EC2_OPERATIONS
    assert "DescribeImageReferences" in loaded["operations"]  # what "who is hit" will call
    assert {"IncludeDeprecated", "IncludeDisabled", "ImageIds"} <= set(
        loaded["describe_images_params"]
    )
    assert set(loaded["services"]) == BUNDLED_SERVICES  # pruned to what the code uses
    assert RUNTIME_SERVICES <= BUNDLED_SERVICES


def test_every_ec2_operation_the_code_calls_is_declared():
    ec2 = get_session().get_service_model("ec2")
    by_method = {ec2_name_of(op): op for op in ec2.operation_names}
    source = "\n".join(p.read_text() for p in (ROOT / "lambdas" / "amiwatch").rglob("*.py"))
    called = set(re.findall(r'ec2\.get_paginator\("(\w+)"\)', source))
    called |= set(re.findall(r"\bec2\.(\w+)\(", source)) - {"get_paginator"}

    assert called, "the pattern must find the EC2 calls"
    assert {by_method[name] for name in called} <= EC2_OPERATIONS


def ec2_name_of(operation: str) -> str:
    from botocore import xform_name

    return str(xform_name(operation))


def test_a_cold_start_first_logs_the_versions_it_loaded(synthesized: Synthesized):
    code = "import amiwatch.entry.handler"
    # Powertools comes from the layer in Lambda; here, from the test environment's site-packages,
    # after the asset (as /opt/python comes after /var/task).
    site = next(Path(sys.prefix).glob("lib/python3.*/site-packages"))
    env = {
        "PYTHONPATH": f"{synthesized.asset_dir}:{site}", "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1",
    }  # fmt: skip

    started = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
        env=env, cwd=synthesized.asset_dir,
    )  # fmt: skip
    first = json.loads(started.stdout.splitlines()[0])
    pins = pinned_versions()

    assert first["message"] == "amiwatch cold start"
    assert first["powertools"] == pins["aws-lambda-powertools"]
    assert (first["boto3"], first["botocore"]) == (pins["boto3"], pins["botocore"])
    assert first["amiwatch"]
