"""Test doubles that wrap real (moto-backed) clients and make some entries fail."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

Detail = dict[str, Any]


class Proxy:
    """Delegates everything to the real client except what a subclass overrides."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class FlakyBus(Proxy):
    """PutEvents that reports entries matching `fails` as failed, for its first `calls` calls."""

    def __init__(self, real: Any, fails: Callable[[Detail], bool], calls: int = 99) -> None:
        super().__init__(real)
        self.fails, self.calls = fails, calls
        self.failed_ids: list[str] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        details = [json.loads(e["Detail"]) for e in Entries]
        failing = [self.calls > 0 and self.fails(d) for d in details]
        self.calls -= 1
        sent = [e for e, fail in zip(Entries, failing, strict=True) if not fail]
        results = iter(self.real.put_events(Entries=sent)["Entries"] if sent else [])
        merged = []
        for detail, fail in zip(details, failing, strict=True):
            if fail:
                self.failed_ids.append(detail["eventId"])
                merged.append({"ErrorCode": "InternalFailure", "ErrorMessage": "injected"})
            else:
                merged.append(next(results))
        return {"FailedEntryCount": sum(failing), "Entries": merged}


class FlakyTopic(Proxy):
    """PublishBatch that lists entries matching `fails` in `Failed`, for its first `calls` calls."""

    def __init__(self, real: Any, fails: Callable[[Detail], bool], calls: int = 99) -> None:
        super().__init__(real)
        self.fails, self.calls = fails, calls

    def publish_batch(
        self,
        TopicArn: str,
        PublishBatchRequestEntries: list[dict[str, Any]],
    ) -> dict[str, Any]:
        entries = PublishBatchRequestEntries
        details = [json.loads(json.loads(e["Message"])["default"]) for e in entries]
        failing = [self.calls > 0 and self.fails(d) for d in details]
        self.calls -= 1
        sent = [e for e, fail in zip(entries, failing, strict=True) if not fail]
        successful = []
        if sent:
            answer = self.real.publish_batch(TopicArn=TopicArn, PublishBatchRequestEntries=sent)
            successful = answer["Successful"]
        failed = [
            {"Id": e["Id"], "Code": "InternalError", "SenderFault": False}
            for e, fail in zip(entries, failing, strict=True)
            if fail
        ]
        return {"Successful": successful, "Failed": failed}


def change_is(kind: str) -> Callable[[Detail], bool]:
    """A `fails` predicate: every event of this change kind."""
    return lambda detail: detail["change"] == kind


