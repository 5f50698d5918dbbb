"""DescribeImageReferences for moto, which does not implement it.

Answered from moto's real EC2 state (instances and launch-template versions created through the
API), with the request and the response checked against botocore's model of the operation: the
code under test makes exactly the call it makes in AWS and reads a response of exactly the
documented shape. This part is proven against this model-checked double, not against moto.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator
from moto.backends import get_backend

from devtools import ACCOUNT

OPERATION = "DescribeImageReferences"
PAGE = 25
# What EC2 checks when IncludeAllResourceTypes is set, or a type is named without options.
DEFAULT_VERSION_DEPTH = 10


def answer_image_references(
    ec2: Any,
    *,
    account: str = ACCOUNT,
    refuse: str | None = None,
    refuse_types: Mapping[str, str] | None = None,
) -> Any:
    """Make this EC2 client's DescribeImageReferences answer from moto's state (or, with
    `refuse`, fail with that error code, as EC2 does without permission). `refuse_types` maps a
    resource type to the error code of a call that asks for it: EC2 checks each type with the
    caller's permissions, and a type it cannot check fails the call. Returns the client."""
    _register(ec2.meta.events.register, account, refuse, dict(refuse_types or {}))
    return ec2


def answer_for_new_clients(account: str = ACCOUNT) -> None:
    """The same for every client boto3's default session creates from now on (the handler's)."""
    session = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
    assert session is not None
    _register(session._session.register, account, None, {})


def _register(
    register: Callable[..., None], account: str, refuse: str | None, refuse_types: dict[str, str]
) -> None:
    def keep_request(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["image_references_request"] = dict(params)

    def answer(model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict]:
        request = context["image_references_request"]
        asked = {entry["ResourceType"] for entry in request.get("ResourceTypes", [])}
        code = refuse or next((refuse_types[t] for t in sorted(asked) if t in refuse_types), None)
        if code:
            message = f"You are not authorized to perform this operation. ({code})"
            raise ClientError({"Error": {"Code": code, "Message": message}}, OPERATION)  # type: ignore[arg-type]
        region = context.get("client_region") or "us-east-1"
        response = _references(request, account, region)
        report = ParamValidator().validate(response, model.output_shape)
        assert not report.has_errors(), report.generate_report()
        return AWSResponse("https://ec2.amazonaws.com/", 200, {}, None), response

    register(f"before-parameter-build.ec2.{OPERATION}", keep_request)
    register(f"before-call.ec2.{OPERATION}", answer)


def _references(request: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    ids = set(request["ImageIds"])
    assert 1 <= len(ids) <= 10, "the API takes 1 to 10 ImageIds"
    wanted = _wanted_types(request)
    backend = get_backend("ec2")[account][region]
    found = []
    if "ec2:Instance" in wanted:
        states = wanted["ec2:Instance"].get("state-name")
        for instance in backend.all_instances():
            if instance.image_id in ids and (not states or instance.instance_state.name in states):
                arn = f"arn:aws:ec2:{region}:{account}:instance/{instance.id}"
                found.append({"ImageId": instance.image_id, "ResourceType": "ec2:Instance",
                              "Arn": arn})  # fmt: skip
    if "ec2:LaunchTemplate" in wanted:
        depth = int(wanted["ec2:LaunchTemplate"].get("version-depth", [DEFAULT_VERSION_DEPTH])[0])
        for template in backend.launch_templates.values():
            arn = f"arn:aws:ec2:{region}:{account}:launch-template/{template.id}"
            for version in template.versions[-depth:]:
                if version.image_id in ids:
                    found.append({"ImageId": version.image_id,
                                  "ResourceType": "ec2:LaunchTemplate", "Arn": arn})  # fmt: skip
    start = int(request.get("NextToken") or 0)
    size = int(request.get("MaxResults") or PAGE)
    page: dict[str, Any] = {"ImageReferences": found[start : start + size]}
    if start + size < len(found):
        page["NextToken"] = str(start + size)
    return page


def _wanted_types(request: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Resource type -> its options, as the request asks for them."""
    assert request.get("IncludeAllResourceTypes") or request.get("ResourceTypes"), (
        "EC2 requires IncludeAllResourceTypes or ResourceTypes"
    )
    wanted: dict[str, dict[str, list[str]]] = {}
    if request.get("IncludeAllResourceTypes"):
        wanted = {"ec2:Instance": {}, "ec2:LaunchTemplate": {}}
    for entry in request.get("ResourceTypes", []):
        options = {o["OptionName"]: o["OptionValues"] for o in entry.get("ResourceTypeOptions", [])}
        wanted[entry["ResourceType"]] = options
    return wanted
