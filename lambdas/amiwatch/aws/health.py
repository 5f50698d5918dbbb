"""What `amiwatch doctor` asks AWS, and how it reads the answers: a few read-only calls per
check, each answer reduced to (ok, what was found). The Lambda's own part (each target, as the
watcher role) is `target_checks`; the rest runs with the caller's credentials.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

# A syntactically valid id: a dry run checks the permission before it looks the image up.
PLACEHOLDER_IMAGE = "ami-00000000000000000"
DRY_RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "ec2:DescribeImages": ("describe_images", {"Owners": ["self"], "MaxResults": 6}),
    "ec2:DescribeImageReferences": ("describe_image_references",
                                    {"ImageIds": [PLACEHOLDER_IMAGE]}),
    "ec2:GetAllowedImagesSettings": ("get_allowed_images_settings", {}),
    "ec2:GetImageFindings": ("get_image_findings", {"ImageId": PLACEHOLDER_IMAGE}),
}  # fmt: skip
SIMULATION_CHUNK = 100  # resource ARNs per SimulatePrincipalPolicy call (member roles: many)


@dataclass(frozen=True)
class Finding:
    """One check's answer: passed or not, and what was found (the fix, when it failed)."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class FunctionFacts:
    """The deployed function: its ARN, its role's ARN, the orders it understands."""

    arn: str
    role: str
    orders: frozenset[str]


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    """The stack's outputs by key (raises ClientError ValidationError if there is no stack)."""
    [found] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def function_configuration(lambda_client: Any, function_name: str) -> FunctionFacts:
    """What the doctor needs of the deployed function, from one GetFunctionConfiguration."""
    config = lambda_client.get_function_configuration(FunctionName=function_name)
    listed = config.get("Environment", {}).get("Variables", {}).get("AMIWATCH_ORDERS", "")
    orders = frozenset(o for o in listed.split(",") if o)  # none before the orders were listed
    return FunctionFacts(config["FunctionArn"], config["Role"], orders)


def denied_actions(
    iam: Any,
    role_arn: str,
    actions: Sequence[str],
    *,
    resources: Sequence[str] = (),
    called_via: str | None = None,
) -> list[str]:
    """What IAM's policy simulator says `role_arn` may not call on `resources` (none: "*"),
    each as "action (decision)", or "action (decision) on arn" from its per-resource results:
    the simulator answers once per action, its decision the most restrictive of the resources'.
    `called_via`: as called through that service."""
    context = []
    if called_via:
        context = [{"ContextKeyName": "aws:CalledVia", "ContextKeyType": "stringList",
                    "ContextKeyValues": [called_via]}]  # fmt: skip
    denied: list[str] = []
    for start in range(0, max(len(resources), 1), SIMULATION_CHUNK):
        scope = {"ResourceArns": list(resources[start : start + SIMULATION_CHUNK])}
        pages = iam.get_paginator("simulate_principal_policy").paginate(
            PolicySourceArn=role_arn, ActionNames=list(actions), ContextEntries=context,
            **(scope if resources else {}),
        )  # fmt: skip
        for page in pages:
            denied += [d for r in page["EvaluationResults"] for d in _refused(r)]
    return sorted(set(denied))


def _refused(result: Mapping[str, Any]) -> list[str]:
    if result["EvalDecision"] == "allowed":
        return []
    action = result["EvalActionName"]
    per_resource = [
        f"{action} ({r['EvalResourceDecision']}) on {r['EvalResourceName']}"
        for r in result.get("ResourceSpecificResults") or []
        if r["EvalResourceDecision"] != "allowed"
    ]
    return per_resource or [f"{action} ({result['EvalDecision']})"]


def topic_key(sns: Any, topic_arn: str) -> str | None:
    """The ARN of the KMS key that encrypts the topic (None: none, or not given as an ARN)."""
    key = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"].get("KmsMasterKeyId")
    return key if key and key.startswith("arn:") else None


def layer_parameter(ssm: Any, name: str) -> Finding:
    """Powertools' public parameter of the pinned version resolves here (CloudFormation reads
    it at deploy time)."""
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as exc:
        return Finding(False, f"{name}: {exc.response['Error'].get('Code')}")
    return Finding(True, f"{name} = {value}")


def management_trails(
    cloudtrail_in: Callable[[str], Any], regions: Iterable[str]
) -> dict[str, Finding]:
    """Per region, a trail that logs write management events there (what "AWS API Call via
    CloudTrail" events need): multi-region or homed there, logging, with a selector that takes
    management events that are not read-only. A trail's status and selectors are asked once, in
    its home region (`cloudtrail_in(region)` is a client there), however many regions it covers."""
    judged: dict[str, tuple[bool, bool]] = {}  # trail ARN -> (logging, logs management writes)

    def judge(trail: Mapping[str, Any], region: str) -> tuple[bool, bool]:
        arn = trail.get("TrailARN") or trail["Name"]
        if arn not in judged:
            home = cloudtrail_in(trail.get("HomeRegion") or region)
            logging = bool(home.get_trail_status(Name=arn).get("IsLogging", False))
            writes = logging and _records_management_writes(
                home.get_event_selectors(TrailName=arn))  # fmt: skip
            judged[arn] = (logging, writes)
        return judged[arn]

    found = {}
    for region in regions:
        trails = cloudtrail_in(region).describe_trails(includeShadowTrails=True)["trailList"]
        seen = []
        for trail in trails:
            if not (trail.get("IsMultiRegionTrail") or trail.get("HomeRegion") == region):
                continue
            logging, writes = judge(trail, region)
            if writes:
                found[region] = Finding(
                    True, f"trail {trail['Name']} logs management events in {region}")  # fmt: skip
                break
            seen.append(f"{trail['Name']} ({'no write management events' if logging else 'off'})")
        else:
            listed = f" (found: {', '.join(seen)})" if seen else ""
            found[region] = Finding(
                False, f"no trail logs write management events in {region}{listed}")  # fmt: skip
    return found


