"""The README's Okta walkthrough, run as written with bash, curl and jq against a live server."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import IN_CI, make_token
from tests.live import REPO, call, live_server

WALKTHROUGH = re.compile(r"### What Okta sends.*?```sh\n(.*?)```", re.S)


def test_the_okta_walkthrough_runs_as_written(app: Flask, db_url: str, tmp_path: Path) -> None:
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        message = f"the walkthrough needs {', '.join(missing)}"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    script = WALKTHROUGH.search((REPO / "README.md").read_text())[1]
    token = make_token(app, "default")
    with live_server(db_url, tmp_path / "gunicorn.log", workers=1) as port:
        base = f"http://127.0.0.1:{port}/scim/v2"
        env = {"PATH": "/usr/bin:/bin", "TOKEN": token, "B": base, "H": f"Authorization: Bearer {token}",
               "C": "Content-Type: application/scim+json"}
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.rsplit("HTTP/1.1 ", 1)[1].startswith("204 "), result.stdout  # the group PATCH
        status, _headers, found = call(port, "GET", '/scim/v2/Groups?filter=displayName eq "Engineering"'
                                       .replace(" ", "%20").replace('"', "%22"), token)
        assert status == 200 and found["totalResults"] == 1
        [group] = found["Resources"]
        [member] = group["members"]
        status, _headers, user = call(port, "GET", f"/scim/v2/Users/{member['value']}", token)
        assert status == 200 and user["userName"] == "jane.doe@example.com"
        assert user["name"]["givenName"] == "Janet" and user["active"] is True
