#!/usr/bin/env python3
"""CDK entry point: validate the `amiwatch` context of cdk.json, compose the stacks, run cdk-nag."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "lambdas"))

# The constructs as a library (`amiwatch_cdk` when installed); importing them first sets jsii's
# environment (no Node 20 banner, no deprecation warning that is cdk-nag's own).
import aws_cdk as cdk  # noqa: E402

from amiwatch.model.errors import check_placement  # noqa: E402
from infra import (  # noqa: E402
    WATCHER_STACK_NAME,
    AmiWatchMemberEventsStack,
    AmiWatchMemberRoleStack,
    AmiWatchStack,
    ConfigError,
    apply_checks,
    load_app_config,
)


def build_app(context: dict | None = None, outdir: str | None = None) -> cdk.App:
    """The CDK app; raises ConfigError naming the bad field before any construct is made.

    Run by the CDK CLI, context comes from the CLI; run directly (`python app.py`, tests),
    it is read from cdk.json unless given.
    """
    if context is None and "CDK_CONTEXT_JSON" not in os.environ:
        context = json.loads((HERE / "cdk.json").read_text())["context"]
    app = cdk.App(context=context, outdir=outdir)
    raw = app.node.try_get_context("amiwatch")
    if raw is None:
        check_placement(json.loads((HERE / "cdk.json").read_text()))
    config = load_app_config(raw)
    # Account and region come from the CDK CLI's environment; without them the stack is
    # environment-agnostic. Synth never calls STS.
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    AmiWatchStack(
        app, WATCHER_STACK_NAME, config=config, env=env, description="amiwatch AMI watcher"
    )
    AmiWatchMemberRoleStack(
        app,
        "AmiWatchMemberRole",
        env=env,
        description="amiwatch member role: lets the watcher account read AMIs and their usage",
    )
    AmiWatchMemberEventsStack(
        app,
        "AmiWatchMemberEvents",
        env=env,
        description="amiwatch member events: forwards this region's AMI events to the watcher",
    )
    apply_checks(app)
    return app


def main() -> int:
    try:
        app = build_app()
    except ConfigError as exc:
        # The message names the field (amiwatch.schedule ...), so it does not start "amiwatch:".
        print(f"invalid configuration in cdk.json: {exc}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
