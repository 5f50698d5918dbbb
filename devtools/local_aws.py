"""amiwatch's AWS resources in moto, provisioned the way the CDK stack provisions them.

Shared by `make demo` and the integration tests: a table, a topic with two SQS subscribers (one
unfiltered, one with the filter policy the stack gives email subscriptions), a chat topic with an
SQS subscriber standing in for the chat channel, a bus with a rule to an SQS queue, and readers
that return what those subscribers received.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.backends import get_backend

from amiwatch.aws.dispatching import META_SUMMARY, TARGETS_BY_WATCH
from amiwatch.aws.parameters import SsmParameters
from amiwatch.aws.publish import BusTopicPublisher
from amiwatch.aws.scan import Ec2Images
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.messages.sns import CHAT, TOPIC, NoticePolicy
from amiwatch.messages.subscriptions import email_filter_policy
from amiwatch.model.contract import Target
from amiwatch.run.pipeline import WatchPorts
from devtools import ACCOUNT, REGION
from devtools.doubles.image_references import answer_image_references
from devtools.doubles.image_visibility import Ec2Visibility


@dataclass
class LocalAws:
    """Handles on the provisioned resources, and clients for them."""

    region: str
    endpoint_url: str | None
    table_name: str
    topic_arn: str
    bus_name: str
    topic_queue_url: str
    bus_queue_url: str
    chat_topic_arn: str = ""
    chat_queue_url: str = ""
    people_queue_url: str = ""
    _shared: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """A new client (tests may register hooks on it)."""
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint_url)

    def shared_client(self, service: str) -> Any:
        """One client per service for seeding data: making an EC2 client costs ~50 ms. The EC2
        one answers DescribeImageReferences and GetAllowedImagesSettings (disabled) too, and
        DisableImage removes launch permissions (moto lacks them: devtools.doubles.image_references,
        devtools.doubles.image_visibility)."""
        if service not in self._shared:
            self._shared[service] = self.client(service)
            if service == "ec2":
                answer_image_references(self._shared[service])
                Ec2Visibility(ACCOUNT, self.region, shares=False).install(self._shared[service])
        return self._shared[service]

    @classmethod
    def provision(
        cls,
        region: str = REGION,
        endpoint_url: str | None = None,
        *,
        filter_policy: dict[str, Any] | None = None,
        subscribers: bool = True,
    ) -> LocalAws:
        """Create table, topic and bus as the stack does, plus (by default) two subscriber queues.

        Without subscribers moto answers PutEvents/PublishBatch without delivering anything:
        closer to AWS, which fans out after accepting, for measuring the caller's time.
        """
        make = lambda s: boto3.client(s, region_name=region, endpoint_url=endpoint_url)  # noqa: E731
        table = "amiwatch"
        make("dynamodb").create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "targetWatch", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[{
                "IndexName": TARGETS_BY_WATCH,
                "KeySchema": [{"AttributeName": "targetWatch", "KeyType": "HASH"},
                              {"AttributeName": "pk", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE",
                               "NonKeyAttributes": list(META_SUMMARY)},
            }],
            BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        topic_arn = make("sns").create_topic(Name="amiwatch")["TopicArn"]
        chat_topic_arn = make("sns").create_topic(Name="amiwatch-chat")["TopicArn"]
        make("events").create_event_bus(Name="amiwatch")
        if not subscribers:
            return cls(region, endpoint_url, table, topic_arn, "amiwatch", "", "", chat_topic_arn)
        local = cls.attach(region, endpoint_url, table, topic_arn, "amiwatch", filter_policy)
        local.attach_people(chat_topic_arn)
        return local

    @classmethod
    def attach(
        cls,
        region: str,
        endpoint_url: str | None,
        table_name: str,
        topic_arn: str,
        bus_name: str,
        filter_policy: dict[str, Any] | None = None,
    ) -> LocalAws:
        """Subscribe an SQS queue to the topic and route the bus to another one."""
        make = lambda s: boto3.client(s, region_name=region, endpoint_url=endpoint_url)  # noqa: E731
        sns, sqs, events = make("sns"), make("sqs"), make("events")
        topic_queue = sqs.create_queue(QueueName="amiwatch-topic-subscriber")["QueueUrl"]
        attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=_queue_arn(sqs, topic_queue),
            Attributes=attributes,
        )
        bus_queue = sqs.create_queue(QueueName="amiwatch-bus-subscriber")["QueueUrl"]
        events.put_rule(
            Name="all-amiwatch",
            EventBusName=bus_name,
            EventPattern=json.dumps({"source": ["amiwatch"]}),
        )
        events.put_targets(
            Rule="all-amiwatch",
            EventBusName=bus_name,
            Targets=[{"Id": "queue", "Arn": _queue_arn(sqs, bus_queue)}],
        )
        return cls(region, endpoint_url, table_name, topic_arn, bus_name, topic_queue, bus_queue)

    def attach_people(self, chat_topic_arn: str) -> None:
        """Subscribe a queue to the chat topic, and one to the topic as an email address would."""
        sns, sqs = self.client("sns"), self.client("sqs")
        self.chat_topic_arn = chat_topic_arn
        self.chat_queue_url = sqs.create_queue(QueueName="amiwatch-chat-channel")["QueueUrl"]
        sns.subscribe(TopicArn=chat_topic_arn, Protocol="sqs",
                      Endpoint=_queue_arn(sqs, self.chat_queue_url))  # fmt: skip
        self.people_queue_url = sqs.create_queue(QueueName="amiwatch-email-like")["QueueUrl"]
        sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=_queue_arn(sqs, self.people_queue_url),
            Attributes={"FilterPolicy": json.dumps(email_filter_policy(None))},
        )

    def topics(self) -> dict[str, str]:
        """The topic of each notice channel."""
        topics = {TOPIC: self.topic_arn}
        if self.chat_topic_arn:
            topics[CHAT] = self.chat_topic_arn
        return topics

    def watch_ports(self, target: Target, notices: NoticePolicy | None = None) -> WatchPorts:
        """The ports run_watch needs, pointed at these resources (chat on when it exists)."""
        return WatchPorts(
            images=Ec2Images(self.shared_client("ec2")),
            bus_name=self.bus_name,
            store=DynamoSnapshotStore(self.shared_client("dynamodb"), self.table_name, target),
            publisher=BusTopicPublisher(
                self.shared_client("events"), self.shared_client("sns"), self.topics()
            ),
            notices=notices or NoticePolicy(chat=bool(self.chat_topic_arn)),
            parameters=SsmParameters(self.shared_client("ssm")),
        )

    def chat_messages(self) -> list[dict[str, Any]]:
        """What the chat channel received: custom notifications, parsed."""
        return [
            json.loads(b["Message"]) for b in _drain(self.shared_client("sqs"), self.chat_queue_url)
        ]

    def people_messages(self) -> list[dict[str, Any]]:
        """What an email subscription of the stack receives (its `default` form, parsed)."""
        return self._read_topic_queue(self.people_queue_url)

    def topic_messages(self) -> list[dict[str, Any]]:
        """What the SNS subscriber received: subject, attributes and the parsed `default` detail."""
        return self._read_topic_queue(self.topic_queue_url)

    def _read_topic_queue(self, url: str) -> list[dict[str, Any]]:
        received = []
        for body in _drain(self.shared_client("sqs"), url):
            received.append(
                {
                    "subject": body.get("Subject"),
                    "attributes": {
                        k: v["Value"] for k, v in body.get("MessageAttributes", {}).items()
                    },
                    "detail": json.loads(body["Message"]),
                }
            )
        return received

    def bus_events(self) -> list[dict[str, Any]]:
        """What the EventBridge rule's target received: whole events."""
        return _drain(self.shared_client("sqs"), self.bus_queue_url)


def _queue_arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    bodies = []
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = answer.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def set_image(image_id: str, account: str = ACCOUNT, region: str = REGION, **attrs: Any) -> None:
    """Set image attributes moto cannot reach through the API (state, state_reason, ...)."""
    ami = get_backend("ec2")[account][region].amis[image_id]
    for name, value in attrs.items():
        setattr(ami, name, value)


def set_parameter(name: str, value: str | None, region: str = REGION) -> None:
    """Move an SSM public parameter to a new version (moto refuses PutParameter under /aws), or
    delete it (`value` None), as AWS does when it publishes a new recommended AMI."""
    from moto.core.utils import utcnow  # noqa: PLC0415
    from moto.ssm.models import Parameter  # noqa: PLC0415

    parameters = get_backend("ssm")[ACCOUNT][region]._parameters
    history = parameters[name]  # loads moto's bundled public parameters on first use
    if value is None:
        parameters.pop(name, None)
        return
    version = history[-1].version + 1 if history else 1
    history.append(Parameter(
        account_id=ACCOUNT, name=name, value=value, parameter_type="String", description=None,
        allowed_pattern=None, keyid=None, last_modified_date=utcnow(), version=version,
        data_type="text",
    ))  # fmt: skip
