"""One target's run, wired to AWS: EC2 of the target's account and region, the watcher's own
snapshot table, bus and topics. Clients are built once per warm Lambda and reused."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from amiwatch.aws.accounts import TargetClients
from amiwatch.aws.clients import client
from amiwatch.aws.dispatching import TargetQueue, is_known_target
from amiwatch.aws.parameters import SsmParameters
from amiwatch.aws.publish import BusTopicPublisher
from amiwatch.aws.scan import Ec2Images
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.judge.dispatch import scan_message
from amiwatch.model.contract import Target
from amiwatch.model.watches import AccountRef, Watch
from amiwatch.run.checkpoint import Deadline
from amiwatch.run.pipeline import WatchPorts, run_watch
from amiwatch.run.refresh import run_refresh
from amiwatch.run.result import WatchResult
from amiwatch.wiring.observability import logger
from amiwatch.wiring.settings import Settings, TargetRef


@cache
def home_clients(region: str) -> dict[str, Any]:
    """The watcher's own clients: the snapshot, bus, topics and queues live in its account and
    region (built once per warm Lambda)."""
    return {name: client(name, region=region) for name in ("dynamodb", "events", "sns", "sqs")}


@cache
def _target_clients(external_id: str | None, partition: str) -> TargetClients:
    return TargetClients(external_id, partition)


@cache
def _ssm(region: str) -> Any:
    return client("ssm", region=region)


def _parameters(watch: Watch, region: str) -> SsmParameters | None:
    # Public parameters are the same in every account: always the watcher's own credentials.
    return SsmParameters(_ssm(region)) if watch.follows_parameters else None


class Invocation(Protocol):
    """What a run needs of the Lambda context: who it is, and how long it has left."""

    @property
    def aws_request_id(self) -> str: ...

    def get_remaining_time_in_millis(self) -> int: ...


def run_target(
    settings: Settings,
    watch: Watch,
    account: AccountRef,
    target: Target,
    invocation: Invocation,
    scan_id: str | None = None,
) -> WatchResult:
    """Run one target once (`scan_id`: continue that checkpointed scan only); a scan that nears
    the invocation's end checkpoints and enqueues its continuation on the target queue.
    TargetUnavailable when the target's account or region cannot be read."""
    ports = target_ports(settings, watch, account, target)
    # A caller without a Lambda context's clock (a local invocation) never checkpoints.
    remaining = getattr(invocation, "get_remaining_time_in_millis", None)
    if callable(remaining):
        memory = getattr(invocation, "memory_limit_in_mb", None)
        deadline = Deadline.of(lambda: remaining() / 1000, _number(memory), resident_mb)
        ports = replace(ports, deadline=deadline)
    now = datetime.now(UTC)
    result = run_watch(watch, target, ports, now, owner=invocation.aws_request_id,
                       lease_seconds=settings.lease_seconds, scan_id=scan_id)  # fmt: skip
    if result.status == "checkpointed" and result.scan is not None:
        continue_scan(settings, scan_message(watch.name, account, target.region,
                                             result.scan["scanId"]))  # fmt: skip
    return result


def resident_mb() -> float | None:
    """The process's resident memory now (Linux: /proc/self/statm), None where unknown."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def _number(value: object) -> float | None:
    try:
        return float(value) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def continue_scan(settings: Settings, message: str) -> None:
    """Enqueue a checkpointed scan's continuation. DispatchIncomplete if it cannot be sent: the
    message that ran this invocation then comes again, and resumes the same checkpoint."""
    if settings.target_queue_url is None:
        logger.warning("no target queue: the next scheduled run resumes the scan")
        return
    TargetQueue(home_clients(settings.region)["sqs"], settings.target_queue_url).send([message])


def refresh_target(
    settings: Settings,
    watch: Watch,
    account: AccountRef,
    target: Target,
    image_ids: Sequence[str],
    owner: str,
) -> WatchResult:
    """Refresh these images of one target now (AWS said they changed)."""
    ports = target_ports(settings, watch, account, target)
    now = datetime.now(UTC)
    return run_refresh(watch, target, ports, now, image_ids, owner=owner,
                       lease_seconds=settings.lease_seconds)  # fmt: skip


def target_ec2(settings: Settings, watch: Watch, account: AccountRef, target: Target) -> Any:
    """EC2 of the target's account (its member role) and region."""
    return _target_clients(settings.external_id, target.partition).ec2(
        account, target.region, session_name=f"amiwatch-{watch.name}"
    )


def target_ports(
    settings: Settings, watch: Watch, account: AccountRef, target: Target
) -> WatchPorts:
    """The target's EC2 (its own account's credentials), the watcher's table, bus and topics."""
    home = home_clients(settings.region)
    ec2 = target_ec2(settings, watch, account, target)
    return WatchPorts(
        images=Ec2Images(ec2, account, target.region),
        bus_name=settings.bus_name,
        store=DynamoSnapshotStore(home["dynamodb"], settings.table_name, target),
        publisher=BusTopicPublisher(home["events"], home["sns"], settings.topics()),
        notices=settings.notices,
        parameters=_parameters(watch, target.region),
    )


def queue_runner(
    settings: Settings, invocation: Invocation
) -> Callable[[TargetRef, Target, tuple[str, ...] | None, str | None], WatchResult]:
    """How the refresh queue's consumer runs a target: refresh these ids, or (None) a full scan
    (or its continuation)."""

    def run(
        ref: TargetRef, target: Target, ids: tuple[str, ...] | None, scan_id: str | None
    ) -> WatchResult:
        watch, account, _ = ref
        if ids is None:
            return run_target(settings, watch, account, target, invocation, scan_id)
        owner = invocation.aws_request_id
        return refresh_target(settings, watch, account, target, ids, owner)

    return run


def target_check(settings: Settings) -> Callable[[str, str, str], bool]:
    """Whether an organisation account is a target of a watch now (the dispatcher's record)."""

    def is_target(watch: str, account: str, region: str) -> bool:
        ddb = home_clients(settings.region)["dynamodb"]
        return is_known_target(ddb, settings.table_name, watch, account, region)

    return is_target


def postpone(delays: Mapping[str, Sequence[tuple[str, int]]]) -> None:
    """Make retried messages visible again after their delay (refresh_queue.retry_delays), not
    after the queue's visibility timeout. Best effort: without it they come back anyway."""
    for queue_arn, handles in delays.items():
        _, _, _, region, account, name = queue_arn.split(":")
        sqs = home_clients(region)["sqs"]
        try:
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            for start in range(0, len(handles), 10):
                entries = [
                    {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                    for n, (handle, seconds) in enumerate(handles[start : start + 10])
                ]
                sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        except (BotoCoreError, ClientError) as exc:
            logger.warning("retried messages keep the queue's visibility timeout",
                           extra={"queue": queue_arn, "error": str(exc)})  # fmt: skip
