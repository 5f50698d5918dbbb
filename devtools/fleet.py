"""A synthetic AMI fleet served as real EC2 DescribeImages XML on 127.0.0.1.

botocore parses these pages exactly as it parses AWS's answers (element names come from the EC2
model), retries the throttling errors this server can inject, and follows `nextToken` paging.
Used by the scale benchmark and the fault suite.

    python -m devtools.fleet --size 100000      # prints the port, serves until killed

Control (POST /control, JSON): {"generation": 1} switches to the changed fleet (1% of images
changed), {"generation": 2} adds the forecast's due images (devtools.fleet_images);
{"throttle": {"2": 3}} answers page 2 with RequestLimitExceeded 3 times;
{"broken": [2]} fails page 2 for good; {"hidden": ["ami-..."]} leaves images out (and, asked for by
id, answers InvalidAMIID.NotFound as EC2 does for a purged AMI); {"unlisted": ["ami-..."]} leaves
images out of the listing but still answers them by id (they left the watch);
{"expireTokens": true} answers the next request that carries a NextToken with
InvalidPaginationToken, as EC2 does for a token that is no longer valid.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from devtools.fleet_images import (
    ALLOWED_IMAGES_DISABLED,
    IMAGE_FINDINGS,
    NO_REFERENCES,
    PAGE_SIZE,
    describe_image,
    error_response,
    render_page,
)

# --- server -------------------------------------------------------------------------------------


@dataclass
class FleetState:
    """What the server serves now; changed through POST /control."""

    size: int
    generation: int = 0
    throttle: dict[int, int] = field(default_factory=dict)
    broken: set[int] = field(default_factory=set)
    hidden: set[str] = field(default_factory=set)
    unlisted: set[str] = field(default_factory=set)
    extra: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    expire_tokens: bool = False
    page_size: int = PAGE_SIZE  # EC2 may answer fewer images than MaxResults per page
    _pages: dict[tuple[int, int], bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def warm(self) -> None:
        """Render every page of the current generation now, so no scan pays for rendering."""
        for index in range(self.pages()):
            self.page(index)

    def pages(self) -> int:
        return max(1, -(-(self.size + len(self.extra)) // self.page_size))

    def page(self, index: int, visible: tuple[bool, bool] = (True, True)) -> bytes:
        """Page `index`; `visible` = (IncludeDeprecated, IncludeDisabled) as AWS applies them."""
        key = (self.generation, index, *visible)
        cached = self._pages.get(key)
        altered = self.hidden or self.unlisted or self.extra
        if cached is None or altered:
            start = index * self.page_size
            stop = min(start + self.page_size, self.size)
            images = [describe_image(i, self.generation) for i in range(start, stop)]
            if index == self.pages() - 1:
                images += self.extra
            images = [
                image
                for image in images
                if image.get("ImageId") not in self.hidden | self.unlisted
                and _visible(image, *visible)
            ]
            token = f"page-{index + 1}" if index + 1 < self.pages() else None
            cached = render_page(images, token)
            if not altered:
                self._pages = {k: v for k, v in self._pages.items() if k[0] == self.generation}
                self._pages[key] = cached
        return cached

    def by_filter(self, ids: list[str], visible: tuple[bool, bool]) -> bytes:
        """The images of an `image-id` filter: those that exist, are listed and visible; no
        error for the others (a filter, unlike ImageIds, never fails for an unknown id)."""
        found = [self.find(wanted) for wanted in ids if wanted not in self.unlisted]
        images = [image for image in found if image is not None and _visible(image, *visible)]
        return render_page(images, None)

    def by_ids(self, ids: list[str]) -> bytes | None:
        """Images asked for by `ImageIds`; None (NotFound) if any is unknown, as EC2 answers."""
        found = [self.find(wanted) for wanted in ids]
        if any(image is None for image in found):
            return None
        return render_page([image for image in found if image is not None], None)

    def find(self, wanted: str) -> dict[str, Any] | None:
        """The image with this id now, None if it does not exist (or was purged)."""
        extra = {image.get("ImageId"): image for image in self.extra}
        index = int(wanted.removeprefix("ami-"), 16) if wanted.startswith("ami-") else -1
        if wanted in self.hidden or not (wanted in extra or 0 <= index < self.size):
            return None
        return extra.get(wanted) or describe_image(index, self.generation)


def _filter_values(params: dict[str, str], name: str) -> list[str] | None:
    """The values of the `name` filter of a query-protocol request, None without one."""
    for key, value in params.items():
        if key.startswith("Filter.") and key.endswith(".Name") and value == name:
            prefix = key.removesuffix("Name") + "Value."
            return [v for k, v in params.items() if k.startswith(prefix)]
    return None


# Who calls the fleet: the benchmark's moto account. The fleet's images are all its own.
CALLER = "123456789012"


def _visible(image: dict[str, Any], include_deprecated: bool, include_disabled: bool) -> bool:
    """As EC2 applies IncludeDisabled and IncludeDeprecated: an owner's own deprecated images
    are returned whatever IncludeDeprecated says."""
    if not include_disabled and image.get("State") == "disabled":
        return False
    if image.get("OwnerId") == CALLER:
        return True
    deprecation = image.get("DeprecationTime")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return include_deprecated or not (deprecation and deprecation <= now)


class _Handler(BaseHTTPRequestHandler):
    state: FleetState  # set on the class made per server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the benchmark prints numbers, not access logs."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/control":
            self._control(json.loads(body or b"{}"))
            return
        params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if params.get("Action") == "DescribeImageReferences":
            self._send(200, NO_REFERENCES)  # the fleet's images are used by nothing
            return
        if params.get("Action") == "GetAllowedImagesSettings":
            self._send(200, ALLOWED_IMAGES_DISABLED)
            return
        if params.get("Action") == "GetImageFindings":
            self._send(200, IMAGE_FINDINGS)
            return
        token = params.get("NextToken", "page-0")
        index = int(token.removeprefix("page-"))
        state = self.state
        with state.lock:
            state.requests += 1
            if state.expire_tokens and "NextToken" in params:
                state.expire_tokens = False
                self._send(
                    400,
                    error_response(
                        "InvalidPaginationToken", "The pagination token is not valid or expired."
                    ),
                )
                return
            if state.throttle.get(index, 0) > 0:
                state.throttle[index] -= 1
                self._send(503, error_response("RequestLimitExceeded", "Request limit exceeded."))
                return
            if index in state.broken:
                self._send(500, error_response("InternalError", "An internal error has occurred"))
                return
            visible = (
                params.get("IncludeDeprecated") == "true",
                params.get("IncludeDisabled") == "true",
            )
            filtered = _filter_values(params, "image-id")
            if filtered is not None:  # a targeted refresh: EC2 returns the ones that exist
                self._send(200, state.by_filter(filtered, visible))
                return
            ids = [v for k, v in params.items() if k.startswith("ImageId.")]
            if ids:
                answer = state.by_ids(ids)
                if answer is None:
                    self._send(
                        400, error_response("InvalidAMIID.NotFound", "An image id does not exist")
                    )
                    return
                self._send(200, answer)
                return
            page = state.page(index, visible)
        self._send(200, page)

    def _control(self, command: dict[str, Any]) -> None:
        state = self.state
        with state.lock:
            if "generation" in command:
                state.generation = int(command["generation"])
                state.warm()
            state.throttle = {int(k): int(v) for k, v in command.get("throttle", {}).items()}
            state.broken = {int(p) for p in command.get("broken", [])}
            state.hidden = set(command.get("hidden", []))
            state.unlisted = set(command.get("unlisted", []))
            state.extra = list(command.get("extra", []))
            state.expire_tokens = bool(command.get("expireTokens", False))
            answer = {"requests": state.requests, "pages": state.pages()}
        self._send(200, json.dumps(answer).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str = "text/xml") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(
    size: int, port: int = 0, page_size: int = PAGE_SIZE
) -> tuple[ThreadingHTTPServer, FleetState]:
    """Start the server in a background thread; returns it and its state."""
    state = FleetState(size, page_size=page_size)
    handler = type("FleetHandler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server, state = serve(args.size, args.port)
    state.warm()
    print(server.server_address[1], flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
