"""The benchmarks' local endpoints: a fleet server and a moto server, each in its own process,
and the fake credentials that reach them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from devtools import REGION as BENCH_REGION

# What the fleet changes before each run (POST /control); `left` and `purged` keep generation 1.
LEFT_EVERY, PURGED_EVERY = 100, 1000  # 1% of images leave the listing; 0.1% are purged


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, text=True, stderr=subprocess.DEVNULL
    )


def _wait_http(url: str) -> None:
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1)  # any answer means it is up
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class LocalEndpoints:
    """A fleet server of `size` images and a moto server, each in its own process."""

    fleet_url: str
    moto_url: str
    aws: Any  # devtools.local_aws.LocalAws: the table, topic and bus, without subscribers


@contextmanager
def local_endpoints(size: int, env: dict[str, str]) -> Iterator[LocalEndpoints]:
    """Start both servers, provision amiwatch's resources in moto, kill both at the end."""
    # Imported here, not at the top: moto must not count toward the worker processes' RSS.
    from devtools.local_aws import LocalAws  # noqa: PLC0415

    fleet = _start([sys.executable, "-m", "devtools.fleet", "--size", str(size)], env)
    assert fleet.stdout is not None
    fleet_url = f"http://127.0.0.1:{fleet.stdout.readline().strip()}"
    moto_port = _free_port()
    moto = _start(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)], env
    )
    moto_url = f"http://127.0.0.1:{moto_port}"
    try:
        _wait_http(moto_url + "/moto-api/")
        aws = LocalAws.provision(endpoint_url=moto_url, subscribers=False)
        yield LocalEndpoints(fleet_url, moto_url, aws)
    finally:
        fleet.kill()
        moto.kill()


def local_credentials() -> dict[str, str]:
    """Fake credentials for the local endpoints, in this process and the ones it starts."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_BENCH_REGION": BENCH_REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    return dict(os.environ)


def change_fleet(fleet_url: str, run: str, size: int) -> None:
    """`changed`: generation 1 (1% of images change). `left`: 1% of images are no longer listed
    but still exist (one lookup call per 1,000 of them). `purged`: they are listed again and 0.1%
    of images are gone for good (EC2 answers InvalidAMIID.NotFound: the batch is split)."""
    from devtools.fleet_images import image_id  # noqa: PLC0415

    control: dict[str, Any] = {"generation": 1}
    if run == "left":
        control["unlisted"] = [image_id(i) for i in range(50, size, LEFT_EVERY)]
    if run == "purged":
        control["hidden"] = [image_id(i) for i in range(70, size, PURGED_EVERY)]
    if run not in {"baseline", "unchanged"}:
        request = urllib.request.Request(f"{fleet_url}/control", json.dumps(control).encode())
        urllib.request.urlopen(request).read()
