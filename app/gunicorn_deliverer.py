"""The webhook deliverer beside gunicorn: `scim-server serve` (and `gunicorn` with the project's configuration) runs
one `scim-server deliver` process, started by the master once it listens and stopped when it exits; SCIM_DELIVER=0
(`serve --no-deliver`) runs none, for a server whose deliverers run elsewhere. One process, not one per worker: the
workers serve requests, and a deliverer's batches would compete with them for the GIL. The deliverer stops by
itself when the master is gone (killed with -9), as a worker does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PARENT_ENV = "SCIM_DELIVER_PARENT"  # the master's pid, for the deliverer it starts
STOP_SECONDS = 30
_process: subprocess.Popen[bytes] | None = None


def enabled() -> bool:
    return os.environ.get("SCIM_DELIVER", "1").strip().lower() not in ("0", "false", "no", "off")


def start(server: Any) -> None:
    """gunicorn's when_ready hook, in the master."""
    global _process
    if not enabled() or _process is not None:
        return
    command = [str(Path(sys.executable).with_name("scim-server")), "deliver"]
    _process = subprocess.Popen(command, env={**os.environ, PARENT_ENV: str(os.getpid())})
    server.log.info("webhook deliverer started (pid %s)", _process.pid)


def stop(_server: Any) -> None:
    """gunicorn's on_exit hook: the deliverer finishes its batch and exits."""
    global _process
    if _process is None:
        return
    _process.terminate()
    try:
        _process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        _process.kill()
        _process.wait(timeout=STOP_SECONDS)
    _process = None
