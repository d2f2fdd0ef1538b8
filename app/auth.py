"""Bearer-token authentication (RFC 6750) with flask-httpauth; the token names the request's tenant."""

from __future__ import annotations

from flask import Response, g
from flask_httpauth import HTTPTokenAuth

from app import database, journal
from app.auth_failures import refusal
from app.errors import render
from storage import tokens
from storage.db import write_transaction
from storage.tokens import Principal

token_auth = HTTPTokenAuth(scheme="Bearer", realm="scim")


@token_auth.verify_token
def _verify(secret: str) -> Principal | None:
    # flask-httpauth passes "" when the header is missing or not a Bearer one.
    principal = tokens.authenticate(database.connection(), secret)
    if principal is None:
        return None
    if tokens.touch_due(principal):
        _touch(principal)
    g.principal = principal
    return principal


def _touch(principal: Principal) -> None:
    # In a short transaction of its own, so that the request's writer (if it writes) starts later and holds the
    # write lock no longer than its own work.
    with write_transaction(database.engine()) as connection:
        tokens.touch(connection, principal)


@token_auth.error_handler
def _unauthorized(_status: int) -> Response:
    error = refusal()
    if error.status == 401:  # past the address's limit (429), a flood gets no lookup more
        journal.note_refused()
    return render(error)


def current_principal() -> Principal:
    return g.principal
