"""Test-wide environment: never reach AWS, never load moto's 1,300 built-in AMIs. And the fault
suite's summary line, collected from pytest-xdist workers."""

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
os.environ["POWERTOOLS_METRICS_NAMESPACE"] = "amiwatch"
for key, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[key] = value
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's threaded HTTP server on 127.0.0.1, for code that runs in another process."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app synthesized once per session (tests/synth.py), shared by infra and integration."""
    import json

    from tests.synth import TEST_CONTEXT, synthesize

    return synthesize(json.loads(json.dumps(TEST_CONTEXT)), tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def template(synthesized: Any) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_json(synthesized.template)


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.faults.ledger import LEDGER, LEDGER_FIELDS

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: hand the ledger to the controller
        workeroutput["fault_ledger"] = {name: getattr(LEDGER, name) for name in LEDGER_FIELDS}


def pytest_testnodedown(node: Any, error: Any) -> None:
    from tests.faults.ledger import LEDGER

    for name, value in getattr(node, "workeroutput", {}).get("fault_ledger", {}).items():
        setattr(LEDGER, name, getattr(LEDGER, name) + value)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.faults.ledger import LEDGER

    if LEDGER.faults:
        terminalreporter.write_line(LEDGER.line())
