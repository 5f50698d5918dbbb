"""The dispatcher's AWS edges: who is in the organisation, what the table knows of a watch's
targets (the TargetsByWatch index over `meta` items), and the target queue."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from amiwatch.aws.clients import assumed_client, client
from amiwatch.aws.lease import checkpoint_from
from amiwatch.aws.store import batch_get
from amiwatch.judge.dispatch import KnownTarget

TARGETS_BY_WATCH = "TargetsByWatch"  # GSI: targetWatch (hash), pk (range); meta items only
# What the index projects of each meta item (besides its keys).
META_SUMMARY = ("lastSuccessAt", "lastRunAt", "imageCount", "lastChanges", "lastChangeAt")
SCAN_PROGRESS = "pk, scanId, scanStartedAt, scanInvocations, scanPages, scanImages, scanAt"  # meta
SEND_BATCH = 10  # SendMessageBatch's limit
SENDERS = 8  # batches in flight
SEND_ATTEMPTS = 3
RETIRE_PER_DISPATCH = 500  # removed targets taken out of the index per dispatch (the rest next)
PURGE_PER_DISPATCH = 10  # expired retired targets whose items are deleted per dispatch
DELETE_BATCH, DELETE_ATTEMPTS = 25, 5  # BatchWriteItem's limit; rounds for unprocessed items


def retired_key(watch: str) -> str:
    """The index partition of a watch's retired targets (their `targetWatch`)."""
    return f"retired#{watch}"


class DispatchIncomplete(RuntimeError):
    """Some targets could not be enqueued; the schedule retries the dispatch (a target sent
    twice runs once: the lease, and an unchanged run publishes nothing)."""


def organizations_client(region: str, role_arn: str | None) -> Any:
    """Organizations with the watcher's own credentials (management account or delegated
    administrator), or through `organizationRoleArn`."""
    if role_arn is None:
        return client("organizations", region=region)
    answer = client("sts", region=region).assume_role(
        RoleArn=role_arn, RoleSessionName="amiwatch-dispatch"
    )
    return assumed_client("organizations", region, answer["Credentials"])


def known_targets(ddb: Any, table: str, watch: str) -> list[KnownTarget]:
    """Every target of the watch the table has a `meta` item for (one Query page per ~1 MB)."""
    known = []
    paginator = ddb.get_paginator("query")
    pages = paginator.paginate(
        TableName=table,
        IndexName=TARGETS_BY_WATCH,
        KeyConditionExpression="targetWatch = :watch",
        ExpressionAttributeValues={":watch": {"S": watch}},
    )
    for page in pages:
        for item in page.get("Items", []):
            _, _, account, region = item["pk"]["S"].split("#", 3)
            changes = item.get("lastChanges", {}).get("M", {})
            known.append(
                KnownTarget(
                    account=account,
                    region=region,
                    last_success_at=item.get("lastSuccessAt", {}).get("S"),
                    last_run_at=item.get("lastRunAt", {}).get("S"),
                    images=int(item["imageCount"]["N"]) if "imageCount" in item else None,
                    last_changes={k: int(v["N"]) for k, v in changes.items()},
                )
            )
    return known


