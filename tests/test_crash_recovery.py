"""kill -9 of a gunicorn worker and then of the master while writers POST and PATCH users: after a restart, every
write the server acknowledged (a 2xx received) is there."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from pathlib import Path

from flask import Flask

from scim.schemas import PATCH_OP_URN, USER_URN
from tests.conftest import make_token
from tests.live import call, served

WRITERS = 6
DEACTIVATE = {"schemas": [PATCH_OP_URN], "Operations": [{"op": "replace", "value": {"active": False}}]}
PHASE_SECONDS = 3.5  # load before the worker is killed, between that and the master's kill, and after
REQUEST_TIMEOUT = 5.0
ORPHANS_EXIT_SECONDS = 15.0
PAGE = 1000  # the server's largest page (SCIM_MAX_RESULTS)


def _children(pid: int) -> list[int]:
    """The live processes whose parent is `pid` (from /proc, as `pgrep -P` reads it)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                state, ppid = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[:2]
            except OSError:  # gone meanwhile
                continue
            if int(ppid) == pid and state != "Z":
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _send(port: int, method: str, path: str, token: str, body: dict) -> tuple[int | None, dict | None]:
    """(status, JSON body), or (None, None) when the server did not answer: that write was not acknowledged."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(method, path, body=json.dumps(body).encode(),
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
        response = connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        connection.close()


def _all_users(port: int, token: str) -> dict[str, tuple[str, bool | None]]:
    """Every user the server has: id -> (userName, active)."""
    users: dict[str, tuple[str, bool | None]] = {}
    while True:
        status, _headers, page = call(port, "GET", f"/scim/v2/Users?count={PAGE}&startIndex={len(users) + 1}", token)
        assert status == 200
        users.update((user["id"], (user["userName"], user.get("active"))) for user in page["Resources"])
        if len(users) >= page["totalResults"] or not page["Resources"]:
            return users


class Writers:
    """Threads that each create users and deactivate each one they created, recording what was acknowledged."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.created: dict[str, str] = {}  # id -> userName, for every 201
        self.deactivated: set[str] = set()  # ids whose PATCH active=false got a 200
        self.acknowledged_at: list[float] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._write, args=(index,), daemon=True) for index in range(WRITERS)]

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT * 3)

    def _write(self, writer: int) -> None:
        serial = 0
        while not self._stop.is_set():
            serial += 1
            name = f"writer{writer}-{serial}@example.com"
            status, user = _send(self.port, "POST", "/scim/v2/Users", self.token,
                                 {"schemas": [USER_URN], "userName": name})
            if status != 201:
                time.sleep(0.1)  # the server is down or restarting a worker
                continue
            with self._lock:
                self.created[user["id"]] = name
                self.acknowledged_at.append(time.monotonic())
            status, _body = _send(self.port, "PATCH", f"/scim/v2/Users/{user['id']}", self.token, DEACTIVATE)
            if status == 200:
                with self._lock:
                    self.deactivated.add(user["id"])
                    self.acknowledged_at.append(time.monotonic())


def test_acknowledged_writes_survive_kill_9_of_a_worker_and_the_master(
    app: Flask, db_url: str, tmp_path: Path
) -> None:
    token = make_token(app, "acme")
    orphans: list[int] = []
    with served(db_url, tmp_path / "first.log") as (master, port), Writers(port, token) as writers:
        time.sleep(PHASE_SECONDS)
        os.kill(_children(master.pid)[0], signal.SIGKILL)
        worker_killed = time.monotonic()
        time.sleep(PHASE_SECONDS)
        orphans = _children(master.pid)
        os.kill(master.pid, signal.SIGKILL)
        master_killed = time.monotonic()
        time.sleep(PHASE_SECONDS)
    deadline = time.monotonic() + ORPHANS_EXIT_SECONDS
    while any(_alive(pid) for pid in orphans) and time.monotonic() < deadline:
        time.sleep(0.2)  # a worker whose master is gone finishes what it has and exits
    for pid in orphans:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert any(worker_killed < moment < master_killed for moment in writers.acknowledged_at), \
        "no write was acknowledged between the two kills: the surviving worker did not carry on"
    assert len(writers.created) >= 20
    with served(db_url, tmp_path / "second.log") as (_master, port):
        stored = _all_users(port, token)
    assert {user_id: stored.get(user_id, (None, None))[0] for user_id in writers.created} == writers.created
    assert [user_id for user_id in writers.deactivated if stored[user_id][1] is not False] == []
