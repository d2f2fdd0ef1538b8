"""The gunicorn worker class of the server: gunicorn's threaded worker, whose threads get only requests that have
arrived whole, and whose own refusals (request line or headers too long, malformed requests) are SCIM errors.

gunicorn's threaded worker hands a connection to a thread as soon as its first byte arrives, and the thread then
blocks reading the rest: a client that sends its headers (or body) a byte at a time holds a thread as long as it
likes, and a few such clients hold them all. This worker reads in its event loop instead, without blocking, until
the request head is complete and, when the head announces a body by Content-Length of at most BODY_BUFFER_BYTES,
until that body is there too; only then does a thread (and with it the application and a database connection) take
the request. A client that has not sent its request within REQUEST_READ_SECONDS (SCIM_REQUEST_READ_TIMEOUT) gets
a 408 and is disconnected. Slow clients so cost one socket and a buffer each, bounded by gunicorn's
`worker_connections`, as behind a buffering reverse proxy. Chunked bodies and bodies over the bound are read by the
thread, as gthread reads them.
"""

from __future__ import annotations

import contextlib
import http
import os
import selectors
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import TConn, ThreadWorker

from app.config import DEFAULTS
from scim.encoding import dumps
from scim.errors import ScimError

# nginx's client_header_timeout is 60 s; an IdP sends a request of a few kB at once, so half of that is generous.
REQUEST_READ_SECONDS = float(os.environ.get("SCIM_REQUEST_READ_TIMEOUT", "30"))
# The application's body limit: it refuses larger announced bodies before reading them.
BODY_BUFFER_BYTES = int(os.environ.get("SCIM_MAX_CONTENT_LENGTH", DEFAULTS["MAX_CONTENT_LENGTH"]))
# A head this long without its blank line is handed to gunicorn's parser, which refuses it by its limits
# (limit_request_line, limit_request_fields, limit_request_field_size).
HEAD_BUFFER_BYTES = 64 * 1024
_RECV_BYTES = 64 * 1024
_HEAD_END = b"\r\n\r\n"

# gunicorn's refusals by status; any other ParseException is a 400, anything else a 500.
_STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (http_errors.LimitRequestLine, 414),
    (http_errors.LimitRequestHeaders, 431),
    (http_errors.UnsupportedTransferCoding, 501),
    (http_errors.ExpectationFailed, 417),
    (http_errors.ForbiddenProxyRequest, 403),
    (http_errors.ConfigurationProblem, 500),
    (http_errors.InvalidResponseHeader, 500),
    (http_errors.InvalidResponseHeaderName, 500),
    (http_errors.ParseException, 400),
)


