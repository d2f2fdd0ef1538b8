"""The webhook deliverer: fans out new events, claims due deliveries, posts them signed (Standard Webhooks) and
records the results, in batches (storage.outbox), until stopped. `scim-server deliver` runs it alone; `scim-server
serve` runs it beside gunicorn (app/gunicorn_hooks.py). Several deliverers may share one database.

Each endpoint has its own connection pool (keep-alive); a batch's messages go out on a thread pool, at most one
message of a resource per batch (the claim sees to it). Redirects are never followed; each attempt has a timeout.
New events wake a deliverer on PostgreSQL by NOTIFY (the events trigger of migration 0009), with a poll each second
as the fallback; SQLite is polled every POLL_SECONDS with a cheap read.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import urllib3
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
class Answer:
    status: int | None  # None: no answer (refused, timed out)
    latency_ms: int
    excerpt: str | None


class Sender:
    """Signs and posts messages: a keep-alive connection pool per endpoint URL, no redirects, a timeout each."""

    def __init__(self, timeout: float, pool_size: int) -> None:
        self._timeout = urllib3.Timeout(total=timeout)
        self._pool_size = pool_size
        self._pools: dict[str, tuple[urllib3.HTTPConnectionPool, str]] = {}  # and the URL's request target
        self._signers: dict[str, Webhook] = {}
        self._lock = threading.Lock()

    def post(self, url: str, secret: str, message_id: str, payload: bytes) -> Answer:
        signer, pool, target = self._for(url, secret)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "webhook-id": message_id}
        now = datetime.now(UTC)
        headers["webhook-timestamp"] = str(int(now.timestamp()))
        headers["webhook-signature"] = signer.sign(message_id, now, payload)
        started = time.perf_counter()
        try:
            response = pool.urlopen("POST", target, body=payload, headers=headers, redirect=False,
                                    retries=False, timeout=self._timeout, preload_content=False)
            excerpt = response.read(EXCERPT_BYTES, decode_content=False).decode("utf-8", "replace")
            remaining = response.length_remaining
            if remaining is not None and remaining <= DRAIN_BYTES:
                response.drain_conn()
                response.release_conn()
            else:  # a long or unframed answer is not read to its end: its connection is not kept
                response.close()
            status: int | None = response.status
        except urllib3.exceptions.HTTPError as error:
            status, excerpt = None, str(error.__cause__ or error)
        latency = round((time.perf_counter() - started) * 1000)
        return Answer(status, latency, excerpt or None)

    def _for(self, url: str, secret: str) -> tuple[Webhook, urllib3.HTTPConnectionPool, str]:
        with self._lock:
            if url not in self._pools:
                self._pools[url] = (urllib3.connection_from_url(url, maxsize=self._pool_size, block=False),
                                    _target(url))
            if secret not in self._signers:
                self._signers[secret] = Webhook(secret)
            return self._signers[secret], *self._pools[url]

    def close(self) -> None:
        with self._lock:
            for pool, _target_of_url in self._pools.values():
                pool.close()
            self._pools.clear()


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
    parsed = urllib3.util.parse_url(url)
    return parsed.request_uri


class Deliverer:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._sender = Sender(settings.timeout, settings.threads)
        self._threads = ThreadPoolExecutor(settings.threads, thread_name_prefix="webhook")
        # Events fanned out per endpoint and call: more than a batch, so that a burst about a few resources still
        # leaves a batch of other resources' messages to claim.
        self._fan_out = settings.batch * FAN_OUT_BATCHES

    def step(self) -> int:
        """One round: fan out new events, claim a batch and send it (fanning out the next events while a full batch
        is on its way), then record it; returns how many messages were attempted or queued (0: nothing to do)."""
        queued = outbox.fan_out(self._engine, self._fan_out)  # a new event goes out in this round
        claimed = outbox.claim(self._engine, self._settings.batch, self._settings.lease_seconds)
        sending = [self._threads.submit(self._attempt, one) for one in claimed]
        if queued >= self._fan_out or len(claimed) == self._settings.batch:
            # A backlog: the next round's deliveries are ready when this one ends. Under a trickle the next round
            # fans out first anyway, and one transaction fewer a round keeps SQLite's writer lock free for requests.
            queued += outbox.fan_out(self._engine, self._fan_out)
        outbox.record(self._engine, [future.result() for future in sending], self._settings.retry_delays)
        return len(claimed) + queued

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
        """Deliver until `stop` is set (or `keep_going` says no): at once while there is work, else after a wake-up
        (NOTIFY or the poll). A database that is away pauses delivery, which resumes once it answers."""
        waiter = Waiter(self._engine)
        try:
            while not stop.is_set() and keep_going():
                try:
                    busy = self.step() > 0
                except Exception as error:  # nothing ends delivery for good: a failed round is claimed again later
                    if isinstance(error, DBAPIError):  # the database is away
                        log.warning("webhook delivery paused: %s", " ".join(str(error.orig or error).split()))
                    else:
                        log.exception("webhook delivery round failed")
                    busy = False
                    stop.wait(NOTIFY_WAIT_SECONDS)
                if not busy:
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

