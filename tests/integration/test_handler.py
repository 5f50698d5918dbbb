"""The Lambda handler against moto: what the SNS and EventBridge subscribers really receive."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from amiwatch.entry.handler import WatchesFailed, handler
from amiwatch.model.errors import ConfigError
from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_image

from .conftest import FakeLambdaContext, by_change, register

FAILED_REASON = {"Code": "Server.InternalError", "Message": "Internal error"}


def invoke(event: dict | None = None) -> dict:
    return handler(event or {}, FakeLambdaContext())


@pytest.fixture
def fleet(aws: LocalAws) -> dict[str, str]:
    names = ["golden-08", "golden-09", "golden-10", "golden-11", "golden-base", "golden-rc"]
    ids = {name: register(aws, name) for name in names}
    register(aws, "someone-elses", team="data")  # outside the watch's filter
    set_image(ids["golden-rc"], state="pending")
    return ids


def change_everything(aws: LocalAws, ids: dict[str, str]) -> str:
    ec2 = aws.client("ec2")
    new_id = register(aws, "golden-12")
    set_image(ids["golden-rc"], state="failed", state_reason=FAILED_REASON)
    past = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    set_image(ids["golden-08"], deprecation_time=past)
    ec2.deregister_image(ImageId=ids["golden-09"])
    ec2.disable_image(ImageId=ids["golden-10"])
    ec2.modify_image_attribute(
        ImageId=ids["golden-base"], LaunchPermission={"Add": [{"Group": "all"}]}
    )
    return new_id


def test_first_run_is_a_silent_baseline(aws, lambda_env, fleet):
    summary = invoke()

    assert summary["watches"][0]["baseline"] is True
    assert summary["watches"][0]["images"] == 6
    assert aws.bus_events() == []
    assert aws.topic_messages() == []


def test_each_change_reaches_both_subscribers_once(aws, lambda_env, fleet):
    invoke()
    new_id = change_everything(aws, fleet)

    summary = invoke()
    bus = aws.bus_events()
    topic = aws.topic_messages()

    assert summary["watches"][0]["changes"] == {
        "deprecated": 1, "deregistered": 1, "disabled": 1, "failed": 1, "new": 1, "updated": 1,
    }  # fmt: skip
    changes = by_change([event["detail"] for event in bus])
    assert changes["new"][0]["image"]["ImageId"] == new_id
    assert changes["failed"][0]["image"]["StateReason"] == FAILED_REASON
    assert changes["deregistered"][0]["reason"] == "vanished"
    assert changes["deregistered"][0]["image"]["ImageId"] == fleet["golden-09"]
    assert changes["disabled"][0]["previous"] == {"State": "available"}
    assert changes["updated"][0]["changedFields"] == ["Public"]
    assert changes["deprecated"][0]["image"]["ImageId"] == fleet["golden-08"]
    assert {e["detail"]["eventId"] for e in bus} == {m["detail"]["eventId"] for m in topic}
    assert len(topic) == 6
    failed_event = next(e for e in bus if e["detail"]["change"] == "failed")
    assert failed_event["detail-type"] == "AMI Failed"
    assert failed_event["source"] == "amiwatch"
    assert failed_event["resources"] == [f"arn:aws:ec2:{REGION}::image/{fleet['golden-rc']}"]
    assert invoke()["watches"][0]["changes"] == {}
    assert aws.bus_events() == []


def test_sns_messages_carry_subject_and_filterable_attributes(aws, lambda_env, fleet):
    invoke()
    set_image(fleet["golden-rc"], state="failed", state_reason=FAILED_REASON)

    invoke()
    [message] = aws.topic_messages()

    assert message["subject"] == (
        f"[amiwatch] AMI Failed: golden-rc ({fleet['golden-rc']}) {REGION}"
    )
    assert message["attributes"] == {
        "change": "failed",
        "watch": "golden",
        "region": REGION,
        "account": ACCOUNT,
        "image_id": fleet["golden-rc"],
        "owner_id": ACCOUNT,
        "state": "failed",
        "state_reason_code": "Server.InternalError",
        "delivery": "each",
    }
    assert message["detail"]["change"] == "failed"


def test_a_failed_image_reaches_chat_and_email_once(aws, lambda_env, fleet):
    invoke()
    set_image(fleet["golden-rc"], state="failed", state_reason=FAILED_REASON)

    invoke()
    [chat] = aws.chat_messages()
    [email] = aws.people_messages()

    assert chat["version"] == "1.0" and chat["source"] == "custom"
    assert chat["content"]["title"] == f"CRITICAL: AMI failed: golden-rc ({fleet['golden-rc']})"
    assert "*Reason:* Server.InternalError: Internal error" in chat["content"]["description"]
    assert chat["content"]["nextSteps"][0].startswith("`Server.InternalError`: An internal error")
    assert chat["metadata"]["threadId"] == f"amiwatch-{ACCOUNT}-{REGION}-{fleet['golden-rc']}"
    assert chat["metadata"]["relatedResources"] == [
        f"arn:aws:ec2:{REGION}::image/{fleet['golden-rc']}"
    ]
    assert chat["id"] == email["detail"]["eventId"]
    assert email["attributes"]["delivery"] == "each"


@pytest.mark.parametrize(
    ("aws", "expected"),
    [
        ({"change": ["failed", "deregistered"]}, {"failed", "deregistered"}),
        ({"state_reason_code": [{"prefix": "Server."}]}, {"failed"}),
        ({"change": [{"anything-but": ["updated", "new"]}]},
         {"failed", "deregistered", "disabled", "deprecated"}),
    ],
    indirect=["aws"],
)  # fmt: skip
def test_subscription_filter_policies_select_on_message_attributes(
    aws, lambda_env, fleet, expected
):
    invoke()
    change_everything(aws, fleet)

    invoke()

    assert {m["detail"]["change"] for m in aws.topic_messages()} == expected
    assert len(aws.bus_events()) == 6  # the bus is not filtered


def test_an_event_can_run_just_the_named_watches(aws, lambda_env, fleet):
    assert [w["watch"] for w in invoke({"watches": ["golden"]})["watches"]] == ["golden"]

    with pytest.raises(ConfigError, match="unknown watches: nope"):
        invoke({"watches": ["nope"]})


def test_a_failing_watch_fails_the_invocation_after_the_others_ran(
    aws, lambda_env, fleet, monkeypatch
):
    watches = json.loads(lambda_env.read_text())["watches"]
    # A member account, but no external id configured: that target cannot be read.
    watches.append({"name": "broken", "owners": ["self"], "accounts": [{"id": "111122223333"}]})
    lambda_env.write_text(json.dumps({"watches": watches}))

    with pytest.raises(WatchesFailed, match='watch "broken"'):
        invoke()

    assert invoke({"watches": ["golden"]})["watches"][0]["baseline"] is False


def emf_metrics(output: str) -> dict[tuple[str, tuple], float]:
    """Metric values from the Embedded Metric Format lines a run printed."""
    found = {}
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            dims = tuple(sorted((d, blob[d]) for group in directive["Dimensions"] for d in group))
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                found[(metric["Name"], dims)] = sum(value) if isinstance(value, list) else value
    return found


def test_runs_emit_emf_metrics_per_target_and_change_kind(aws, lambda_env, fleet, capsys):
    invoke()
    set_image(fleet["golden-rc"], state="failed", state_reason=FAILED_REASON)
    capsys.readouterr()

    invoke()
    metrics = emf_metrics(capsys.readouterr().out)

    service = ("service", "amiwatch")
    target = (("account", ACCOUNT), ("region", REGION), service, ("watch", "golden"))
    assert metrics[("ImagesScanned", target)] == 6
    assert metrics[("Changes", (target[0], ("change", "failed"), *target[1:]))] == 1
    assert metrics[("PublishFailures", target)] == 0
    assert metrics[("SuccessfulRuns", target)] == 1  # the heartbeat alarm's metric
    assert metrics[("WatchesRun", (("service", "amiwatch"),))] == 1


def test_target_metrics_false_emits_per_watch_metrics(aws, lambda_env, fleet, capsys, monkeypatch):
    monkeypatch.setenv("AMIWATCH_TARGET_METRICS", "false")  # cdk.json targetMetrics: false
    invoke()
    set_image(fleet["golden-rc"], state="failed", state_reason=FAILED_REASON)
    capsys.readouterr()

    invoke()
    metrics = emf_metrics(capsys.readouterr().out)

    per_watch = (("service", "amiwatch"), ("watch", "golden"))
    assert metrics[("ImagesScanned", per_watch)] == 6
    assert metrics[("Changes", (("change", "failed"), *per_watch))] == 1
    assert metrics[("SuccessfulRuns", per_watch)] == 1
    assert not [key for key in metrics if ("account", ACCOUNT) in key[1]]


def test_a_wrong_bus_is_named_in_the_error_the_log_line_and_the_summary(
    aws, lambda_env, fleet, monkeypatch, caplog
):
    invoke()
    register(aws, "golden-new")
    monkeypatch.setenv("AMIWATCH_BUS_NAME", "amiwatch-typo")
    caplog.clear()

    with pytest.raises(WatchesFailed) as failed:
        invoke()
    logged = [r.__dict__ for r in caplog.records if r.getMessage() == "watch finished"]

    why = "eventbridge: ResourceNotFoundException: Event bus amiwatch-typo does not exist."
    assert why in str(failed.value)
    [summary] = logged
    assert summary["undelivered"] == 1
    assert summary["deliveryErrors"] == {why: 1}


def test_a_run_that_judged_a_hidden_image_reports_the_allowed_amis_state(
    aws, lambda_env, fleet, capsys
):
    from amiwatch.wiring import runs
    from devtools.doubles.image_visibility import AllowedAmis, Ec2Visibility

    visibility = Ec2Visibility(ACCOUNT, REGION, AllowedAmis("audit-mode"), shares=False)
    undo = visibility.install_for_new_clients()
    runs._target_clients.cache_clear()  # the warm Lambda's EC2 clients predate the double
    try:
        invoke()
        aws.shared_client("ec2").deregister_image(ImageId=fleet["golden-rc"])
        capsys.readouterr()

        [summary] = invoke()["watches"]
        metrics = emf_metrics(capsys.readouterr().out)
    finally:
        undo()
        runs._target_clients.cache_clear()

    target = (("account", ACCOUNT), ("region", REGION), ("service", "amiwatch"))
    assert summary["changes"] == {"deregistered": 1}  # the target's own image
    assert summary["allowedImages"] == {"state": "audit-mode", "managedBy": "account",
                                        "error": None}  # fmt: skip
    assert metrics[("AllowedImagesState", (*target, ("state", "audit-mode"),
                                           ("watch", "golden")))] == 1  # fmt: skip
    assert visibility.settings_calls == 1
