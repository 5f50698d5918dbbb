"""The target's `meta` item and its conditional writes: the lease that keeps runs of one target
apart (scheduled runs and refreshes alike), a completed run's summary, and the checkpoint of a
scan that outlives its invocation; see docs/design.md ("The lease", "Checkpointed scans")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from amiwatch.model.records import PROJECTION, format_time
from amiwatch.model.snapshot import ScanCheckpoint, Snapshot, decode_ids, encode_ids

META = "meta"
# What a checkpoint keeps on `meta`; a completed scan removes all of them in its meta update.
CHECKPOINT_ATTRIBUTES = (
    "scanId", "scanToken", "scanBaseline", "scanStartedAt", "scanSelection", "scanPages",
    "scanImages", "scanInvocations", "scanParts", "scanRecheck", "scanCandidates", "scanAt",
)  # fmt: skip


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

    def _update_meta(
        self,
        snapshot: Snapshot,
        owner: str,
        now: datetime,
        *,
        succeeded: bool,
        changes: Mapping[str, int],
    ) -> None:
        stamp = {"S": format_time(now)}
        sets = [
            "baselineAt = if_not_exists(baselineAt, :now)",
            "shardCount = :shards",
            "imageCount = :images",
            "lastRunAt = :now",
            "recordProjection = :projection",
            "targetWatch = :watch",
        ]
        values: dict[str, Any] = {
            ":now": stamp,
            ":shards": {"N": str(snapshot.shard_count)},
            ":images": {"N": str(len(snapshot.entries))},
            ":owner": {"S": owner},
            ":projection": {"N": str(PROJECTION)},
            ":watch": {"S": self.watch},
        }
        if changes:
            sets += ["lastChanges = :changes", "lastChangeAt = :now"]
            values[":changes"] = {"M": {k: {"N": str(v)} for k, v in sorted(changes.items())}}
        if snapshot.selection is not None:
            sets.append("selectionDigest = :selection")
            values[":selection"] = {"S": snapshot.selection}
        if snapshot.candidates:
            sets.append("replacements = :replacements")
            values[":replacements"] = {"S": json.dumps(snapshot.candidates, sort_keys=True)}
        if succeeded:
            sets.append("lastSuccessAt = :now")
        # The scan completed: it is no longer in progress (a checkpoint, if any, is done).
        self._owned_update("SET " + ", ".join(sets) + " REMOVE " + ", ".join(CHECKPOINT_ATTRIBUTES),
                           values)  # fmt: skip

    def _save_checkpoint_meta(
        self, checkpoint: ScanCheckpoint, shard_count: int, owner: str, now: datetime
    ) -> None:
        """Keep where the scan stands (and the shard count its shards were written with)."""
        values: dict[str, Any] = {
            ":owner": {"S": owner},
            ":id": {"S": checkpoint.scan_id},
            ":baseline": {"BOOL": checkpoint.baseline},
            ":started": {"S": checkpoint.started_at},
            ":pages": {"N": str(checkpoint.pages)},
            ":images": {"N": str(checkpoint.images)},
            ":invocations": {"N": str(checkpoint.invocations)},
            ":parts": {"N": str(checkpoint.parts)},
            ":candidates": {"S": json.dumps(checkpoint.candidates, sort_keys=True)},
            ":at": {"S": format_time(now)},
            ":shards": {"N": str(shard_count)},
            ":watch": {"S": self.watch},
        }
        sets = ["scanId = :id", "scanBaseline = :baseline", "scanStartedAt = :started",
                "scanPages = :pages", "scanImages = :images", "scanInvocations = :invocations",
                "scanParts = :parts", "scanCandidates = :candidates", "scanAt = :at",
                "shardCount = :shards", "targetWatch = :watch"]  # fmt: skip
        removes = []
        for name, attribute, value in (
            ("token", "scanToken", {"S": checkpoint.token} if checkpoint.token else None),
            ("selection", "scanSelection",
             {"S": checkpoint.selection} if checkpoint.selection else None),
            ("recheck", "scanRecheck",
             {"B": encode_ids(checkpoint.recheck)} if checkpoint.recheck else None),
        ):  # fmt: skip
            if value is None:
                removes.append(attribute)
            else:
                sets.append(f"{attribute} = :{name}")
                values[f":{name}"] = value
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        self._owned_update(expression, values)

    def _owned_update(self, expression: str, values: dict[str, Any]) -> None:
        """UpdateItem on meta while we hold the lease; LeaseLost when we no longer do."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=self._key(META),
                UpdateExpression=expression,
                ConditionExpression="leaseOwner = :owner",
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise LeaseLost(f"{self.pk}: lease lost while persisting") from exc
            raise


def checkpoint_from(meta: Mapping[str, Any]) -> ScanCheckpoint | None:
    """The scan in progress that `meta` records, or None."""
    if "scanId" not in meta:
        return None

    def number(name: str) -> int:
        return int(meta.get(name, {"N": "0"})["N"])

    try:
        candidates = json.loads(meta.get("scanCandidates", {}).get("S") or "{}")
    except ValueError:
        candidates = {}
    recheck = meta.get("scanRecheck", {}).get("B")
    return ScanCheckpoint(
        scan_id=meta["scanId"]["S"],
        token=meta.get("scanToken", {}).get("S"),
        baseline=bool(meta.get("scanBaseline", {}).get("BOOL", False)),
        started_at=meta.get("scanStartedAt", {}).get("S", ""),
        selection=meta.get("scanSelection", {}).get("S"),
        pages=number("scanPages"),
        images=number("scanImages"),
        invocations=number("scanInvocations"),
        parts=number("scanParts"),
        recheck=tuple(decode_ids(bytes(recheck))) if recheck else (),
        candidates=candidates if isinstance(candidates, dict) else {},
    )


def is_condition_failure(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")
