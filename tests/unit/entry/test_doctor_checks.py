"""The doctor's line for a watch of an organisation: 1,200 targets, 30 failing. The line names
the first 20 and counts the rest; --json lists every one."""

from __future__ import annotations

import json
from typing import Any

from amiwatch.entry.doctor_checks import SHOWN_FAILURES, Doctor
from amiwatch.model.watch_config import parse_watch


class Lambda:
    def __init__(self) -> None:
        self.configurations = 0

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        self.configurations += 1
        orders = {"AMIWATCH_ORDERS": "dispatch,forecast,doctor"}
        return {"FunctionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{FunctionName}",
                "Role": "arn:aws:iam::123456789012:role/AmiWatch-WatcherRole",
                "Environment": {"Variables": orders}}  # fmt: skip


def test_1200_targets_30_failing_the_line_shows_20_and_json_all_30():
    watch = parse_watch({"name": "org", "owners": ["self"],
                         "accounts": [{"organization": True}]})  # fmt: skip
    answer = {"watch": "org", "organizationError": None, "targets": [
        {"account": f"{100000000000 + n}", "region": "us-east-1", "ok": n % 40 != 0,
         "allowedImages": "Allowed AMIs disabled", "problem": "AccessDenied on AssumeRole"}
        for n in range(1200)]}  # fmt: skip
    functions = Lambda()
    doctor = Doctor({"watches": []}, (watch,), "AmiWatch", "123456789012", "us-east-1",
                    clients=lambda service, region=None: functions,
                    invoke=lambda name, payload: answer, powertools="3.37.0")  # fmt: skip
    doctor.outputs = {"FunctionName": "AmiWatch-Function"}

    check = doctor._targets(watch)
    again = doctor._targets(watch)

    assert not check.ok and check.detail.startswith("30 of 1200 failed: 100000000000 / us-east-1")
    assert check.detail.count("AccessDenied on AssumeRole") == SHOWN_FAILURES == 20
    assert check.detail.endswith("; and 10 more (--json lists them all)")
    listed = json.loads(json.dumps(check.as_dict()))["failures"]
    assert (
        len(listed) == 30 and listed[-1] == "100000001160 / us-east-1: AccessDenied on AssumeRole"
    )
    assert again == check and functions.configurations == 1  # the function is asked about once
