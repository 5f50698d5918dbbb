"""The watcher's work queues (AWS's AMI events; the dispatcher's target scans): each with a
dead-letter queue, consumed by the watcher through an event source mapping that reports
partial batch failures. The consumer is the same code for both (amiwatch.entry.queue)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ..nag import acknowledge

# Then a message is a poison message: the dead-letter queue (and its alarm). A message retried
# because a run holds the lease comes back after 30 s, doubling to 15 min: 8 receives span
# ~45 minutes, longer than a lease left by a crashed run (16 min) takes to expire.
MAX_RECEIVES = 8


@dataclass
class WorkQueue:
    queue: sqs.Queue
    dead_letter_queue: sqs.Queue


def work_queue(scope: Construct, name: str, dead_letters: str, timeout_seconds: int) -> WorkQueue:
    """A queue `name` (SQS-managed encryption, TLS only) and its dead-letter queue."""
    dead_letter_queue = sqs.Queue(
        scope, dead_letters, encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True, retention_period=Duration.days(14),
    )  # fmt: skip
    acknowledge(dead_letter_queue, "AwsSolutions-SQS3",
                f"This queue is itself the dead-letter queue of {name}.")  # fmt: skip
    queue = sqs.Queue(
        scope,
        name,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        # A message in flight must outlive the longest run that handles it (AWS: 6 times).
        visibility_timeout=Duration.seconds(min(6 * timeout_seconds, 43_200)),
        dead_letter_queue=sqs.DeadLetterQueue(
            queue=dead_letter_queue, max_receive_count=MAX_RECEIVES
        ),
    )
    return WorkQueue(queue, dead_letter_queue)


def consume(
    function: lambda_.Function,
    queue: sqs.Queue,
    *,
    batch_size: int,
    max_concurrency: int | None,
    window_seconds: int = 0,
) -> None:
    """The watcher reads `queue` in batches and reports which messages must come again."""
    function.add_event_source(sources.SqsEventSource(
        queue, batch_size=batch_size, report_batch_item_failures=True,
        max_batching_window=Duration.seconds(window_seconds) if window_seconds else None,
        max_concurrency=max_concurrency,
    ))  # fmt: skip
