"""The refresh queue's consumer: AWS's own AMI events (and vendors' release notices), in batches.

A batch is grouped by (account, region): each watch target there refreshes the union of the ids
its messages name, once. A target whose lease is held (a scheduled run is scanning), or whose
refresh failed, reports its messages as batch item failures, so SQS redelivers just those after
the visibility timeout; a message that asks for nothing amiwatch can do is counted, logged and
acknowledged (never retried forever). A message that keeps failing goes to the dead-letter queue
after the queue's maxReceiveCount.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from amiwatch.judge.aws_events import (
    Forecast,
    Ignored,
    Refresh,
    Request,
    Rescan,
    Scan,
    read_message,
)
from amiwatch.model.contract import Target
from amiwatch.run.result import PublishIncomplete, QueueTally, WatchResult
from amiwatch.wiring.settings import Settings, TargetRef

FIRST_RETRY_SECONDS, LAST_RETRY_SECONDS = 30, 900
# (target, the ids to refresh or None for a full scan, the checkpointed scan a continuation
# carries on)
RunTarget = Callable[[TargetRef, Target, tuple[str, ...] | None, str | None], WatchResult]
IsTarget = Callable[[str, str, str], bool]  # (watch, account, region): one the dispatcher made
# (target, its result or failure, whether it was a full scan rather than a refresh of some ids)
OnResult = Callable[[Target, WatchResult | Exception, bool], None]
# A target's forecast of one period (amiwatch.wiring.forecasts); raises when it must come again.
RunForecast = Callable[[TargetRef, Target, str], None]


class Retry(RuntimeError):
    """This message's target could not be refreshed now; SQS delivers it again."""


@dataclass
class Plan:
    """What one batch asks for, and which messages each piece answers."""

    refreshes: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    refresh_messages: dict[tuple[str, str], list[str]] = field(
        default_factory=lambda: defaultdict(list)
    )
    rescans: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    scans: dict[Scan, list[str]] = field(default_factory=lambda: defaultdict(list))
    forecasts: dict[Forecast, list[str]] = field(default_factory=lambda: defaultdict(list))
    ignored: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def is_queue_event(event: Mapping[str, Any]) -> bool:
    """Is this invocation a batch from the refresh queue?"""
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        return False
    return all(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records)


def plan(records: list[Mapping[str, Any]]) -> Plan:
    """Group a batch: refreshes by (account, region), rescans by topic, the dispatcher's scans
    by target, the rest ignored."""
    batch = Plan()
    for record in records:
        message_id, request = record["messageId"], _request(record)
        if isinstance(request, Refresh):
            key = (request.account, request.region)
            batch.refreshes[key].update(request.image_ids)
            batch.refresh_messages[key].append(message_id)
        elif isinstance(request, Rescan):
            batch.rescans[request.topic_arn].append(message_id)
        elif isinstance(request, Scan):
            batch.scans[request].append(message_id)
        elif isinstance(request, Forecast):
            batch.forecasts[request].append(message_id)
        else:
            batch.ignored[request.reason].append(message_id)
    return batch


def _request(record: Mapping[str, Any]) -> Request:
    """One record's ask; a record that cannot be read is one malformed message, never the
    batch's failure (that would re-drive up to 100 good messages with it)."""
    try:
        return read_message(record.get("body"))
    except Exception:
        return Ignored("malformed")


def _targets_at(
    settings: Settings, account: str, region: str, home_account: str, is_target: IsTarget
) -> list[TargetRef]:
    """The targets an AMI event of this account and region is for: cdk.json's, and the
    organisation accounts the dispatcher made targets (one GetItem each, may raise)."""
    named = settings.targets_at(account, region, home_account)
    scoped = settings.org_targets_at(account, region, home_account)
    return named + [ref for ref in scoped if is_target(ref[0].name, account, region)]


