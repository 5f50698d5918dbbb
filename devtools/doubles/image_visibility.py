"""What EC2 hides and moto does not: Allowed AMIs, launch permissions, DisableImage.

moto answers DescribeImages with every image it holds. EC2 (EC2 API reference: DescribeImages,
GetAllowedImagesSettings, DisableImage; EC2 User Guide: Allowed AMIs) does not:
- with Allowed AMIs `enabled`, only allowed images are returned — never restricting the
  account's own — whether listed or named by `ImageIds`; in `audit-mode` every image is returned
  with `ImageAllowed` true or false; `GetAllowedImagesSettings` answers the state and criteria;
- another owner's image is returned only while it is public or shared with the account;
- DisableImage removes every launch permission of the image (a public one becomes private).

This double adds that behaviour to a boto3 EC2 client on moto, its responses checked against
botocore's model. Which images the criteria refuse is stated by the test (`refused`), not
computed, so the product's own evaluation of the criteria (amiwatch.judge.allowed) is checked
against an independent answer. This part is proven against this double, not against moto.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator
from moto.backends import get_backend


@dataclass
class AllowedAmis:
    """The account's Allowed AMIs settings in one region, as a test sets them."""

    state: str = "disabled"  # enabled | audit-mode | disabled
    criteria: list[dict[str, Any]] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # image ids the criteria do not admit
    refuse_call: str | None = None  # the error code of GetAllowedImagesSettings (AccessDenied)
    managed_by: str = "account"


@dataclass
class Ec2Visibility:
    """EC2's view of images for one account and region (install it on the clients that scan)."""

    account: str
    region: str
    allowed: AllowedAmis = field(default_factory=AllowedAmis)
    shares: bool = True  # hide other owners' images that are neither public nor shared with us
    settings_calls: int = 0

    def install(self, ec2: Any) -> Any:
        """Give this client EC2's behaviour; returns it."""
        self._register(ec2.meta.events.register)
        return ec2

    def install_for_new_clients(self) -> Callable[[], None]:
        """The same for every client boto3's default session creates from now on (the
        handler's); returns what undoes it."""
        session = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
        assert session is not None
        handlers = self._register(session._session.register)

        def undo() -> None:
            for event, handler in handlers:
                session._session.unregister(event, handler)

        return undo

    def _register(self, register: Callable[..., None]) -> list[tuple[str, Any]]:
        handlers = [
            ("before-parameter-build.ec2.DescribeImages", _keep("images_request")),
            ("before-parameter-build.ec2.DisableImage", _keep("disable_request")),
            ("after-call.ec2.DescribeImages", self._describe),
            ("after-call.ec2.DisableImage", self._disable),
            ("before-call.ec2.GetAllowedImagesSettings", self._settings),
        ]
        for event, handler in handlers:
            register(event, handler)
        return handlers

    def _backend(self) -> Any:
        return get_backend("ec2")[self.account][self.region]

    def _describe(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "Error" in parsed:
            return
        named = set(context.get("images_request", {}).get("ImageIds") or [])
        shown = []
        for image in parsed.get("Images", []):
            hidden = self._hidden(image)
            if hidden and image["ImageId"] in named:
                raise ClientError(
                    {"Error": {"Code": "InvalidAMIID.NotFound",
                               "Message": f"The image id '[{image['ImageId']}]' does not exist"}},
                    "DescribeImages",
                )  # fmt: skip
            if not hidden:
                shown.append(self._marked(image))
        parsed["Images"] = shown

    def _hidden(self, image: dict[str, Any]) -> bool:
        if image.get("OwnerId") == self.account:
            return False  # an owner always sees its own images, whatever the criteria
        refused = self.allowed.state == "enabled" and image["ImageId"] in self.allowed.refused
        return refused or (self.shares and not self._shared(image["ImageId"]))

    def _shared(self, image_id: str) -> bool:
        ami = self._backend().amis.get(image_id)
        if ami is None:
            return True
        return any(p == {"Group": "all"} or p.get("UserId") == self.account
                   for p in ami.launch_permissions)  # fmt: skip

    def _marked(self, image: dict[str, Any]) -> dict[str, Any]:
        if self.allowed.state in ("enabled", "audit-mode"):
            own = image.get("OwnerId") == self.account
            image["ImageAllowed"] = own or image["ImageId"] not in self.allowed.refused
        return image

    def _disable(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "Error" not in parsed:
            image_id = context["disable_request"]["ImageId"]
            self._backend().amis[image_id].launch_permissions.clear()

    def _settings(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        self.settings_calls += 1
        if self.allowed.refuse_call:
            code = self.allowed.refuse_call
            message = "You are not authorized to perform this operation."
            raise ClientError({"Error": {"Code": code, "Message": message}},
                              "GetAllowedImagesSettings")  # fmt: skip
        answer = {"State": self.allowed.state, "ManagedBy": self.allowed.managed_by,
                  "ImageCriteria": self.allowed.criteria}  # fmt: skip
        report = ParamValidator().validate(answer, model.output_shape)
        assert not report.has_errors(), report.generate_report()
        return AWSResponse("https://ec2.amazonaws.com/", 200, {}, None), answer


def _keep(key: str) -> Callable[..., None]:
    def keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[key] = dict(params)

    return keep
