"""The webhook deliverer: fans out new events, claims due deliveries, posts them signed (Standard Webhooks) and
records the results, in batches (storage.outbox), until stopped. `scim-server deliver` runs it alone; `scim-server
serve` runs it beside gunicorn (app/gunicorn_hooks.py). Several deliverers may share one database.

Each endpoint URL has its own keep-alive connections; a batch's messages go out on a thread pool, at most one
message of a resource per batch (the claim sees to it). Redirects are never followed; each attempt has a deadline.
New events wake a deliverer on PostgreSQL by NOTIFY (the events trigger of migration 0009), with a poll each second
as the fallback; SQLite is polled every POLL_SECONDS with a cheap read.
"""

from __future__ import annotations

import http.client
import logging
import math
import os
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import HTTPConnection
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from standardwebhooks import Webhook

from scim.encoding import dumps
from storage import outbox
from storage.documents import timestamp
from storage.models import utcnow
from storage.outbox import Claimed, Outcome
from storage.webhook_messages import body

POLL_SECONDS = 0.15
GATHER_SECONDS = 0.2
FAN_OUT_BATCHES = 5
NOTIFY_WAIT_SECONDS = 1.0
EXCERPT_BYTES = 500
DRAIN_BYTES = 64 * 1024  # the most of an answer read past its excerpt to keep the connection alive
USER_AGENT = "scim-server-webhooks"
log = logging.getLogger("scim.webhooks")


@dataclass(frozen=True)
class Settings:
    """SCIM_WEBHOOK_* settings (app/config.py)."""

    retry_delays: tuple[float, ...]
    timeout: float
    threads: int
    batch: int
    scim_base_url: str | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        delays = str(config["WEBHOOK_RETRY_DELAYS"])
        base = config.get("PUBLIC_BASE_URL")
        return cls(tuple(float(value) for value in delays.split(",") if value.strip()),
                   float(config["WEBHOOK_TIMEOUT"]), int(config["WEBHOOK_THREADS"]), int(config["WEBHOOK_BATCH"]),
                   base.rstrip("/") + "/scim/v2" if base else None)

    @property
    def lease_seconds(self) -> float:
        """Long enough for a whole batch of attempts that all time out, so a live deliverer's claims never lapse."""
        return self.timeout * math.ceil(self.batch / self.threads) + 5


@dataclass(frozen=True)
class Round:
    """What a round did: messages queued (fanned out) and claimed, and whether more was ready than a round takes."""

    queued: int
    claimed: int
    backlog: bool


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (refused, timed out)
    latency_ms: int
    excerpt: str | None


class Sender:
    """Signs and posts messages over keep-alive connections kept per endpoint URL (http.client, which follows no
    redirect), each attempt within a deadline."""

    def __init__(self, timeout: float, pool_size: int) -> None:
        self._timeout = timeout
        self._pool_size = pool_size
        self._idle: dict[str, list[HTTPConnection]] = {}
        self._signers: dict[str, Webhook] = {}
        self._lock = threading.Lock()

    def post(self, url: str, secret: str, message_id: str, payload: bytes) -> Answer:
        signer = self._signer(secret)
        now = datetime.now(UTC)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "webhook-id": message_id,
                   "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": signer.sign(message_id, now, payload)}
        started = time.perf_counter()
        deadline = time.monotonic() + self._timeout
        connection, reused = self._take(url)
        try:
            try:
                status, excerpt, keep = _exchange(connection, url, payload, headers, deadline)
            except _STALE:
                if not reused:
                    raise
                # A kept connection the receiver closed while idle: the message never reached it, so it goes again,
                # once, on a new connection.
                connection.close()
                connection, reused = _connect(url, self._timeout), False
                status, excerpt, keep = _exchange(connection, url, payload, headers, deadline)
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            answer: int | None = None
            excerpt, keep = _reason(error), False
        else:
            answer = status
        if keep:
            self._put_back(url, connection)
        else:
            connection.close()
        latency = round((time.perf_counter() - started) * 1000)
        return Answer(answer, latency, excerpt or None)

    def _signer(self, secret: str) -> Webhook:
        with self._lock:
            if secret not in self._signers:
                self._signers[secret] = Webhook(secret)
            return self._signers[secret]

    def _take(self, url: str) -> tuple[HTTPConnection, bool]:
        """An idle connection to `url` (True: reused), else a new one."""
        with self._lock:
            idle = self._idle.get(url)
            if idle:
                return idle.pop(), True
        return _connect(url, self._timeout), False

    def _put_back(self, url: str, connection: HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(url, [])
            if len(idle) < self._pool_size:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            for idle in self._idle.values():
                for connection in idle:
                    connection.close()
            self._idle.clear()


# What a kept connection that the receiver closed while idle raises on its next request, before any answer.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


_TLS = ssl.create_default_context()  # the system's trusted roots; a receiver's certificate and name are verified


def _connect(url: str, timeout: float) -> HTTPConnection:
    parsed = urlsplit(url)
    if parsed.scheme == "https":
        return http.client.HTTPSConnection(parsed.hostname or "", parsed.port, timeout=timeout, context=_TLS)
    return http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=timeout)


