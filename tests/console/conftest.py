"""Console fixtures: an admin account, a signed-in test client, and helpers to post forms with their CSRF token."""

from __future__ import annotations

import functools
import re
import secrets
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.console.security import hash_password
from storage import admins
from storage.db import make_sessionmaker
from storage.models import Admin

EMAIL = "admin@example.com"
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(response: TestResponse) -> str:
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def post_form(client: FlaskClient, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
    """POST like the browser does: with the CSRF token of a console page this client has open."""
    token = csrf_of(client.get("/admin/sign-in"))
    return client.post(url, data={"csrf_token": token, **(data or {})}, **kwargs)


@functools.cache
def _hash(password: str) -> str:
    """scrypt takes about half a second here: each password is hashed once per test run."""
    return hash_password(password)


def create_admin(app: Flask, email: str = EMAIL, password: str = PASSWORD) -> Admin:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return admins.create(session, email, _hash(password))


def sign_in(client: FlaskClient, email: str = EMAIL, password: str = PASSWORD) -> TestResponse:
    return post_form(client, "/admin/sign-in", {"email": email, "password": password})


@pytest.fixture
def admin(app: Flask) -> Admin:
    return create_admin(app)


@pytest.fixture
def console(app: Flask, client: FlaskClient, admin: Admin) -> FlaskClient:
    """A test client signed in to the console: its cookie holds a session opened in storage, as sign-in does
    (the sign-in form itself is tested in test_security.py; skipping it here skips a slow scrypt check)."""
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        secret = admins.open_session(session, session.merge(admin), timedelta(hours=1))
    with client.session_transaction() as cookie:
        cookie.update(sid=secret, csrf=secrets.token_urlsafe(32))
    return client
