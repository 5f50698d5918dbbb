"""The forecast's AWS edges: the snapshot's records read for it, its event, and the run items
through which the targets of one forecast run meet, so that people get one message per run.

A run (one watch, one scheduled time) is an item `forecast#<watch>#<period>` / `run` holding
how many targets were dispatched; each target writes its part (`part#<account>#<region>`) and
then counts itself in, once (its key joins the run's set `reported` in the same conditional
update). The target that completes the count claims the run (`sentAt`) and sends the people's
message; if sending fails it gives the claim back and its message is retried, so a message is
lost only if the Lambda dies between the claim and the send.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from amiwatch.aws.lease import is_condition_failure
from amiwatch.aws.store import IMAGE_PREFIX, DynamoSnapshotStore
from amiwatch.model.contract import Target
from amiwatch.model.records import ImageRecord, format_time, record_from_fields

RUN, PART = "run", "part#"
KEPT = timedelta(days=90)  # run items expire (DynamoDB TTL) after this
PUT_ATTEMPTS = 3


def stored_records(store: DynamoSnapshotStore) -> Iterator[ImageRecord]:
    """Every record of a target's snapshot, page by page (tombstones left out). Eventually
    consistent: the forecast is advisory, and it halves the read cost."""
    paginator = store.ddb.get_paginator("query")
    for page in paginator.paginate(
        TableName=store.table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": store.pk}, ":prefix": {"S": IMAGE_PREFIX}},
        ProjectionExpression="#r, recordProjection, tombstone",
        ExpressionAttributeNames={"#r": "record"},
    ):
        for item in page.get("Items", []):
            if item.get("tombstone", {}).get("BOOL"):
                continue
            projection = int(item.get("recordProjection", {"N": "1"})["N"])
            yield record_from_fields(json.loads(item["record"]["S"]), projection)


def put_one_event(events: Any, entry: Mapping[str, Any]) -> None:
    """PutEvents of one entry (a forecast, a test alert); raises if EventBridge keeps refusing."""
    reason = "no answer"
    for _ in range(PUT_ATTEMPTS):
        answer = events.put_events(Entries=[dict(entry)])
        if not answer.get("FailedEntryCount"):
            return
        failed = answer["Entries"][0]
        reason = f"{failed.get('ErrorCode')}: {failed.get('ErrorMessage')}"
    raise RuntimeError(f"EventBridge did not accept the {entry.get('DetailType')} event: {reason}")


def publish(sns: Any, topic_arn: str, entry: Mapping[str, Any]) -> None:
    """One SNS message (a PublishBatch entry's fields, sent with Publish)."""
    fields = {k: v for k, v in entry.items() if k != "Id"}
    sns.publish(TopicArn=topic_arn, **fields)


class ForecastRun:
    """The run items of one watch's forecast period."""

    def __init__(self, ddb: Any, table: str, watch: str, period: str) -> None:
        self.ddb, self.table = ddb, table
        self.pk = f"forecast#{watch}#{period}"

    def _key(self, sk: str) -> dict[str, Any]:
        return {"pk": {"S": self.pk}, "sk": {"S": sk}}

    def open(self, expected: int, now: datetime) -> None:
        """Start the run (a retried dispatch of the same period keeps the first count)."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    **self._key(RUN),
                    "expected": {"N": str(expected)},
                    "openedAt": {"S": format_time(now)},
                    **_expiry(now),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise

    def report(self, target: Target, part: Mapping[str, Any], now: datetime) -> bool:
        """Write this target's part and count it in; True when every target has reported and
        nobody has sent the run's message yet. False too when no run was opened (an order
        older than the run items, or one the dispatcher did not count)."""
        sk = f"{PART}{target.account}#{target.region}"
        self.ddb.put_item(
            TableName=self.table,
            Item={
                **self._key(sk),
                "part": {"S": json.dumps(part, ensure_ascii=False)},
                **_expiry(now),
            },
        )
        member = hashlib.blake2b(sk.encode(), digest_size=6).hexdigest()
        try:
            run = self.ddb.update_item(
                TableName=self.table,
                Key=self._key(RUN),
                UpdateExpression="ADD reported :set, done :one",
                ConditionExpression="attribute_exists(expected) AND NOT contains(reported, :m)",
                ExpressionAttributeValues={
                    ":set": {"SS": [member]},
                    ":one": {"N": "1"},
                    ":m": {"S": member},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            run = self.ddb.get_item(TableName=self.table, Key=self._key(RUN),
                                    ConsistentRead=True).get("Item")  # fmt: skip
            if run is None:
                return False
        done, expected = int(run.get("done", {"N": "0"})["N"]), int(run["expected"]["N"])
        return done >= expected and "sentAt" not in run

    def claim(self, now: datetime) -> bool:
        """Take the run's people message on; False when another target already did."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=self._key(RUN),
                UpdateExpression="SET sentAt = :now",
                ConditionExpression="attribute_not_exists(sentAt)",
                ExpressionAttributeValues={":now": {"S": format_time(now)}},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def release(self) -> None:
        """Give the claim back (the message could not be sent; the retry sends it)."""
        self.ddb.update_item(TableName=self.table, Key=self._key(RUN),
                             UpdateExpression="REMOVE sentAt")  # fmt: skip

    def parts(self) -> list[dict[str, Any]]:
        """Every target's part, as written."""
        found = []
        paginator = self.ddb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": self.pk}, ":prefix": {"S": PART}},
            ConsistentRead=True,
        ):
            found += [json.loads(item["part"]["S"]) for item in page.get("Items", [])]
        return found


def _expiry(now: datetime) -> dict[str, Any]:
    return {"expiresAt": {"N": str(int((now + KEPT).timestamp()))}}
