"""`amiwatch doctor`: does the deployed stack work? One line per check, ✓ or ✗ with the fix.

With the caller's credentials, in the stack's account and region: the stack's outputs; the
watcher role may call every action a run calls (IAM's policy simulator, the resource checks
DescribeImageReferences makes through EC2 included); Powertools' layer parameter resolves; the
schedules and the StaleTargets alarm exist; a CloudTrail trail logs management events in each
watched region (when the CloudTrail rules are on); the intake bus admits the member accounts.
Then, through the watcher Lambda (as its role, the only one member roles trust), every target:
its role assumed with the external id, EC2's dry runs of what a run calls, its Allowed AMIs.

Read-only. Exit codes: 0 every check passed; 1 some did not (each says how to fix it); 2 a
configuration or flag error; 3 AWS could not be used at all (credentials, region).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib.metadata import version

from amiwatch.aws.clients import any_client, client
from amiwatch.entry.cdk_config import (
    EXIT_AWS,
    EXIT_CONFIG,
    EXIT_OK,
    amiwatch_object,
    deployed_parser,
    fail,
)
from amiwatch.entry.doctor_checks import Check, Doctor
from amiwatch.entry.explain import SETUP_ERRORS, explain_for_cli
from amiwatch.model.errors import ConfigError
from amiwatch.model.watch_config import parse_watches

EXIT_FAILED = 1
PASSED, FAILED = "✓", "✗"


def _parser() -> argparse.ArgumentParser:
    parser = deployed_parser("amiwatch doctor", __doc__)
    add = parser.add_argument
    add("--json", action="store_true", help="one JSON object per check")
    return parser


def main(argv: Sequence[str]) -> int:
    """`amiwatch doctor ...`; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        config = amiwatch_object(args.config)
        watches = parse_watches(config.get("watches"))
    except ConfigError as exc:
        return fail(str(exc), EXIT_CONFIG)
    try:
        sts = client("sts", region=args.region)
        region = sts.meta.region_name
        account = sts.get_caller_identity()["Account"]
    except SETUP_ERRORS as exc:
        return fail(explain_for_cli(exc), EXIT_AWS)
    doctor = Doctor(
        config, watches, args.stack, account, region,
        clients=lambda service, where=None: any_client(service, region=where or region),
        invoke=None,
        powertools=version("aws-lambda-powertools"),
        progress=sys.stderr.isatty(),
    )  # fmt: skip
    checks = doctor.run()
    for check in checks:
        print(json.dumps(check.as_dict()) if args.json else _line(check))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED


def _line(check: Check) -> str:
    mark = PASSED if check.ok else FAILED
    fix = f" -> {check.fix}" if check.fix and not check.ok else ""
    return f"{mark} {check.name}: {check.detail}{fix}"
