"""Deliver events to EventBridge and SNS in batches, retrying the entries that fail."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from amiwatch.messages.budget import eventbridge_bytes, sns_bytes
from amiwatch.messages.sns import Notice
from amiwatch.model.contract import OutgoingEvent
from amiwatch.run.ports import PublishReport

ENTRIES_PER_CALL = 10
MAX_CALL_BYTES = 256 * 1024
ATTEMPTS = 3
CONCURRENT_CALLS = 4
T = TypeVar("T")


def batches(items: Sequence[T], size_of: Callable[[T], int]) -> list[list[T]]:
    """Group items into calls of at most 10 entries and 256 KB."""
    groups: list[list[T]] = []
    current: list[T] = []
    current_bytes = 0
    for item in items:
        size = size_of(item)
        if current and (len(current) == ENTRIES_PER_CALL or current_bytes + size > MAX_CALL_BYTES):
            groups.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += size
    if current:
        groups.append(current)
    return groups


class BusTopicPublisher:
    """Sends each event to the bus, then the SNS messages (notices) of what the bus accepted.

    EventBridge goes first because its consumers are automation that de-duplicates on eventId;
    sending SNS only after the bus accepted keeps people from getting repeat emails for an
    event that will be re-sent next run anyway. An event counts as delivered when the bus and
    every notice covering it (its topic message, its chat message, a digest) were accepted.
    """

    def __init__(self, events_client: Any, sns_client: Any, topics: Mapping[str, str]) -> None:
        self.events_client = events_client
        self.sns_client = sns_client
        self.topics = dict(topics)  # channel -> topic ARN

    def publish(self, events: Sequence[OutgoingEvent], notices: Sequence[Notice]) -> PublishReport:
        """Deliver; the report's `accepted` holds the ids delivered on every channel."""
        report = PublishReport()
        errors: dict[str, str] = {}
        on_bus, report.put_events_calls = self._deliver(
            events, _event_key, self._put_events, _bus_size, errors
        )
        # A notice goes out once the bus accepted an event it covers; one that covers no event
        # of this batch (a run's digest counting earlier chunks) goes out regardless.
        sendable = [n for n in notices if not n.covers or any(i in on_bus for i in n.covers)]
        sent: set[str] = set()
        for channel in sorted({n.channel for n in sendable}):
            arn = self.topics.get(channel)
            if arn is None:
                raise ValueError(f"no topic ARN for the {channel} channel")
            accepted, calls = self._deliver(
                [n for n in sendable if n.channel == channel], _notice_key,
                partial(self._publish_batch, channel, arn), _sns_size, errors,
            )  # fmt: skip
            sent |= accepted
            report.publish_batch_calls += calls
        # For each event, the first of its notices that did not go out (if any).
        blocked: dict[str, str] = {}
        for notice in notices:
            if _notice_key(notice) not in sent:
                for event_id in notice.covers:
                    blocked.setdefault(event_id, _notice_key(notice))
        report.accepted = on_bus - set(blocked)
        for event in events:
            if event.event_id not in on_bus:
                report.failed[event.event_id] = errors.get(event.event_id, "eventbridge: not sent")
            elif event.event_id in blocked:
                key = blocked[event.event_id]
                channel = key.split(":", 1)[0]
                report.failed[event.event_id] = errors.get(key, f"sns {channel}: not sent")
        return report

    def _deliver(
        self,
        items: Sequence[T],
        key: Callable[[T], str],
        send: Callable[[list[T]], tuple[set[str], dict[str, str]]],
        size_of: Callable[[T], int],
        errors: dict[str, str],
    ) -> tuple[set[str], int]:
        """Send in batches, retrying failed entries; returns what was accepted, and calls made."""
        delivered: set[str] = set()
        calls = 0
        pending = list(items)
        for attempt in range(ATTEMPTS):
            if not pending:
                break
            if attempt:
                time.sleep(0.2 * 2**attempt)
            groups = batches(pending, size_of)
            calls += len(groups)
            # A few calls in flight: the call count stays ceil(n/10), the waiting overlaps.
            with ThreadPoolExecutor(max_workers=CONCURRENT_CALLS) as pool:
                for accepted, failed in pool.map(send, groups):
                    delivered |= accepted
                    errors.update(failed)
            pending = [i for i in pending if key(i) not in delivered]
        return delivered, calls

    def _put_events(self, group: list[OutgoingEvent]) -> tuple[set[str], dict[str, str]]:
        try:
            answer = self.events_client.put_events(Entries=[e.eventbridge_entry for e in group])
        except (ClientError, BotoCoreError) as exc:
            return set(), dict.fromkeys((e.event_id for e in group), why("eventbridge", exc))
        accepted, failed = set(), {}
        for event, result in zip(group, answer.get("Entries", []), strict=False):
            if result.get("EventId") and not result.get("ErrorCode"):
                accepted.add(event.event_id)
            else:
                code, message = result.get("ErrorCode"), result.get("ErrorMessage")
                failed[event.event_id] = reason("eventbridge", code, message)
        return accepted, failed

    def _publish_batch(
        self, channel: str, arn: str, group: list[Notice]
    ) -> tuple[set[str], dict[str, str]]:
        try:
            answer = self.sns_client.publish_batch(
                TopicArn=arn, PublishBatchRequestEntries=[n.entry for n in group]
            )
        except (ClientError, BotoCoreError) as exc:
            return set(), dict.fromkeys((_notice_key(n) for n in group), why(f"sns {channel}", exc))
        failed = {
            f"{channel}:{f['Id']}": reason(f"sns {channel}", f.get("Code"), f.get("Message"))
            for f in answer.get("Failed", [])
        }
        return {f"{channel}:{ok['Id']}" for ok in answer.get("Successful", [])}, failed


def why(channel: str, exc: Exception) -> str:
    """The reason a whole call failed: the service's error code and message, or the SDK's."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return reason(channel, error.get("Code"), error.get("Message"))
    return reason(channel, type(exc).__name__, str(exc))


def reason(channel: str, code: Any, message: Any) -> str:
    """`<channel>: <code>: <message>`, on one line: the distinct reasons a run reports."""
    text = " ".join(str(message or "").split())
    return f"{channel}: {code or 'unknown error'}" + (f": {text}" if text else "")


def _event_key(event: OutgoingEvent) -> str:
    return event.event_id


def _notice_key(notice: Notice) -> str:
    # Ids are unique per topic only: a change's topic and chat messages share its eventId.
    return f"{notice.channel}:{notice.notice_id}"


def _bus_size(event: OutgoingEvent) -> int:
    return eventbridge_bytes(event.eventbridge_entry)


def _sns_size(notice: Notice) -> int:
    return sns_bytes(notice.entry)
