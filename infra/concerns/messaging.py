"""Messaging: what subscribers receive. The key, the topic (one message per change) and its email
subscriptions, the chat topic, the bus with its archive, and the schema registry."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_eventschemas as eventschemas
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from amiwatch.messages.subscriptions import email_filter_policy
from amiwatch.model.contract import SOURCE
from amiwatch.model.forecast_schema import forecast_registry_schema
from amiwatch.model.schema import registry_schemas

from ..concerns.concern import Concern
from ..config.cdk_json import AppConfig


def topic_key(scope: Construct, construct_id: str, description: str) -> kms.Key:
    """A customer managed key for topics: rotated, kept when the stack is deleted."""
    return kms.Key(scope, construct_id, description=description, enable_key_rotation=True,
                   removal_policy=RemovalPolicy.RETAIN)  # fmt: skip


class Messaging(Concern):
    """Topics, bus, archive, schema registry and email subscriptions, under one KMS key."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.key = self._key()
        self.topic = self._topic("Topic", "amiwatch")
        # Its own topic: the chat service drops messages not in its custom notification format.
        self.chat_topic = self._topic("ChatTopic", "amiwatch chat")
        self.bus = self._bus()
        self.registry = self._schema_registry()
        self._email_subscriptions()

    def _key(self) -> kms.Key:
        return topic_key(self, "Key", "amiwatch: encrypts the event topic and the chat topic")

    def _topic(self, construct_id: str, display_name: str) -> sns.Topic:
        return sns.Topic(
            self, construct_id, display_name=display_name, master_key=self.key, enforce_ssl=True
        )

    def _bus(self) -> events.EventBus:
        bus = events.EventBus(self, "Bus", event_bus_name=self.config.bus_name)
        bus.archive(
            "Archive",
            description="Every amiwatch event, for replay",
            event_pattern=events.EventPattern(source=[SOURCE]),
            retention=Duration.days(self.config.archive_retention_days),
        )
        return bus

    def _schema_registry(self) -> eventschemas.CfnRegistry:
        registry = eventschemas.CfnRegistry(
            self,
            "SchemaRegistry",
            registry_name=self.config.bus_name,
            description="amiwatch events: one schema per detail type",
        )
        for name, schema in {**registry_schemas(), **forecast_registry_schema()}.items():
            eventschemas.CfnSchema(
                self,
                f"Schema{name.split('@')[1]}",
                registry_name=registry.attr_registry_name,
                schema_name=name,
                type="JSONSchemaDraft4",
                content=json.dumps(schema),
                description=schema["description"],
            )
        return registry

    def _email_subscriptions(self) -> None:
        for i, email in enumerate(self.config.emails):
            sns.CfnSubscription(
                self,
                f"Email{i}",
                topic_arn=self.topic.topic_arn,
                protocol="email",
                endpoint=email.address,
                # Digests for busy runs instead of one email per change.
                filter_policy=email_filter_policy(email.filter_policy),
                filter_policy_scope="MessageAttributes",
            )
