"""The webhook deliverer beside gunicorn: `scim-server serve` (and `gunicorn` with the project's configuration) runs
one `scim-server deliver` process, started by the master once it listens and stopped when it exits; SCIM_DELIVER=0
(`serve --no-deliver`) runs none, for a server whose deliverers run elsewhere. One process, not one per worker: the
workers serve requests, and a deliverer's batches would compete with them for the GIL.

A deliverer that dies (killed, out of memory) is started again: a thread of the master checks its pid every
CHECK_SECONDS, since the master reaps every child itself (waitpid(-1)) and ignores the ones that are not its workers,
so nothing else tells it. The checks stop once the master exits. The deliverer stops by itself when the master is
gone (killed with -9), as a worker does."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

PARENT_ENV = "SCIM_DELIVER_PARENT"  # the master's pid, for the deliverer it starts
STOP_SECONDS = 30
CHECK_SECONDS = 3
_process: subprocess.Popen[bytes] | None = None
_lock = threading.Lock()  # the watcher's restart and on_exit's stop, one at a time
_exiting = threading.Event()


def enabled() -> bool:
    return os.environ.get("SCIM_DELIVER", "1").strip().lower() not in ("0", "false", "no", "off")


def start(server: Any) -> None:
    """gunicorn's when_ready hook, in the master: the deliverer, and the thread that starts it again if it dies."""
    if not enabled() or _process is not None:
        return
    with _lock:
        _launch(server)
    threading.Thread(target=_watch, args=(server,), name="deliverer-watch", daemon=True).start()


def stop(_server: Any) -> None:
    """gunicorn's on_exit hook: no more restarts; the deliverer finishes its batch and exits."""
    global _process
    _exiting.set()
    with _lock:
        if _process is None:
            return
        _process.terminate()
        try:
            _process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            _process.kill()
            _process.wait(timeout=STOP_SECONDS)
        _process = None


def _launch(server: Any) -> None:
    global _process
    command = [str(Path(sys.executable).with_name("scim-server")), "deliver"]
    _process = subprocess.Popen(command, env={**os.environ, PARENT_ENV: str(os.getpid())})
    server.log.info("webhook deliverer started (pid %s)", _process.pid)


def _watch(server: Any) -> None:
    """Every CHECK_SECONDS until the master exits: a new deliverer if the last one is gone."""
    while not _exiting.wait(CHECK_SECONDS):
        with _lock:
            if _exiting.is_set() or _process is None or _alive(_process.pid):
                continue
            server.log.warning("webhook deliverer (pid %s) is gone; starting another", _process.pid)
            _launch(server)


def _alive(pid: int) -> bool:
    """Whether `pid` is still this process's running child: not gone, not a zombie, not another process's pid."""
    if not Path("/proc/self/stat").exists():  # no /proc: a signal 0 tells whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    state, parent = stat.rsplit(")", 1)[1].split()[:2]  # after the command name, which may hold spaces
    return state != "Z" and int(parent) == os.getpid()
