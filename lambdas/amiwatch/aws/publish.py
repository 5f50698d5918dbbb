"""Deliver events to EventBridge and SNS in batches, retrying the entries that fail."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from amiwatch.events import OutgoingEvent

ENTRIES_PER_CALL = 10
MAX_CALL_BYTES = 256 * 1024
ATTEMPTS = 3
CONCURRENT_CALLS = 4
# PutEvents counts a Time field as 14 bytes however it is sent.
TIME_FIELD_BYTES = 14


@dataclass
class PublishReport:
    """Which events each channel accepted, and what it cost."""

    accepted: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # eventId -> last error
    put_events_calls: int = 0
    publish_batch_calls: int = 0


def eventbridge_entry_size(entry: dict[str, Any]) -> int:
    """PutEvents' own size rule for one entry."""
    size = TIME_FIELD_BYTES if "Time" in entry else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(key, "")).encode())
    return size + sum(len(r.encode()) for r in entry.get("Resources", []))


def sns_entry_size(entry: dict[str, Any]) -> int:
    """A PublishBatch entry's payload: message, subject and attributes."""
    return len(json.dumps(entry).encode())


def batches(
    events: Sequence[OutgoingEvent], size_of: Callable[[OutgoingEvent], int]
) -> list[list[OutgoingEvent]]:
    """Group events into calls of at most 10 entries and 256 KB."""
    groups: list[list[OutgoingEvent]] = []
    current: list[OutgoingEvent] = []
    current_bytes = 0
    for event in events:
        size = size_of(event)
        if current and (len(current) == ENTRIES_PER_CALL or current_bytes + size > MAX_CALL_BYTES):
            groups.append(current)
            current, current_bytes = [], 0
        current.append(event)
        current_bytes += size
    if current:
        groups.append(current)
    return groups


class Publisher:
    """Sends each event to the bus, then (for the ones the bus accepted) to the topic.

    EventBridge goes first because its consumers are automation that de-duplicates on eventId;
    sending SNS only after the bus accepted keeps people from getting repeat emails for an
    event that will be re-sent next run anyway.
    """

    def __init__(self, events_client: Any, sns_client: Any, topic_arn: str) -> None:
        self.events_client = events_client
        self.sns_client = sns_client
        self.topic_arn = topic_arn

    def publish(self, events: Sequence[OutgoingEvent]) -> PublishReport:
        """Deliver; the report's `accepted` holds the ids accepted by both channels."""
        report = PublishReport()
        on_bus, report.put_events_calls = self._deliver(
            events, report, self._put_events, self._bus_size
        )
        on_topic, report.publish_batch_calls = self._deliver(
            [e for e in events if e.event_id in on_bus], report, self._publish_batch, self._sns_size
        )
        report.accepted = on_bus & on_topic
        for event in events:
            if event.event_id in report.accepted:
                report.failed.pop(event.event_id, None)
        return report

    @staticmethod
    def _bus_size(event: OutgoingEvent) -> int:
        return eventbridge_entry_size(event.eventbridge_entry)

    @staticmethod
    def _sns_size(event: OutgoingEvent) -> int:
        return sns_entry_size(event.sns_entry)

    def _deliver(
        self,
        events: Sequence[OutgoingEvent],
        report: PublishReport,
        send: Callable[[list[OutgoingEvent]], tuple[set[str], dict[str, str]]],
        size_of: Callable[[OutgoingEvent], int],
    ) -> tuple[set[str], int]:
        """Send in batches, retrying failed entries; returns what was accepted, and calls made."""
        delivered: set[str] = set()
        calls = 0
        pending = list(events)
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
                    report.failed.update(failed)
            pending = [e for e in pending if e.event_id not in delivered]
        return delivered, calls

    def _put_events(self, group: list[OutgoingEvent]) -> tuple[set[str], dict[str, str]]:
        try:
            answer = self.events_client.put_events(Entries=[e.eventbridge_entry for e in group])
        except (ClientError, BotoCoreError) as exc:
            return set(), {e.event_id: f"PutEvents: {exc}" for e in group}
        accepted, failed = set(), {}
        for event, result in zip(group, answer.get("Entries", []), strict=False):
            if result.get("EventId") and not result.get("ErrorCode"):
                accepted.add(event.event_id)
            else:
                failed[event.event_id] = f"PutEvents: {result.get('ErrorCode')}"
        return accepted, failed

    def _publish_batch(self, group: list[OutgoingEvent]) -> tuple[set[str], dict[str, str]]:
        try:
            answer = self.sns_client.publish_batch(
                TopicArn=self.topic_arn, PublishBatchRequestEntries=[e.sns_entry for e in group]
            )
        except (ClientError, BotoCoreError) as exc:
            return set(), {e.event_id: f"PublishBatch: {exc}" for e in group}
        failed = {f["Id"]: f"PublishBatch: {f.get('Code')}" for f in answer.get("Failed", [])}
        return {ok["Id"] for ok in answer.get("Successful", [])}, failed