class ScimWorker(ThreadWorker):
    """gunicorn's `gthread` worker that reads each request before a thread serves it and answers in SCIM JSON."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # TLS and HTTP/2 need their bytes read by gunicorn itself; TLS ends at the proxy in front of this server.
        self.read_ahead = not self.cfg.is_ssl and "h2" not in self.cfg.http_protocols
        self.reading: deque[TConn] = deque()  # connections whose request is being read, oldest deadline first
        self._buffers: dict[TConn, bytearray] = {}  # what each of them has sent so far
        self._deadlines: dict[TConn, float] = {}

    def enqueue_req(self, conn: TConn) -> None:
        """Read the connection's next request in the event loop; a thread takes it once it is complete."""
        if not self.read_ahead:
            super().enqueue_req(conn)
            return
        buffer = bytearray(conn.parser.unreader.take_buffered() if conn.parser is not None else b"")
        conn.sock.setblocking(False)
        if not _complete(buffer):
            buffer += _received(conn.sock) or b""  # most requests have arrived whole by now: no wait in the poller
        if _complete(buffer):
            self._dispatch(conn, buffer)
            return
        self._buffers[conn] = buffer
        self._deadlines[conn] = time.monotonic() + REQUEST_READ_SECONDS
        self.reading.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: TConn, _sock: Any) -> None:
        data = _received(conn.sock)
        if data is None:
            return
        if not data:  # the client went away before sending a whole request
            self._stop_reading(conn)
            self._close(conn)
            return
        buffer = self._buffers[conn]
        buffer += data
        if _complete(buffer):
            self._stop_reading(conn)
            self._dispatch(conn, buffer)

    def _dispatch(self, conn: TConn, buffer: bytearray) -> None:
        conn.data_ready = True  # gthread's own wait for a first byte is done
        super().enqueue_req(_Buffered(conn, bytes(buffer)))

    def handle(self, conn: TConn) -> Any:
        """Serve the request read ahead: the thread's parser reads those bytes before the socket."""
        if isinstance(conn, _Buffered):
            buffered, conn = conn.buffered, conn.conn
            if conn.parser is None:
                conn.sock.setblocking(True)
                conn.init()
            conn.parser.unreader.unread(buffered)
        return super().handle(conn)

    def finish_request(self, conn: TConn, fs: Any) -> None:
        super().finish_request(conn.conn if isinstance(conn, _Buffered) else conn, fs)

    def murder_pending(self) -> None:
        """Also disconnect the clients that did not send their request in time (all of them when stopping)."""
        super().murder_pending()
        now = time.monotonic()
        while self.reading and (not self.alive or self._deadlines[self.reading[0]] <= now):
            conn = self.reading[0]
            sent_something = bool(self._buffers[conn])
            self._stop_reading(conn)
            if sent_something and self.alive:
                error = ScimError(f"The request did not arrive within {REQUEST_READ_SECONDS:.0f} seconds.")
                error.status = 408
                with contextlib.suppress(OSError):  # the client is gone
                    _write(conn.sock, error)
            self._close(conn)

    def _stop_reading(self, conn: TConn) -> None:
        self.reading.remove(conn)
        del self._buffers[conn], self._deadlines[conn]
        with contextlib.suppress(KeyError, ValueError, OSError):  # a socket closed under it is gone from the poller
            self.poller.unregister(conn.sock)

    def _close(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: Exception) -> None:
        """gunicorn's own answers (a request it cannot parse, an application that fails before answering) as SCIM
        Error bodies instead of its HTML pages."""
        status = next((code for kind, code in _STATUSES if isinstance(exc, kind)), 500)
        ip = addr[0] if addr else ""
        if status >= 500:
            self.log.exception("Error handling request from ip=%s", ip, exc_info=exc)
            error = ScimError("An internal error occurred.")
        else:
            self.log.warning("Invalid request from ip=%s: %s", ip, exc)
            error = ScimError(f"{http.HTTPStatus(status).phrase}: {exc}")
        error.status = status
        try:
            _write(client, error)
        except OSError:  # the client is gone
            self.log.debug("Failed to send error message.")


class _Buffered:
    """A connection on its way to a thread, with the request bytes read ahead for it."""

    __slots__ = ("buffered", "conn")

    def __init__(self, conn: TConn, buffered: bytes) -> None:
        self.conn, self.buffered = conn, buffered


def _received(sock: Any) -> bytes | None:
    """What the client has sent (b"" once it has closed), or None when nothing has arrived."""
    try:
        return sock.recv(_RECV_BYTES)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:  # reset by the client
        return b""


def _complete(buffer: bytearray) -> bool:
    """Whether a thread can serve the request without waiting for the client (or its parser must refuse it)."""
    end = buffer.find(_HEAD_END)
    if end < 0:
        return len(buffer) >= HEAD_BUFFER_BYTES
    length = _body_to_buffer(bytes(buffer[:end]))
    return len(buffer) >= end + len(_HEAD_END) + length


def _body_to_buffer(head: bytes) -> int:
    """How many body bytes to read ahead: a Content-Length body up to BODY_BUFFER_BYTES; none when the body is
    chunked, larger, announced with Expect: 100-continue (the client waits for the answer) or the head is malformed
    (the parser refuses it)."""
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.lower()
        if name in (b"transfer-encoding", b"expect"):
            return 0
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit() or int(value) > BODY_BUFFER_BYTES:
                return 0
            length = int(value)
    return length


def _write(sock: Any, error: ScimError) -> None:
    body = dumps(error.to_body()).encode()
    head = (f"HTTP/1.1 {error.status} {http.HTTPStatus(error.status).phrase}\r\nConnection: close\r\n"
            f"Content-Type: application/scim+json\r\nContent-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)
