"""The deployed watcher as `amiwatch doctor` meets it, where moto cannot serve it: Lambda's
GetFunctionConfiguration and a synchronous Invoke that runs the real handler in this process
(moto runs functions only in Docker), and EC2's answer to a dry run (moto ignores `DryRun`).
Answers are checked against botocore's models."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import boto3
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

LAMBDA_MODEL = boto3.session.Session().client("lambda", region_name="us-east-1").meta.service_model


class InProcessFunction:
    """A Lambda client for one function whose Invoke calls `run(payload)` here."""

    def __init__(
        self, function_arn: str, role_arn: str, run: Callable[[Any], Any],
        environment: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.function_arn, self.role_arn, self.run = function_arn, role_arn, run
        self.environment = environment or {}  # the stack's, as synthesized
        self.invocations: list[Any] = []
        self.configuration_calls = 0

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        assert FunctionName in (self.function_arn, self.function_arn.rsplit(":", 1)[-1])
        self.configuration_calls += 1
        answer = {"FunctionName": FunctionName, "FunctionArn": self.function_arn,
                  "Role": self.role_arn, "Runtime": "python3.13",
                  "Environment": {"Variables": self.environment}}  # fmt: skip
        return _checked("GetFunctionConfiguration", answer)

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        payload = json.loads(Payload)
        self.invocations.append(payload)
        try:
            body, error = self.run(payload), None
        except Exception as exc:  # Lambda reports a function's exception as FunctionError
            body, error = {"errorMessage": str(exc), "errorType": type(exc).__name__}, "Unhandled"
        answer = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}
        if error:
            answer["FunctionError"] = error
        return answer


def _checked(operation: str, answer: dict[str, Any]) -> dict[str, Any]:
    shape = LAMBDA_MODEL.operation_model(operation).output_shape
    report = ParamValidator().validate(answer, shape)
    assert not report.has_errors(), report.generate_report()
    return answer


def answer_dry_runs(
    own_access_key: str, denied_to_members: Iterable[str] = ()
) -> Callable[[], None]:
    """EC2's dry runs for every client boto3's default session creates from now on: a request
    with DryRun true fails with DryRunOperation when the caller may, UnauthorizedOperation when
    not (the actions in `denied_to_members`, for credentials other than `own_access_key`: the
    member roles'). Returns what undoes it."""
    denied = set(denied_to_members)

    def note(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["dry_run"] = bool(params.get("DryRun"))

    def dry_run(model: Any, context: dict[str, Any], request_signer: Any, **_: Any) -> None:
        if not context.get("dry_run"):
            return
        action = f"ec2:{model.name}"
        key = request_signer._credentials.access_key
        if action in denied and key != own_access_key:
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message":
                                         "You are not authorized to perform this operation."}},
                              model.name)  # fmt: skip
        said = "Request would have succeeded, but DryRun flag is set."
        raise ClientError({"Error": {"Code": "DryRunOperation", "Message": said}}, model.name)

    session = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
    assert session is not None
    handlers = (("before-parameter-build.ec2", note), ("before-call.ec2", dry_run))
    for event, handler in handlers:
        session._session.register(event, handler)

    def undo() -> None:
        for event, handler in handlers:
            session._session.unregister(event, handler)

    return undo
