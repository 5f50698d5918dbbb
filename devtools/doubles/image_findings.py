"""Amazon Inspector's findings as EC2 shows them, which moto has not: `ScanResults` in
DescribeImages and the GetImageFindings operation.

A test says what Inspector found (`scans`: image id -> ScanResults as the API returns them,
`findings`: image id -> GetImageFindings entries); the double adds them to the parsed
DescribeImages answers of the client it is installed on and answers GetImageFindings page by page,
its answers checked against botocore's model of the operation. This part is proven against this
double, not against moto.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

OPERATION = "GetImageFindings"


@dataclass
class Inspector:
    """What Amazon Inspector found, per image id."""

    scans: dict[str, dict[str, Any]] = field(default_factory=dict)
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refuse: str | None = None  # every GetImageFindings call fails with this error code
    calls: int = 0

    def install(self, ec2: Any) -> Any:
        """Give this client Inspector's results; returns it."""
        register: Callable[..., None] = ec2.meta.events.register
        register(f"before-parameter-build.ec2.{OPERATION}", _keep)
        register("after-call.ec2.DescribeImages", self._describe)
        register(f"before-call.ec2.{OPERATION}", self._answer)
        return ec2

    def _describe(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        shape = model.output_shape.members["Images"].member.members["ScanResults"]
        for image in parsed.get("Images", []):
            scan = self.scans.get(image.get("ImageId", ""))
            if scan is not None:
                report = ParamValidator().validate(scan, shape)
                assert not report.has_errors(), report.generate_report()
                image["ScanResults"] = dict(scan)

    def _answer(self, model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict]:
        self.calls += 1
        request = context["findings_request"]
        if self.refuse:
            message = "Request limit exceeded." if "Limit" in self.refuse else "Not authorized."
            raise ClientError({"Error": {"Code": self.refuse, "Message": message}}, OPERATION)  # type: ignore[arg-type]
        everything = self.findings.get(request["ImageId"], [])
        start, size = int(request.get("NextToken") or 0), int(request.get("MaxResults") or 100)
        answer: dict[str, Any] = {"ImageFindings": everything[start : start + size]}
        if start + size < len(everything):
            answer["NextToken"] = str(start + size)
        report = ParamValidator().validate(answer, model.output_shape)
        assert not report.has_errors(), report.generate_report()
        return AWSResponse("https://ec2.amazonaws.com/", 200, {}, None), answer


def _keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["findings_request"] = dict(params)