class DeafTopic(Proxy):
    """PublishBatch that fails every entry sent to one topic (say, the chat topic)."""

    def __init__(self, real: Any, topic_arn: str) -> None:
        super().__init__(real)
        self.topic_arn = topic_arn

    def publish_batch(
        self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        if TopicArn != self.topic_arn:
            return dict(
                self.real.publish_batch(
                    TopicArn=TopicArn, PublishBatchRequestEntries=PublishBatchRequestEntries
                )
            )
        failed = [
            {"Id": e["Id"], "Code": "KMSThrottling", "SenderFault": False}
            for e in PublishBatchRequestEntries
        ]
        return {"Successful": [], "Failed": failed}


class DenyingSts(Proxy):
    """An STS client (of one region) that refuses AssumeRole into one account's role."""

    def __init__(self, real: Any, region: str, denied: tuple[str, str]) -> None:
        super().__init__(real)
        self.region, self.denied = region, denied

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        account, region = self.denied
        if region == self.region and f":{account}:" in kwargs["RoleArn"]:
            message = (
                "User: arn:aws:sts::123456789012:assumed-role/AmiWatch-WatcherRole/amiwatch is "
                f"not authorized to perform: sts:AssumeRole on resource: {kwargs['RoleArn']}"
            )
            error = {"Error": {"Code": "AccessDenied", "Message": message}}
            raise ClientError(error, "AssumeRole")  # type: ignore[arg-type]
        return dict(self.real.assume_role(**kwargs))


def purge(ec2: Any, image_ids: set[str]) -> None:
    """Make DescribeImages answer as EC2 does for ids it does not know (a purged AMI, a typo):
    `InvalidAMIID.NotFound` for the whole call that names any of them in `ImageIds`. moto
    instead drops such ids silently when others are found."""

    def refuse(params: dict[str, Any], **_: Any) -> None:
        named = [i for i in params.get("ImageIds", []) if i in image_ids]
        if named:
            message = f"The image id '[{named[0]}]' does not exist"
            error = {"Error": {"Code": "InvalidAMIID.NotFound", "Message": message}}
            raise ClientError(error, "DescribeImages")  # type: ignore[arg-type]

    ec2.meta.events.register("before-parameter-build.ec2.DescribeImages", refuse)


def eventbridge_like_aws(monkeypatch: Any) -> None:
    """Two things moto's EventBridge does not do as AWS does, done as AWS does them:
    - a pattern's field matches every object of an array in the event
      (`requestParameters.resourcesSet.items.resourceId` of a CreateTags call): moto looks only
      through objects, so flatten arrays of objects into the values of their fields;
    - an event delivered to a target carries its `account`: moto's default template drops it."""
    from moto.events.models import EventPattern
    from moto.events.utils import EventTemplateParser

    def flatten(node: Any, prefix: str = "", result: dict[str, Any] | None = None) -> Any:
        result = {} if result is None else result
        for key, value in node.items() if isinstance(node, dict) else ():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict) and value:
                flatten(value, path, result)
            elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
                for item in value:
                    leaves = flatten(item, path) if isinstance(item, dict) else {path: item}
                    for leaf, leaf_value in leaves.items():
                        found = result.setdefault(leaf, [])
                        found.extend(leaf_value if isinstance(leaf_value, list) else [leaf_value])
            else:
                result[path] = value
        return result

    monkeypatch.setattr(EventPattern, "_flatten_dict", staticmethod(flatten))
    template = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    if '"account"' not in template:
        account = '"version": "0", "account": "<account>",'
        with_account = template.replace('"version": "0",', account)
        monkeypatch.setattr(EventTemplateParser, "DEFAULT_EVENT_INPUT_TEMPLATE", with_account)


LIMIT_BYTES = 256 * 1024


class SizeLimitedBus(Proxy):
    """PutEvents as AWS answers it (moto accepts anything): an entry over 256 KiB, measured by
    EventBridge's rule (Time 14 bytes, the UTF-8 of Source, DetailType, Detail, Resources), fails
    the call with ValidationException."""

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        for entry in Entries:
            size = 14 + sum(len(str(entry.get(k, "")).encode())
                            for k in ("Source", "DetailType", "Detail"))  # fmt: skip
            size += sum(len(r.encode()) for r in entry.get("Resources", []))
            if size > LIMIT_BYTES:
                raise ClientError({"Error": {"Code": "ValidationException", "Message":
                                   "Total size of the entries in the request is over the limit."}},
                                  "PutEvents")  # fmt: skip
        return self.real.put_events(Entries=Entries)  # type: ignore[no-any-return]


class SizeLimitedTopic(Proxy):
    """PublishBatch as AWS answers it: a message whose body and attributes pass 256 KiB, or more
    than 256 KiB in one call, fails the call."""

    def publish_batch(
        self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        sizes = []
        for entry in PublishBatchRequestEntries:
            size = len(entry["Message"].encode()) + len(entry.get("Subject", "").encode())
            for name, value in entry.get("MessageAttributes", {}).items():
                size += len(name) + len(value["DataType"]) + len(value["StringValue"].encode())
            sizes.append(size)
        if max(sizes) > LIMIT_BYTES or sum(sizes) > LIMIT_BYTES:
            raise ClientError({"Error": {"Code": "BatchRequestTooLong", "Message":
                               "The length of all the batch messages put together is more "
                               "than the limit."}}, "PublishBatch")  # fmt: skip
        return self.real.publish_batch(  # type: ignore[no-any-return]
            TopicArn=TopicArn, PublishBatchRequestEntries=PublishBatchRequestEntries
        )