def _exchange(connection: HTTPConnection, url: str, payload: bytes, headers: dict[str, str],
              deadline: float) -> tuple[int, str, bool]:
    """Send one message and read the answer's status and excerpt within `deadline`; True when the connection may be
    kept (the answer was read to its end and the receiver keeps it open)."""
    _within(connection, deadline)
    connection.request("POST", _target(url), body=payload, headers=headers)
    _within(connection, deadline)
    response = connection.getresponse()
    _within(connection, deadline)
    excerpt = response.read(EXCERPT_BYTES).decode("utf-8", "replace")
    remaining = response.length
    keep = not response.will_close and remaining is not None and remaining <= DRAIN_BYTES
    if keep:  # a long or unframed answer is not read to its end: its connection is not kept
        _within(connection, deadline)
        response.read()
    return response.status, excerpt, keep


def _within(connection: HTTPConnection, deadline: float) -> None:
    """Bound the connection's next socket operations by what is left of the attempt's deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    connection.timeout = left
    if connection.sock is not None:
        connection.sock.settimeout(left)


def _reason(error: BaseException) -> str:
    """Why an attempt got no answer, for the delivery's excerpt."""
    if isinstance(error, TimeoutError):
        return "timed out"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def send_test(url: str, secret: str, endpoint_id: int, timeout: float) -> Answer:
    """Post a signed `webhook.test` message now (outside the outbox: nothing is recorded) and return the answer."""
    sender = Sender(timeout, 1)
    payload = dumps({"type": "webhook.test", "timestamp": timestamp(utcnow()), "data": {"webhook": endpoint_id}})
    try:
        return sender.post(url, secret, f"test_{uuid.uuid4().hex}", payload.encode())
    finally:
        sender.close()


