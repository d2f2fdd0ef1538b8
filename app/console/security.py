"""Console security: password hashing, sign-in with lock-out, the admin session, CSRF and response headers.

The browser holds one cookie, Flask's signed session (HttpOnly, SameSite=Lax, Secure over TLS). It carries the
CSRF token and the secret of a server-side admin session (storage.admins), which sign-out deletes. A SCIM bearer
token is never looked at here, so it cannot open the console.
"""

from __future__ import annotations

import functools
import hmac
import math
import secrets
from datetime import datetime, timedelta

from flask import (
    Flask,
    Request,
    Response,
    abort,
    current_app,
    g,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.security import check_password_hash, generate_password_hash

from app import database
from storage import admins
from storage.models import Admin

PUBLIC_ENDPOINTS = frozenset({"console.sign_in", "console.sign_in_submit", "console.static"})
EMAIL_MAX = 254  # RFC 5321's longest path
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = {
    "Cache-Control": "no-store",  # pages show directory data and, once, token secrets
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


class SignInRefused(Exception):
    """Wrong email or password (400), or a lock-out (429); the message never says whether the account exists."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# -- passwords --------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


@functools.cache
def _decoy_hash() -> str:
    """Checked when the email is unknown, so that a missing account takes as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


# -- sign-in and lock-out ---------------------------------------------------------------------


def _limits(email: str) -> dict[str, int]:
    """The lock-out keys of a sign-in and their limits (an overlong email is cut to what an email can be)."""
    config = current_app.config
    return {f"account:{admins.normalize_email(email)[:EMAIL_MAX]}": int(config["CONSOLE_MAX_FAILURES"]),
            f"ip:{request.remote_addr}": int(config["CONSOLE_MAX_FAILURES_PER_IP"])}


def _window() -> timedelta:
    return timedelta(minutes=int(current_app.config["CONSOLE_LOCKOUT_MINUTES"]))


def authenticate(email: str, password: str) -> Admin:
    """The admin with these credentials, or SignInRefused. A locked account or address is refused before the
    password is checked; each failure is counted (and committed) against both the account and the address."""
    db, limits = database.get_session(), _limits(email)
    until = admins.locked_until(db, limits, _window())
    if until is not None:
        raise SignInRefused(f"Too many failed sign-ins. Try again {_minutes_left(until)}.", 429)
    admin = admins.find_by_email(db, email)
    if not check_password_hash(admin.password_hash if admin else _decoy_hash(), password) or admin is None:
        admins.record_failure(db, limits, _window())
        database.commit()
        raise SignInRefused("The email or password is not right.")
    admins.clear_failures(db, limits)
    return admin


def _minutes_left(until: datetime) -> str:
    minutes = max(1, math.ceil((until - datetime.now(until.tzinfo)).total_seconds() / 60))
    return f"in {minutes} minute{'s' if minutes > 1 else ''}"


def sign_in(admin: Admin) -> None:
    """Start a server-side session and a fresh cookie (a new CSRF token too: no fixation across sign-in)."""
    hours = int(current_app.config["CONSOLE_SESSION_HOURS"])
    secret = admins.open_session(database.get_session(), admin, timedelta(hours=hours))
    database.commit()
    session.clear()
    session["sid"] = secret
    session["csrf"] = secrets.token_urlsafe(32)


def sign_out() -> None:
    if "sid" in session:
        admins.close_session(database.get_session(), session["sid"])
        database.commit()
    session.clear()


# -- CSRF -------------------------------------------------------------------------------------


def csrf_token() -> str:
    """The session's CSRF token (synchronizer-token pattern); every console form posts it as `csrf_token`."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    expected, sent = session.get("csrf"), request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        abort(400, "The form has expired or did not come from this console. Go back, reload the page and try again.")


# -- request guards ---------------------------------------------------------------------------


def guard() -> Response | None:
    """Before every console request: CSRF on every unsafe method, then a signed-in admin on every page but the
    sign-in page (others redirect there, remembering where the admin was going)."""
    if request.method in UNSAFE_METHODS:
        check_csrf()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    admin = admins.session_admin(database.get_session(), session["sid"]) if "sid" in session else None
    if admin is None:
        target = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
        return redirect(url_for("console.sign_in", next=target if request.method == "GET" else None))
    g.admin = admin
    return None


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only, never another site (no open redirect)."""
    home = url_for("console.tenants_page")
    if target and target.startswith(home) and "//" not in target and "\\" not in target:
        return target
    return home


def add_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, marked Secure whenever the request came over TLS (behind a proxy: with
    SCIM_TRUST_PROXY set, from X-Forwarded-Proto) or when SESSION_COOKIE_SECURE says so."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (has_request_context() and request.is_secure)

    def open_session(self, app: Flask, incoming: Request) -> SecureCookieSession | None:
        """The SCIM API, called on every IdP push, has no cookie session: it does not sign or parse one."""
        if incoming.path.startswith(app.blueprints["scim"].url_prefix + "/"):
            return self.make_null_session(app)
        return super().open_session(app, incoming)