def scans_in_progress(
    ddb: Any, table: str, watch: str, targets: Sequence[KnownTarget]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(account, region) -> the scan in progress of those targets that have one (their `meta`
    items, 100 a BatchGetItem; the index does not project a checkpoint)."""
    keys = [{"pk": {"S": _partition(watch, f"{t.account}/{t.region}")}, "sk": {"S": "meta"}}
            for t in targets]  # fmt: skip
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for item in batch_get(ddb, table, keys, ProjectionExpression=SCAN_PROGRESS):
        checkpoint = checkpoint_from(item)
        if checkpoint is not None:
            _, _, account, region = item["pk"]["S"].split("#", 3)
            at = item.get("scanAt", {}).get("S")
            found[(account, region)] = {**checkpoint.summary(), "checkpointAt": at}
    return found


def is_known_target(ddb: Any, table: str, watch: str, account: str, region: str) -> bool:
    """Whether the dispatcher made (account, region) a target of the watch and has not retired
    it: its `meta` names the watch (one GetItem)."""
    answer = ddb.get_item(
        TableName=table, Key={"pk": {"S": _partition(watch, f"{account}/{region}")},
                              "sk": {"S": "meta"}},
        ProjectionExpression="targetWatch",
    )  # fmt: skip
    return bool(answer.get("Item", {}).get("targetWatch", {}).get("S") == watch)


@dataclass
class TargetQueue:
    """The queue of target scans: SendMessageBatch, SENDERS batches in flight."""

    sqs: Any
    url: str

    def send(self, bodies: Sequence[str]) -> int:
        """Enqueue every body; the number sent. DispatchIncomplete if some never went."""
        batches = [bodies[i : i + SEND_BATCH] for i in range(0, len(bodies), SEND_BATCH)]
        with ThreadPoolExecutor(max_workers=SENDERS) as pool:
            unsent = sum(pool.map(self._send_batch, batches))
        if unsent:
            raise DispatchIncomplete(f"{unsent} of {len(bodies)} target messages were not sent")
        return len(bodies)

    def _send_batch(self, batch: Sequence[str]) -> int:
        pending = {str(n): body for n, body in enumerate(batch)}
        for _ in range(SEND_ATTEMPTS):
            entries = [{"Id": n, "MessageBody": body} for n, body in pending.items()]
            answer = self.sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            pending = {f["Id"]: pending[f["Id"]] for f in answer.get("Failed", [])}
            if not pending:
                return 0
        return len(pending)


def retire_targets(ddb: Any, table: str, watch: str, removed: Sequence[str], now: str) -> int:
    """Move removed targets ("account/region") to the index's `retired#<watch>` partition
    (`retiredAt` set), so freshness and `amiwatch status` forget them. Their snapshot stays until
    purge_targets; if the account comes back, its next run's lease puts it back (targetWatch)."""
    for name in removed[:RETIRE_PER_DISPATCH]:
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": _partition(watch, name)}, "sk": {"S": "meta"}},
            UpdateExpression="SET targetWatch = :retired, retiredAt = :now",
            ExpressionAttributeValues={":retired": {"S": retired_key(watch)}, ":now": {"S": now}},
        )
    return min(len(removed), RETIRE_PER_DISPATCH)


def purge_targets(ddb: Any, table: str, watch: str, expired: Sequence[str]) -> list[str]:
    """Delete every item of up to PURGE_PER_DISPATCH retired targets, `meta` last and alone
    (a purge cut short keeps `meta`, so the next dispatch finds and finishes it); those purged."""
    purged = []
    for name in expired[:PURGE_PER_DISPATCH]:
        partition = {"S": _partition(watch, name)}
        pages = ddb.get_paginator("query").paginate(
            TableName=table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": partition}, ProjectionExpression="pk, sk",
        )  # fmt: skip
        keys = [item for page in pages for item in page.get("Items", [])]
        others = [k for k in keys if k["sk"]["S"] != "meta"]
        batches = [others[i : i + DELETE_BATCH] for i in range(0, len(others), DELETE_BATCH)]
        meta = {"pk": partition, "sk": {"S": "meta"}}
        if all(_deleted(ddb, table, batch) for batch in batches) and _deleted(ddb, table, [meta]):
            purged.append(name)
    return purged


def _deleted(ddb: Any, table: str, keys: Sequence[dict[str, Any]]) -> bool:
    requests = [{"DeleteRequest": {"Key": key}} for key in keys]
    for _ in range(DELETE_ATTEMPTS):
        answer = ddb.batch_write_item(RequestItems={table: requests})
        requests = answer.get("UnprocessedItems", {}).get(table, [])
        if not requests:
            return True
    return False


def _partition(watch: str, name: str) -> str:
    account, region = name.split("/", 1)
    return f"target#{watch}#{account}#{region}"
