"""A real webhook receiver for tests: a threaded HTTP server on 127.0.0.1 that verifies every message with
`standardwebhooks` and keeps the verified ones; it can be told to answer with another status (an outage) or a
redirect, to answer slowly, or to close kept-alive connections that stay idle."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

WAIT_SECONDS = 60


@dataclass
class Message:
    id: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Receiver:
    """What the server got: `messages` verified (in arrival order), `rejected` the count of bad signatures."""

    port: int
    secret: str | None = None
    answer: int = 200  # the status to answer with; a 3xx carries a Location
    delay: float = 0.0  # seconds before each answer (a slow receiver)
    idle_timeout: float | None = None  # seconds after which an idle kept-alive connection is closed
    scheme: str = "http"
    messages: list[Message] = field(default_factory=list)
    attempts: int = 0
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/hooks"

    def event_ids(self) -> set[int]:
        """The distinct webhook-ids of the event messages received."""
        return {int(message.id) for message in self.events()}

    def events(self) -> list[Message]:
        with self.lock:
            return [message for message in self.messages if message.body["type"] != "webhook.test"]

    def wait_for(self, done: Callable[[Receiver], bool], step: Callable[[], Any] | None = None,
                 seconds: float = WAIT_SECONDS) -> None:
        """Until `done(self)`, running `step` (a deliverer's round) in between; fails past `seconds`."""
        deadline = time.monotonic() + seconds
        while not done(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"the receiver did not get what was expected: {len(self.messages)} messages")
            if step is not None:
                step()
            time.sleep(0.05)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the deliverer's pool expects

        @property
        def timeout(self) -> float | None:  # type: ignore[override]  # the socket's: read per connection
            return receiver.idle_timeout

        def do_POST(self) -> None:
            payload = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if receiver.delay:
                time.sleep(receiver.delay)
            headers = {key.lower(): value for key, value in self.headers.items()}
            with receiver.lock:
                receiver.attempts += 1
                status = receiver.answer
                if status == 200:
                    try:
                        body = Webhook(receiver.secret).verify(payload, headers)
                    except Exception:
                        receiver.rejected += 1
                        status = 400
                    else:
                        receiver.messages.append(Message(headers["webhook-id"], body, headers))
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", receiver.url + "/elsewhere")
            reply = json.dumps({"status": status}).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


@contextmanager
def receiving(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A receiver on a free loopback port (HTTPS with `tls`); its secret is set once the webhook is added."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver := Receiver(0)))
    receiver.port = server.server_address[1]
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        receiver.scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
