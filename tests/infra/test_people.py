"""The chat channels, the chat topic and the event schema registry, as synthesized."""

from __future__ import annotations

import json

from amiwatch.model.contract import DETAIL_TYPES, TEST_DETAIL_TYPE
from amiwatch.model.forecast_schema import forecast_registry_schema
from amiwatch.model.schema import registry_schemas

READ_ONLY = {
    "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/ReadOnlyAccess"]]
}


def chat_topic(synthesized) -> str:
    [topic_id] = [k for k, v in synthesized.resources("AWS::SNS::Topic").items()
                  if v["Properties"]["DisplayName"] == "amiwatch chat"]  # fmt: skip
    return topic_id


def test_slack_and_teams_channels_get_notifications_and_can_run_no_commands(synthesized, template):
    # Notifications need no permissions: the channel's role has none and its guardrail denies
    # everything (it was ReadOnlyAccess: every channel member could read the account).
    topic = {"Ref": chat_topic(synthesized)}
    guardrail_id, guardrail = synthesized.one("AWS::IAM::ManagedPolicy", "WatcherNoCommands")
    role_id, role = synthesized.one("AWS::IAM::Role", "WatcherChatRole")
    common = {
        "SnsTopicArns": [topic],
        "GuardrailPolicies": [{"Ref": guardrail_id}],
        "IamRoleArn": {"Fn::GetAtt": [role_id, "Arn"]},
        "UserRoleRequired": False,
        "LoggingLevel": "ERROR",
    }

    template.has_resource_properties(
        "AWS::Chatbot::SlackChannelConfiguration",
        {**common, "SlackWorkspaceId": "T0123ABCD", "SlackChannelId": "C0123ABCD",
         "ConfigurationName": "amiwatch-slack"},
    )  # fmt: skip
    template.has_resource_properties(
        "AWS::Chatbot::MicrosoftTeamsChannelConfiguration",
        {**common, "TeamId": "0a1b2c3d-0000-4000-8000-0123456789ab",
         "TeamsTenantId": "9f8e7d6c-0000-4000-8000-0123456789ab",
         "TeamsChannelId": "19%3ab6ef35dc342d56ba5654e6fc6d25a071%40thread.tacv2"},
    )  # fmt: skip
    assert guardrail["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "*", "Effect": "Deny", "Resource": "*"}
    ]
    assert "ManagedPolicyArns" not in role["Properties"] and "Policies" not in role["Properties"]
    assert not [p for p in synthesized.resources("AWS::IAM::Policy").values()
                if {"Ref": role_id} in p["Properties"].get("Roles", [])]  # fmt: skip
    assert_chat_trust(role)


def assert_chat_trust(role) -> None:
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "chatbot.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_chat_commands_opt_in_to_read_only_commands_under_each_users_own_role(tmp_path):
    from .conftest import TEST_CONTEXT, synthesize

    context = json.loads(json.dumps(TEST_CONTEXT))
    context["amiwatch"]["chatCommands"] = True
    commands = synthesize(context, tmp_path)
    [slack] = commands.resources("AWS::Chatbot::SlackChannelConfiguration").values()
    _, role = commands.one("AWS::IAM::Role", "WatcherChatRole")

    assert slack["Properties"]["UserRoleRequired"] is True
    assert slack["Properties"]["GuardrailPolicies"] == [READ_ONLY]
    assert role["Properties"]["ManagedPolicyArns"] == [READ_ONLY]
    assert not commands.resources("AWS::IAM::ManagedPolicy")
    assert_chat_trust(role)


def test_the_lambda_knows_the_chat_topic_changes_and_digest_threshold(synthesized):
    _, function = synthesized.one("AWS::Lambda::Function")
    env = function["Properties"]["Environment"]["Variables"]

    assert env["AMIWATCH_CHAT_TOPIC_ARN"] == {"Ref": chat_topic(synthesized)}
    assert env["AMIWATCH_CHAT_CHANGES"] == "deregistered,failed,updated:Public"
    assert env["AMIWATCH_DIGEST_THRESHOLD"] == "50"


def test_no_chat_channel_without_slack_or_teams(tmp_path):
    from .conftest import TEST_CONTEXT, synthesize

    context = json.loads(json.dumps(TEST_CONTEXT))
    del context["amiwatch"]["slack"], context["amiwatch"]["teams"]
    plain = synthesize(context, tmp_path)

    assert plain.resources("AWS::Chatbot::SlackChannelConfiguration") == {}
    assert plain.resources("AWS::Chatbot::MicrosoftTeamsChannelConfiguration") == {}
    roles = json.dumps(plain.resources("AWS::IAM::Role"))
    assert "chatbot.amazonaws.com" not in roles


def test_the_registry_holds_one_draft4_schema_per_detail_type(synthesized, template):
    registry_id, registry = synthesized.one("AWS::EventSchemas::Registry")
    schemas = synthesized.resources("AWS::EventSchemas::Schema").values()

    assert registry["Properties"]["RegistryName"] == "amiwatch-test"
    expected = {**registry_schemas(), **forecast_registry_schema()}
    assert {s["Properties"]["SchemaName"] for s in schemas} == {
        f"amiwatch@{t.replace(' ', '')}"
        for t in [*DETAIL_TYPES.values(), "AMI Forecast", TEST_DETAIL_TYPE]
    }
    for schema in schemas:
        props = schema["Properties"]
        assert props["Type"] == "JSONSchemaDraft4"
        assert props["RegistryName"] == {"Fn::GetAtt": [registry_id, "RegistryName"]}
        assert json.loads(props["Content"]) == expected[props["SchemaName"]]
        assert len(props["Content"]) < 100_000