def _target(url: str) -> str:
    """The request target: the URL's path and query."""
    parsed = urlsplit(url)
    return (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")


class Deliverer:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._sender = Sender(settings.timeout, settings.threads)
        self._threads = ThreadPoolExecutor(settings.threads, thread_name_prefix="webhook")
        # Events fanned out per endpoint and call: more than a batch, so that a burst about a few resources still
        # leaves a batch of other resources' messages to claim.
        self._fan_out = settings.batch * FAN_OUT_BATCHES

    def step(self) -> Round:
        """One round: fan out new events, claim a batch and send it (fanning out the next events while a full batch
        is on its way), then record it."""
        queued = outbox.fan_out(self._engine, self._fan_out)  # a new event goes out in this round
        claimed = outbox.claim(self._engine, self._settings.batch, self._settings.lease_seconds)
        sending = [self._threads.submit(self._attempt, one) for one in claimed]
        backlog = queued >= self._fan_out or len(claimed) == self._settings.batch
        if backlog:
            # The next round's deliveries are ready when this one ends. Under a trickle the next round fans out
            # first anyway, and one transaction fewer a round keeps SQLite's writer lock free for requests.
            queued += outbox.fan_out(self._engine, self._fan_out)
        outbox.record(self._engine, [future.result() for future in sending], self._settings.retry_delays)
        return Round(queued, len(claimed), backlog)

    def _attempt(self, claimed: Claimed) -> Outcome:
        try:
            answer = self._sender.post(claimed.url, claimed.secret, str(claimed.event.id),
                                       body(claimed, self._settings.scim_base_url))
        except Exception as error:  # a message that cannot be sent is a failed attempt, retried, never a stop
            log.exception("webhook %s, event %s: not sent", claimed.endpoint_id, claimed.event.id)
            answer = Answer(None, 0, f"not sent: {error}")
        return Outcome(claimed.id, claimed.endpoint_id, claimed.attempts, answer.status, answer.latency_ms,
                       answer.excerpt, claimed.event.id)

    def run(self, stop: threading.Event, keep_going: Callable[[], bool] = lambda: True) -> None:
        """Deliver until `stop` is set (or `keep_going` says no): at once while a backlog or a resource's next message
        is due, GATHER_SECONDS after a round that found only a few new events, else after a wake-up (NOTIFY or the
        poll). A database that is away pauses delivery, which resumes once it answers."""
        waiter = Waiter(self._engine)
        try:
            while not stop.is_set() and keep_going():
                try:
                    done = self.step()
                except Exception as error:  # nothing ends delivery for good: a failed round is claimed again later
                    if isinstance(error, DBAPIError):  # the database is away
                        log.warning("webhook delivery paused: %s", " ".join(str(error.orig or error).split()))
                    else:
                        log.exception("webhook delivery round failed")
                    stop.wait(NOTIFY_WAIT_SECONDS)
                    continue
                if done.backlog or (done.claimed and outbox.due(self._engine)):
                    continue  # a backlog, or a resource's next message, due now that the one before it went out
                if done.claimed or done.queued:
                    # A trickle: the events of the next moments share one round, not a round each, so that SQLite's
                    # writer lock (which requests wait for) and the cores stay mostly free for the SCIM API.
                    stop.wait(GATHER_SECONDS)
                else:
                    waiter.wait(stop)
        finally:
            waiter.close()
            self.close()

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        self._sender.close()


class Waiter:
    """Waits for new work: on PostgreSQL until a NOTIFY on `scim_events` or NOTIFY_WAIT_SECONDS (LISTENing on a
    connection of its own, opened again after a failure); on SQLite POLL_SECONDS."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._listener: Any = None

    def wait(self, stop: threading.Event) -> None:
        if self._engine.dialect.name != "postgresql":
            stop.wait(POLL_SECONDS)
            return
        try:
            if self._listener is None:
                self._listener = self._listen()
            for _notice in self._listener.notifies(timeout=NOTIFY_WAIT_SECONDS, stop_after=1):
                pass
        except Exception as error:  # the database is away or ended the connection: poll until it is back
            log.warning("webhook delivery: no LISTEN connection (%s); polling", " ".join(str(error).split()))
            self.close()
            stop.wait(NOTIFY_WAIT_SECONDS)

    def _listen(self) -> Any:
        raw = self._engine.raw_connection()
        listener = raw.driver_connection
        raw.detach()  # kept for LISTEN, never back in the pool
        listener.autocommit = True
        listener.execute("LISTEN scim_events")
        return listener

    def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            try:
                listener.close()
            except Exception:  # closing a broken connection: nothing more to do
                log.debug("closing the LISTEN connection failed", exc_info=True)


def parent_alive(parent: int | None = None) -> Callable[[], bool]:
    """For a deliverer started by gunicorn's master: whether that master still runs (its child is not orphaned)."""
    expected = parent if parent is not None else os.getppid()
    return lambda: os.getppid() == expected

