"""An SQS queue in moto, drained as Lambda's event source mapping drains it: a batch of what
is visible goes to the handler; what it answered is deleted; its batch item failures stay."""

from __future__ import annotations

import json
import time
from typing import Any

from moto.backends import get_backend

from amiwatch.entry.handler import handler
from devtools.local_aws import ACCOUNT, REGION, LocalAws

from .conftest import FakeLambdaContext


class MappedQueue:
    def __init__(
        self, aws: LocalAws, name: str, visibility: int, dead_letters: tuple[str, int] | None = None
    ) -> None:
        """`dead_letters`: (queue ARN, maxReceiveCount) of a redrive policy, as the stack sets."""
        self.sqs, self.name = aws.shared_client("sqs"), name
        attributes = {"VisibilityTimeout": str(visibility)}
        if dead_letters:
            redrive = {"deadLetterTargetArn": dead_letters[0], "maxReceiveCount": dead_letters[1]}
            attributes["RedrivePolicy"] = json.dumps(redrive)
        self.url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.arn = self.arn_of(self.url)

    def arn_of(self, url: str) -> str:
        answer = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(answer["Attributes"]["QueueArn"])

    def batch(self, size: int = 10) -> dict[str, Any]:
        """What the event source mapping hands the function: the messages now visible."""
        answer = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=size, AttributeNames=["All"]
        )
        return {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": self.arn,
            "awsRegion": REGION} for m in answer.get("Messages", [])]}  # fmt: skip

    def deliver(self, size: int = 10) -> dict[str, Any]:
        """One batch through the handler; delete what it answered, as the mapping does."""
        event = self.batch(size)
        assert event["Records"], f"nothing visible on {self.name}"
        response = handler(event, FakeLambdaContext())
        retried = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        for record in event["Records"]:
            if record["messageId"] not in retried:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=record["receiptHandle"])
        return response

    def visible(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def postponed_ms(self) -> list[float]:
        """How long each message in flight stays invisible (moto keeps real time)."""
        now = time.time() * 1000
        return [m.visible_at - now for m in self._backend()._messages if m.visible_at > now]

    def make_visible(self) -> None:
        """Let the postponed messages' delay pass."""
        for message in self._backend()._messages:
            message.change_visibility(0)

    def _backend(self) -> Any:
        [queue] = [q for q in get_backend("sqs")[ACCOUNT][REGION].queues.values()
                   if q.name == self.name]  # fmt: skip
        return queue
