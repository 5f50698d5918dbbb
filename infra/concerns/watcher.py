"""`AmiWatcher`: one amiwatch deployment, composed of one construct per concern.

Storage ──────────── the snapshot table
Messaging ────────── key, topic (+ email subscriptions), chat topic, bus + archive, registry
Compute ──────────── the Lambda, its role and permissions, log group, dead-letter queue
Triggers ─────────── one schedule per watch (dispatch), the target queue
Monitoring ───────── alarm topic and alarms
Chat ─────────────── Slack / Teams channels on the chat topic
Operations ───────── the CloudWatch dashboard
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from constructs import Construct

from ..concerns.chat import ChatChannels
from ..concerns.compute import WatcherFunction
from ..concerns.dashboard import Dashboard
from ..concerns.messaging import Messaging
from ..concerns.monitoring import Monitoring
from ..concerns.realtime import NearRealTime
from ..concerns.storage import Storage
from ..concerns.triggers import Schedules
from ..config.cdk_json import AppConfig, load_app_config


class AmiWatcher(Construct):
    """Everything one amiwatch deployment needs; exposes what the stack outputs. `config` is
    cdk.json's `amiwatch` object (a mapping, validated here by the same rules as cdk.json:
    ConfigError names the field) or an AppConfig already validated by `load_app_config`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: AppConfig | Mapping[str, Any]
    ) -> None:
        super().__init__(scope, construct_id)
        if not isinstance(config, AppConfig):
            config = load_app_config(dict(config))
        storage = Storage(self, "Storage")
        messaging = Messaging(self, "Messaging", config=config)
        compute = WatcherFunction(
            self,
            "Compute",
            config=config,
            table=storage.table,
            topics=[messaging.topic, messaging.chat_topic],
            key=messaging.key,
            bus=messaging.bus,
        )
        triggers = Schedules(
            self,
            "Triggers",
            config=config,
            function=compute.function,
            dead_letter_queue=compute.dead_letter_queue,
        )
        realtime = (
            NearRealTime(self, "NearRealTime", config=config, function=compute.function)
            if config.near_real_time
            else None
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            function=compute.function,
            dead_letter_queue=compute.dead_letter_queue,
            target_dead_letters=triggers.dead_letter_queue,
            refresh_dead_letters=realtime.dead_letter_queue if realtime else None,
        )
        chat = ChatChannels(self, "Chat", config=config, chat_topic=messaging.chat_topic)
        queues = {"targets": triggers.queue, **({"refresh": realtime.queue} if realtime else {})}
        dead_letters = {
            "invocations DLQ": compute.dead_letter_queue,
            "targets DLQ": triggers.dead_letter_queue,
            **({"refresh DLQ": realtime.dead_letter_queue} if realtime else {}),
        }
        dashboard = Dashboard(self, "Operations", config=config, function=compute.function,
                              queues=queues, dead_letter_queues=dead_letters,
                              alarms=monitoring.alarms)  # fmt: skip
        self.table = storage.table
        self.key, self.topic, self.chat_topic = messaging.key, messaging.topic, messaging.chat_topic
        self.bus, self.registry = messaging.bus, messaging.registry
        self.function, self.dead_letter_queue = compute.function, compute.dead_letter_queue
        self.alarm_topic, self.alarms = monitoring.alarm_topic, monitoring.alarms
        self.chat_channels = chat.channels
        self.refresh_queue = realtime.queue if realtime else None
        self.intake_bus = realtime.intake_bus if realtime else None
        self.target_queue = triggers.queue
        self.dashboard = dashboard.dashboard
