"""A minimal SQS (JSON protocol) for the organisation benchmark: moto's SQS spends ~20 ms per
message sent, which would time moto, not the dispatcher. One standard queue per URL path, in
memory: SendMessageBatch, ReceiveMessage, DeleteMessage, ChangeMessageVisibilityBatch,
GetQueueUrl, GetQueueAttributes, PurgeQueue. A received message is in flight until deleted or
made visible again; there is no visibility timer (the benchmark's consumers delete what they
take).

`python -m devtools.queue_stub` prints its port on the first line, then serves until killed.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Queues:
    def __init__(self) -> None:
        self.visible: dict[str, deque[dict[str, Any]]] = {}
        self.in_flight: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def send(self, url: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        done = []
        with self.lock:
            queue = self.visible.setdefault(url, deque())
            for entry in entries:
                body = entry["MessageBody"]
                digest = hashlib.md5(body.encode()).hexdigest()
                message = {"MessageId": str(uuid.uuid4()), "Body": body, "MD5OfBody": digest,
                           "receives": 0}  # fmt: skip
                queue.append(message)
                done.append({"Id": entry["Id"], "MessageId": message["MessageId"],
                             "MD5OfMessageBody": message["MD5OfBody"]})  # fmt: skip
        return {"Successful": done, "Failed": []}

    def receive(self, url: str, most: int) -> dict[str, Any]:
        taken = []
        with self.lock:
            queue = self.visible.setdefault(url, deque())
            while queue and len(taken) < most:
                message = queue.popleft()
                message["receives"] += 1
                handle = str(uuid.uuid4())
                self.in_flight[handle] = {**message, "url": url}
                taken.append({
                    "MessageId": message["MessageId"], "ReceiptHandle": handle,
                    "MD5OfBody": message["MD5OfBody"], "Body": message["Body"],
                    "Attributes": {"ApproximateReceiveCount": str(message["receives"])},
                })  # fmt: skip
        return {"Messages": taken} if taken else {}

    def delete(self, handle: str) -> None:
        with self.lock:
            self.in_flight.pop(handle, None)

    def release(self, handles: list[str]) -> None:
        with self.lock:
            for handle in handles:
                message = self.in_flight.pop(handle, None)
                if message is not None:
                    self.visible.setdefault(message.pop("url"), deque()).append(message)

    def purge(self, url: str) -> None:
        with self.lock:
            self.visible[url] = deque()

    def count(self, url: str) -> int:
        with self.lock:
            return len(self.visible.get(url, ()))


def serve(port: int = 0) -> ThreadingHTTPServer:
    queues = Queues()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            action = self.headers.get("X-Amz-Target", "").split(".")[-1]
            url = request.get("QueueUrl", "")
            answer: dict[str, Any] = {}
            if action == "SendMessageBatch":
                answer = queues.send(url, request["Entries"])
            elif action == "SendMessage":
                answer = queues.send(url, [{"Id": "0", **request}])["Successful"][0]
            elif action == "ReceiveMessage":
                answer = queues.receive(url, int(request.get("MaxNumberOfMessages", 1)))
            elif action == "DeleteMessage":
                queues.delete(request["ReceiptHandle"])
            elif action == "ChangeMessageVisibilityBatch":
                queues.release([e["ReceiptHandle"] for e in request["Entries"]])
                answer = {"Successful": [{"Id": e["Id"]} for e in request["Entries"]]}
            elif action == "GetQueueUrl":
                host = f"http://127.0.0.1:{self.server.server_address[1]}"
                answer = {"QueueUrl": f"{host}/123456789012/{request['QueueName']}"}
            elif action == "PurgeQueue":
                queues.purge(url)
            elif action == "GetQueueAttributes":
                answer = {"Attributes": {"ApproximateNumberOfMessages": str(queues.count(url))}}
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main() -> None:
    server = serve()
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
