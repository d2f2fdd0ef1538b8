"""The setup page a setup link opens, for the customer's IT admin: no account, the link is the credential.

`GET /setup/<secret>?idp=okta` shows that IdP's steps with this tenant's values; `POST /setup/<secret>/token` creates
a token labelled with the link, shown once by the page it redirects to; `GET /setup/<secret>/status` is the live
status (app/connection_status.py) as JSON, which the page's script polls; `POST /setup/<secret>/capture` records the
tenant's requests and responses for scim.capture.DEFAULT_DURATION (storage.journal, as the console's capture) and
`POST /setup/<secret>/capture/stop` ends it. Everything but the live update works without
JavaScript. An unknown link is "not valid" (404; past the address's limit of failures, 429); an expired or revoked
one says which (410), and nothing else.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, g, jsonify, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from app import auth_failures, connection_status, database
from app.console import security
from app.http import base_url
from app.setup_page.idps import BASE_URL, BY_KEY, IDPS, TOKEN, Idp
from scim import capture
from scim.errors import TooManyRequests
from storage import journal, setup_links, tokens
from storage.models import SetupLink, Tenant, utcnow

# The session key carrying a new token's secret from the form's post to the one page that shows it (as the console).
NEW_TOKEN = "setup_new_token"
POLL_SECONDS = 2

bp = Blueprint("setup_page", __name__, url_prefix="/setup", template_folder="templates",
               static_folder="static", static_url_path="/static")


class LinkRefused(Exception):
    """The link is unknown (404), expired or revoked (410), or the address guessed too often (429)."""

    STATUS = {"unknown": 404, "expired": 410, "revoked": 410, "limited": 429}

    def __init__(self, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = self.STATUS[reason]
        self.headers = headers or {}


@bp.before_request
def _prepare() -> None:
    """The access log shows the link's prefix, never its secret; the token form runs as a writer from the start,
    as the console's forms do."""
    secret = (request.view_args or {}).get("secret")
    if secret:
        g.logged_path = request.path.replace(secret, secret[: setup_links.PREFIX_LENGTH] + "…", 1)
    if request.method == "POST":
        database.get_session(writing=True)


@bp.after_request
def _no_referrer(response: Response) -> Response:
    """The page's URL is the link's secret: no link followed from it may carry it in a Referer."""
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


bp.after_request(security.add_headers)


@bp.get("/<secret>")
def page(secret: str) -> str:
    """The steps for the chosen IdP (`?idp=`), the token form, and the connection's status."""
    link, tenant = _open(secret)
    idp = BY_KEY.get(request.args.get("idp", ""))
    new = session.pop(NEW_TOKEN, None)
    new_secret = new["secret"] if new and new["link_id"] == link.id else None
    live = connection_status.status(database.get_session(), tenant.id)
    capturing = journal.capturing(tenant.capture_until, utcnow())
    return render_template("setup/page.html", link=link, tenant=tenant, idps=IDPS, idp=idp, secret=secret,
                           fields=_fields(idp, new_secret) if idp else [], new_secret=new_secret,
                           status=live, poll_ms=POLL_SECONDS * 1000,
                           capture_until=tenant.capture_until if capturing else None,
                           capture_minutes=int(capture.DEFAULT_DURATION.total_seconds() // 60),
                           capture_kept_hours=int(journal.CAPTURE_KEPT.total_seconds() // 3600))


@bp.post("/<secret>/token")
def create_token(secret: str) -> Response:
    """Issue a token labelled with this link and redirect to the page, which shows it once."""
    security.check_csrf()
    link, tenant = _open(secret)
    idp = BY_KEY.get(request.form.get("idp", ""))
    label = f"setup link {link.id}" + (f" ({idp.name})" if idp else "")
    _token, token_secret = tokens.issue(database.get_session(), tenant, label=label)
    database.commit()
    session[NEW_TOKEN] = {"link_id": link.id, "secret": token_secret}
    target = url_for("setup_page.page", secret=secret, idp=idp.key if idp else None, _anchor="token")
    return redirect(target, code=303)


@bp.post("/<secret>/capture")
def start_capture(secret: str) -> Response:
    """Record the tenant's requests and responses for scim.capture.DEFAULT_DURATION, then back to the page."""
    security.check_csrf()
    _link, tenant = _open(secret)
    journal.start_capture(database.get_session(), tenant, capture.DEFAULT_DURATION)
    database.commit()
    return _back_to_capture(secret)


@bp.post("/<secret>/capture/stop")
def stop_capture(secret: str) -> Response:
    """Stop recording now; what was recorded stays until it expires."""
    security.check_csrf()
    _link, tenant = _open(secret)
    journal.stop_capture(database.get_session(), tenant)
    database.commit()
    return _back_to_capture(secret)


def _back_to_capture(secret: str) -> Response:
    idp = BY_KEY.get(request.form.get("idp", ""))
    return redirect(url_for("setup_page.page", secret=secret, idp=idp.key if idp else None, _anchor="capture"),
                    code=303)


@bp.get("/<secret>/status")
def status(secret: str) -> Response:
    """The live status as JSON (the page's script renders it)."""
    _link, tenant = _open(secret)
    return jsonify(connection_status.status(database.get_session(), tenant.id))


@bp.errorhandler(LinkRefused)
def _refused(error: LinkRefused) -> tuple[str, int, dict[str, str]]:
    return render_template("setup/refused.html", reason=error.reason), error.status, error.headers


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    return render_template("setup/refused.html", reason="error", message=error.description), error.code or 500


def _open(secret: str) -> tuple[SetupLink, Tenant]:
    """The live link of `secret` and its tenant, or LinkRefused."""
    db_session = database.get_session()
    link = setup_links.find(db_session, secret)
    if link is None:
        # Counted with the SCIM API's failed authentications of the address (past the limit, guessing gets 429), on
        # the request's Connection: the session, a writer on a form's post, lets go of its lock first.
        db_session.rollback()
        refusal = auth_failures.refusal()
        if refusal.status == TooManyRequests.status:
            raise LinkRefused("limited", refusal.headers)
        raise LinkRefused("unknown")
    state = setup_links.state(link)
    if state != "live":
        raise LinkRefused(state)
    tenant = db_session.get(Tenant, link.tenant_id)
    assert tenant is not None  # the link's foreign key
    return link, tenant


def _fields(idp: Idp, new_secret: str | None) -> list[dict[str, Any]]:
    """The IdP's fields with this tenant's values: the base URL as the IdP wants it, and the token once it exists."""
    url = idp.base_url(base_url())
    return [{"name": field.name, "note": field.note, "is_token": TOKEN in field.value,
             "value": field.value.replace(BASE_URL, url).replace(TOKEN, new_secret or "the token from step 2")}
            for field in idp.fields]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
