"""The checks of `amiwatch doctor`, in the order a broken deployment fails them: each a few
read-only calls (amiwatch.aws.health), each answer one Check with the fix when it failed."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property, partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from amiwatch.aws import health
from amiwatch.aws.clients import (
    IMAGE_REFERENCE_CHECKS,
    IMAGES_SERVICE,
    ORGANIZATION_READ,
    READ_IMAGES,
    SNAPSHOT_ACTIONS,
)
from amiwatch.entry.explain import SETUP_ERRORS, explain_for_cli
from amiwatch.model import defaults
from amiwatch.model.schedule import MAX_HEARTBEAT_GAP_MINUTES, parse_schedule
from amiwatch.model.watches import Watch

REQUIRED_OUTPUTS = ("FunctionName", "TableName", "TopicArn", "ChatTopicArn", "AlarmTopicArn",
                    "BusArn", "TargetQueueName")  # fmt: skip
PROGRESS_ABOVE = 20  # targets: more than this prints a progress line on a terminal
SHOWN_FAILURES = 20  # failing targets listed one per line, then counted
Clients = Callable[..., Any]
Invoke = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True)
class Check:
    """One line of the doctor's answer."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    failures: tuple[str, ...] = ()  # every failing item; the line shows the first SHOWN_FAILURES

    def as_dict(self) -> dict[str, Any]:
        """The --json object: name, ok, detail, fix, and `failures` when there are some."""
        found = asdict(self)
        found["failures"] = list(self.failures)
        return found if self.failures else {k: v for k, v in found.items() if k != "failures"}


