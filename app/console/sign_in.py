"""Signing in and out."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.console import security
from app.console.blueprint import bp


@bp.get("/sign-in")
def sign_in() -> str:
    """The sign-in form."""
    return render_template("console/sign_in.html", next=request.args.get("next", ""), email="")


@bp.post("/sign-in")
def sign_in_submit() -> Response | tuple[str, int]:
    """Check the credentials (with lock-out), start a session and go where the admin was going."""
    email, target = request.form.get("email", "").strip(), request.form.get("next", "")
    try:
        admin = security.authenticate(email, request.form.get("password", ""))
    except security.SignInRefused as refusal:
        return render_template("console/sign_in.html", next=target, email=email, error=str(refusal)), refusal.status
    security.sign_in(admin)
    return redirect(security.safe_next(target))


@bp.post("/sign-out")
def sign_out() -> Response:
    """End the session on the server and in the browser."""
    security.sign_out()
    flash("You are signed out.")
    return redirect(url_for("console.sign_in"))
