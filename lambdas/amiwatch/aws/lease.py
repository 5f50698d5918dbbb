"""The lease that keeps runs of one target apart (scheduled runs and refreshes alike): a
conditional UpdateItem on the target's meta item; see docs/design.md ("The lease")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

META = "meta"


class LeaseLost(RuntimeError):
    """Another run of the same watch holds (or took over) the lease."""


class Lease:
    """Mixed into DynamoSnapshotStore (which provides ddb, table, pk and _key)."""

    ddb: Any
    table: str
    pk: str
    watch: str  # meta's `targetWatch`: the TargetsByWatch index lists a watch's targets

    def _key(self, sk: str) -> dict[str, Any]:  # pragma: no cover - provided by the store
        raise NotImplementedError

    def acquire_lease(self, owner: str, now: datetime, seconds: int) -> bool:
        """Take the lease unless another live run holds it. False means: someone else is running.

        botocore retries a write whose response was lost; the retry then fails the condition
        against our own lease. The old item says whose lease it is, so that case still wins.
        """
        try:
            self._set_lease(
                owner, now, seconds, "attribute_not_exists(leaseOwner) OR leaseExpiresAt < :now"
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                holder = exc.response.get("Item", {}).get("leaseOwner", {}).get("S")
                return bool(holder == owner)
            raise
        return True

    def confirm_lease(self, owner: str, now: datetime, seconds: int) -> None:
        """Extend our lease before persisting; LeaseLost if it expired and someone took over."""
        try:
            self._set_lease(owner, now, seconds, "leaseOwner = :owner")
        except ClientError as exc:
            if is_condition_failure(exc):
                raise LeaseLost(f"{self.pk}: lease lost before persisting") from exc
            raise

    def release_lease(self, owner: str) -> None:
        """Give the lease back so a retry seconds later can run. A no-op if it is not ours."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=self._key(META),
                UpdateExpression="REMOVE leaseOwner, leaseExpiresAt",
                ConditionExpression="leaseOwner = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise

    def _set_lease(self, owner: str, now: datetime, seconds: int, condition: str) -> None:
        values = {
            ":owner": {"S": owner},
            ":exp": {"N": str(int(now.timestamp()) + seconds)},
            ":watch": {"S": self.watch},
        }
        if ":now" in condition:
            values[":now"] = {"N": str(int(now.timestamp()))}
        self.ddb.update_item(
            TableName=self.table,
            Key=self._key(META),
            UpdateExpression=(
                "SET leaseOwner = :owner, leaseExpiresAt = :exp, targetWatch = :watch "
                "REMOVE retiredAt"  # a retired target that comes back is a target again
            ),
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )


def is_condition_failure(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")