class Doctor:
    """Runs the checks of one deployment (cdk.json's `amiwatch` object and the stack)."""

    def __init__(
        self, config: Mapping[str, Any], watches: tuple[Watch, ...], stack: str, account: str,
        region: str, *, clients: Clients, invoke: Invoke | None, powertools: str,
        progress: bool = False,
    ) -> None:  # fmt: skip
        self.config, self.watches, self.stack = config, watches, stack
        self.account, self.region = account, region
        self.clients, self.powertools, self.progress = clients, powertools, progress
        self.invoke = invoke or health.invoke_function(clients("lambda"))
        self.outputs: dict[str, str] = {}
        self.partition = "aws"

    def run(self) -> list[Check]:
        """Every check; after a missing stack only that one (the others need its outputs)."""
        stack = self._guarded("stack", self._stack)
        if not stack.ok:
            return [stack]
        checks = [stack]
        for name, step in (
            ("watcher role", self._role),
            ("powertools layer", self._layer),
            ("schedules", self._schedules),
            ("stale-targets alarm", self._alarm),
        ):
            checks.append(self._guarded(name, step))  # fmt: skip
        checks += self._each_guarded("cloudtrail", self._trails)
        if "IntakeBusArn" in self.outputs:
            checks.append(self._guarded("intake bus", self._intake))
        for watch in self.watches:
            checks.append(self._guarded(f"targets of {watch.name}", partial(self._targets, watch)))
        return checks

    def _guarded(self, name: str, step: Callable[[], Check]) -> Check:
        try:
            return step()
        except (*SETUP_ERRORS, RuntimeError) as exc:
            said = explain_for_cli(exc) if isinstance(exc, SETUP_ERRORS) else str(exc)
            return Check(name, False, said, "see docs/operations.md, Troubleshooting: "
                         f"{name.split(' of ', maxsplit=1)[0]}")  # fmt: skip

    def _each_guarded(self, name: str, steps: Callable[[], Iterator[Check]]) -> list[Check]:
        try:
            return list(steps())
        except (BotoCoreError, ClientError) as exc:
            fix = "see docs/operations.md, Troubleshooting: cloudtrail"
            return [Check(name, False, explain_for_cli(exc), fix)]

    def _stack(self) -> Check:
        try:
            self.outputs = health.stack_outputs(self.clients("cloudformation"), self.stack)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ValidationError":
                raise
            return Check("stack", False, f"no stack {self.stack} in {self.account} / "
                         f"{self.region}", "deploy it (npx cdk deploy AmiWatch), or pass "
                         "--stack and --region of the deployed stack")  # fmt: skip
        missing = [k for k in REQUIRED_OUTPUTS if k not in self.outputs]
        if missing:
            return Check(
                "stack",
                False,
                f"{self.stack} has no output {', '.join(missing)}",
                "deploy this version of amiwatch (npx cdk deploy AmiWatch)",
            )
        self.partition = self.outputs["TopicArn"].split(":")[1]
        return Check("stack", True, f"{self.stack} in {self.account} / {self.region}, "
                     f"{len(self.outputs)} outputs")  # fmt: skip

    @cached_property
    def function(self) -> health.FunctionFacts:
        """The deployed function, asked once for every check that needs it."""
        return health.function_configuration(self.clients("lambda"), self.outputs["FunctionName"])

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    def _role(self) -> Check:
        role = self.function.role
        iam = self.clients("iam")
        anywhere = [*READ_IMAGES]
        if any(w.organization_accounts for w in self.watches):
            anywhere += ORGANIZATION_READ
        denied = health.denied_actions(iam, role, anywhere)
        denied += health.denied_actions(iam, role, IMAGE_REFERENCE_CHECKS,
                                        called_via=IMAGES_SERVICE)  # fmt: skip
        table = self._arn("dynamodb", f"table/{self.outputs['TableName']}")
        queue = self._arn("sqs", self.outputs["TargetQueueName"])
        key = health.topic_key(self.clients("sns"), self.outputs["TopicArn"])
        members = sorted({a.role_arn(self.partition) for w in self.watches for a in w.accounts
                          if not a.is_self})  # fmt: skip
        # One simulation per group: IAM answers once per action over all the group's resources.
        scoped: list[tuple[Sequence[str], list[str]]] = [
            (SNAPSHOT_ACTIONS, [table]),
            (("events:PutEvents",), [self.outputs["BusArn"]]),
            (("sqs:SendMessage",), [queue]),
            (("sns:Publish",), [self.outputs["TopicArn"], self.outputs["ChatTopicArn"]]),
            # SNS encrypts with the topics' key on the publisher's behalf.
            (("kms:GenerateDataKey", "kms:Decrypt"), [key] if key else []),
            (("sts:AssumeRole",), members),
        ]
        for actions, resources in scoped:
            if resources:
                denied += health.denied_actions(iam, role, actions, resources=resources)
        name = role.rsplit("/", 1)[-1]
        if denied:
            return Check("watcher role", False, f"{name} may not call {'; '.join(denied)}",
                         "redeploy this version (npx cdk deploy AmiWatch); if it still fails, a "
                         "permissions boundary or an SCP denies it")  # fmt: skip
        count = (
            len(anywhere)
            + len(IMAGE_REFERENCE_CHECKS)
            + sum(len(actions) * len(resources) for actions, resources in scoped)
        )
        return Check(
            "watcher role",
            True,
            f"{name} may call all {count} actions a run calls "
            "(IAM policy simulation, DescribeImageReferences' checks through EC2)",
        )

    def _layer(self) -> Check:
        found = health.layer_parameter(self.clients("ssm"),
                                       defaults.powertools_parameter(self.powertools))  # fmt: skip
        fix = (f"Powertools publishes no {self.powertools} layer for {defaults.LAMBDA_ARCHITECTURE}"
               f"/{defaults.LAMBDA_RUNTIME} in {self.region}: deploy where it does")  # fmt: skip
        return Check("powertools layer", found.ok, found.detail, "" if found.ok else fix)

    def _schedules(self) -> Check:
        found = health.watch_schedules(self.clients("scheduler"), self.function.arn)
        orders = {json.dumps({"dispatch": {"watch": w.name}}) for w in self.watches}
        seen = {json.dumps(json.loads(i)) for i in found if i.startswith('{"dispatch"')}
        missing = sorted(json.loads(o)["dispatch"]["watch"] for o in orders - seen)
        disabled = [i for i, state in found.items() if state != "ENABLED"]
        if missing or disabled:
            said = (f"no dispatch schedule for {', '.join(missing)}" if missing
                    else f"{len(disabled)} schedules are DISABLED")  # fmt: skip
            return Check("schedules", False, said, "redeploy (npx cdk deploy AmiWatch) recreates "
                         "and enables them")  # fmt: skip
        forecasts = sum('"forecast"' in i for i in found)
        return Check("schedules", True, f"{len(self.watches)} dispatch and {forecasts} forecast "
                     "schedules, enabled")  # fmt: skip

    def _alarm(self) -> Check:
        schedule = parse_schedule(self.config.get("schedule", defaults.SCHEDULE))
        gap = int(self.config.get("heartbeatPeriodMinutes", schedule.longest_gap_minutes or 0))
        if not gap or gap > MAX_HEARTBEAT_GAP_MINUTES:
            return Check(
                "stale-targets alarm",
                True,
                "none, by design: the schedule leaves more "
                "than 3 days between runs (amiwatch status judges freshness)",
            )
        found = health.stale_targets_alarm(self.clients("cloudwatch"),
                                           self.outputs["AlarmTopicArn"])  # fmt: skip
        return Check(
            "stale-targets alarm",
            found.ok,
            found.detail,
            "" if found.ok else "redeploy (npx cdk deploy AmiWatch)",
        )

    def _trails(self) -> Iterator[Check]:
        if not (
            self.config.get("nearRealTime", True) and self.config.get("cloudTrailEvents", True)
        ):
            return
        regions = sorted({r for w in self.watches if not w.follows_parameters
                          for r in w.regions_or(self.region)})  # fmt: skip
        trails = health.management_trails(partial(self.clients, "cloudtrail"), regions)
        for region, found in trails.items():
            yield Check(
                f"cloudtrail {region}",
                found.ok,
                found.detail,
                ""
                if found.ok
                else "create a trail logging management events (write) here, or set "
                "cloudTrailEvents false: those changes then wait for the schedule",
            )

    def _intake(self) -> Check:
        members = {a.id for w in self.watches for a in w.accounts if not a.is_self}
        org = self.config.get("intakeOrganizationId")
        found = health.bus_admits(self.clients("events"), self.outputs["IntakeBusArn"],
                                  members, org)  # fmt: skip
        return Check("intake bus", found.ok, found.detail, "" if found.ok else "redeploy the "
                     "watcher stack after editing accounts (the policy lists cdk.json's), or set "
                     "intakeOrganizationId")  # fmt: skip

    def _targets(self, watch: Watch) -> Check:
        if self.progress and (watch.organization_accounts or
                              len(watch.targets(self.region)) > PROGRESS_ABOVE):  # fmt: skip
            print(
                f"checking the targets of {watch.name} through the watcher function...",
                file=sys.stderr,
                flush=True,
            )
        if "doctor" not in self.function.orders:  # an older one takes it for a run of all
            return Check(f"targets of {watch.name}", False, "the deployed function predates "
                         "`amiwatch doctor` and cannot check its targets",
                         "redeploy this version (npx cdk deploy AmiWatch)")  # fmt: skip
        try:
            answer = self.invoke(self.outputs["FunctionName"], {"doctor": {"watch": watch.name}})
        except RuntimeError as exc:  # the function's own error (FunctionError)
            return Check(f"targets of {watch.name}", False, str(exc), "is --config the "
                         "cdk.json this stack was deployed from? (the function knows its own "
                         "watches; redeploy after editing them)")  # fmt: skip
        targets = answer.get("targets", [])
        failing = [t for t in targets if not t["ok"]]
        states: dict[str, int] = {}
        for t in targets:
            state = t.get("allowedImages", "Allowed AMIs unknown")
            states[state] = states.get(state, 0) + 1
        allowed = ", ".join(f"{s} in {n}" for s, n in sorted(states.items()))
        if answer.get("organizationError"):
            failing.append({"account": "organisation", "region": self.region,
                            "problem": answer["organizationError"]})  # fmt: skip
        if not failing:
            return Check(
                f"targets of {watch.name}",
                True,
                f"{len(targets)} of {len(targets)} "
                f"readable as the watcher role; {allowed or 'no targets'}",
            )
        problems = tuple(_target_problem(t) for t in failing)
        more = len(problems) - SHOWN_FAILURES
        detail = "; ".join(problems[:SHOWN_FAILURES]) + (
            f"; and {more} more (--json lists them all)" if more > 0 else ""
        )
        return Check(f"targets of {watch.name}", False, f"{len(failing)} of {len(targets)} "
                     f"failed: {detail}", "deploy or update the AmiWatchMemberRole stack "
                     f"(StackSet) in those accounts with ExternalId = cdk.json's externalId and "
                     f"WatcherAccountId {self.account}", problems)  # fmt: skip


def _target_problem(target: Mapping[str, Any]) -> str:
    where = f"{target['account']} / {target['region']}"
    if target.get("denied"):
        return f"{where}: dry run refused {', '.join(target['denied'])}"
    return f"{where}: {target.get('problem', 'failed')}"