def consume(
    event: Mapping[str, Any],
    context: LambdaContext,
    settings: Settings,
    run: RunTarget,
    home: tuple[str, str],
    on_result: OnResult,
    is_target: IsTarget,
    forecast: RunForecast | None = None,
) -> tuple[dict[str, Any], QueueTally]:
    """Carry out a batch: the partial batch response (the messages SQS must deliver again), and
    what it did. `home` is the watcher's (partition, account); `is_target` tells which accounts
    of an organisation scope are targets now; `forecast` runs the forecasts it orders."""
    partition, home_account = home
    batch = plan(list(event["Records"]))
    tally = QueueTally(messages=len(event["Records"]))
    retry: set[str] = set()
    work: list[tuple[TargetRef, Target, tuple[str, ...] | None, str | None, list[str]]] = []
    for (account, region), ids in batch.refreshes.items():
        messages = batch.refresh_messages[(account, region)]
        try:
            targets = _targets_at(settings, account, region, home_account, is_target)
        except Exception:  # e.g. a throttled GetItem: only these messages come again
            retry.update(messages)
            continue
        if not targets:
            batch.ignored["no-watch"] += messages
        work += [(ref, Target(ref[0].name, account, region, partition), tuple(sorted(ids)),
                  None, messages) for ref in targets]  # fmt: skip
    for topic, messages in batch.rescans.items():
        targets = settings.targets_on_topic(topic)
        if not targets:
            batch.ignored["no-watch"] += messages
        for ref in targets:
            account_id = home_account if ref[1].is_self else ref[1].id
            work.append((ref, Target(ref[0].name, account_id, ref[2], partition), None, None,
                         messages))  # fmt: skip
    for scan, messages in batch.scans.items():
        scanned = settings.scan_target(scan.watch, scan.account, scan.role_name, scan.region)
        if scanned is None:  # a watch edited since the dispatch: that target is no longer run
            batch.ignored["no-watch"] += messages
            continue
        account_id = home_account if scanned[1].is_self else scanned[1].id
        work.append((scanned, Target(scan.watch, account_id, scan.region, partition), None,
                     scan.scan_id, messages))  # fmt: skip
    for order, messages in batch.forecasts.items():
        ordered = settings.scan_target(order.watch, order.account, order.role_name, order.region)
        if ordered is None or forecast is None:
            batch.ignored["no-watch"] += messages
            continue
        account_id = home_account if ordered[1].is_self else ordered[1].id
        tally.targets += 1
        try:
            forecast(ordered, Target(order.watch, account_id, order.region, partition),
                     order.period)  # fmt: skip
        except Exception:  # one target's forecast failing must not fail the batch
            retry.update(messages)
    for ref, target, wanted, scan_id, answered in work:
        tally.targets += 1
        if not _ran(run, (ref, target, wanted, scan_id), on_result):
            retry.update(answered)
    tally.retried = len(retry)
    tally.ignored = {reason: len(messages) for reason, messages in batch.ignored.items()}

    def answer(record: SQSRecord) -> None:
        if record.message_id in retry:
            raise Retry(f"message {record.message_id}: its target will be refreshed again")

    # Every message retried is still an answer (the batch item failures), not a failed invocation.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=dict(event), record_handler=answer, processor=processor, context=context
    )
    return dict(response), tally


def _ran(
    run: RunTarget,
    args: tuple[TargetRef, Target, tuple[str, ...] | None, str | None],
    on_result: OnResult,
) -> bool:
    """Run (ids None: a full scan) and report; False when the messages must come again."""
    target, ids = args[1], args[2]
    try:
        result = run(*args)
    except PublishIncomplete as exc:
        on_result(target, exc.result, ids is None)
        return False
    except Exception as exc:  # one target failing must not fail the others of the batch
        on_result(target, exc, ids is None)
        return False
    on_result(target, result, ids is None)
    return result.status != "locked"


def retry_delays(event: Mapping[str, Any], response: Mapping[str, Any]) -> dict[str, list[Any]]:
    """When SQS should deliver each retried message again, by queue ARN: (receipt handle,
    seconds). A lease is held for minutes, not the queue's visibility timeout (six times the
    function's): 30 s, then doubling to 15 min with each receive."""
    retried = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    delays: dict[str, list[Any]] = defaultdict(list)
    for record in event.get("Records", []):
        if record.get("messageId") in retried:
            receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
            seconds = min(FIRST_RETRY_SECONDS * 2 ** (receives - 1), LAST_RETRY_SECONDS)
            delays[record["eventSourceARN"]].append((record["receiptHandle"], seconds))
    return dict(delays)