def _records_management_writes(selectors: Mapping[str, Any]) -> bool:
    for selector in selectors.get("EventSelectors") or []:
        if selector.get("IncludeManagementEvents", True) and selector.get(
            "ReadWriteType", "All"
        ) in ("All", "WriteOnly"):
            return True
    for advanced in selectors.get("AdvancedEventSelectors") or []:
        fields = {f["Field"]: f for f in advanced.get("FieldSelectors", [])}
        category = fields.get("eventCategory", {}).get("Equals", [])
        read_only = fields.get("readOnly", {}).get("Equals", [])
        if "Management" in category and "true" not in read_only:
            return True
    return False


def bus_admits(events: Any, bus_arn: str, accounts: Iterable[str], org_id: str | None) -> Finding:
    """The intake bus's resource policy admits each member account (or the organisation)."""
    policy = json.loads(events.describe_event_bus(Name=bus_arn).get("Policy") or "{}")
    admitted: set[str] = set()
    orgs: set[str] = set()
    for statement in policy.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        condition = statement.get("Condition", {}).get("StringEquals", {})
        admitted |= set(_listed(condition.get("aws:PrincipalAccount")))
        orgs |= set(_listed(condition.get("aws:PrincipalOrgID")))
        principal = statement.get("Principal", {})
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        admitted |= {p.split(":")[4] if p.startswith("arn:") else p
                     for p in _listed(aws) if p != "*"}  # fmt: skip
    if org_id and org_id in orgs:
        return Finding(True, f"admits the organisation {org_id}")
    missing = sorted(set(accounts) - admitted)
    if missing:
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        return Finding(False, f"does not admit {', '.join(missing[:10])}{more}")
    return Finding(True, f"admits the {len(admitted)} member accounts")


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def watch_schedules(scheduler: Any, function_arn: str) -> dict[str, str]:
    """The EventBridge Scheduler schedules that invoke the function, as {input: state}."""
    found = {}
    for page in scheduler.get_paginator("list_schedules").paginate():
        for summary in page.get("Schedules", []):
            if summary.get("Target", {}).get("Arn") != function_arn:
                continue
            schedule = scheduler.get_schedule(
                Name=summary["Name"], GroupName=summary.get("GroupName", "default")
            )
            found[schedule["Target"].get("Input", "")] = schedule.get("State", "ENABLED")
    return found


def stale_targets_alarm(cloudwatch: Any, alarm_topic_arn: str) -> Finding:
    """The one StaleTargets alarm exists and tells the alarm topic."""
    alarms = cloudwatch.describe_alarms_for_metric(
        MetricName="StaleTargets", Namespace="amiwatch",
        Dimensions=[{"Name": "service", "Value": "amiwatch"}],
    )["MetricAlarms"]  # fmt: skip
    if not alarms:
        return Finding(False, "no alarm on amiwatch StaleTargets")
    [alarm, *_] = alarms
    if alarm_topic_arn not in alarm.get("AlarmActions", []):
        return Finding(False, f"{alarm['AlarmName']} does not notify {alarm_topic_arn}")
    return Finding(True, f"{alarm['AlarmName']} ({alarm.get('StateValue', '?')})")


def target_checks(ec2: Any) -> tuple[list[str], str]:
    """As the role that reads the target: the EC2 actions a dry run refuses, and the target's
    Allowed AMIs state. Any other error (an opt-in region, throttling past retries) is raised:
    the target could not be checked, which is not the same as passing."""
    denied = []
    for action, (method, params) in DRY_RUNS.items():
        try:
            getattr(ec2, method)(DryRun=True, **params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
                denied.append(action)
            elif code != "DryRunOperation":
                raise
    settings = ec2.get_allowed_images_settings()
    criteria = len(settings.get("ImageCriteria") or [])
    state = settings.get("State", "disabled")
    return denied, f"Allowed AMIs {state}" + (
        f", {criteria} criteria" if state != "disabled" else ""
    )


def invoke_function(lambda_client: Any) -> Callable[[str, dict[str, Any]], Any]:
    """Lambda's synchronous Invoke: the function's JSON answer, or RuntimeError with its error."""

    def invoke(function: str, payload: dict[str, Any]) -> Any:
        answer = lambda_client.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
        body = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError"):
            raise RuntimeError(f"the function failed: {body.get('errorMessage', body)}")
        return body

    return invoke
