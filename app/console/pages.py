"""What the console's pages share: paging, date formatting, and errors rendered as pages (not SCIM JSON)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from app.console.blueprint import bp
from scim.errors import ScimError

MAX_PAGE = 1_000_000  # keeps OFFSET far from integer overflow whatever the query string says


class FormError(ValueError):
    """A form or filter value that cannot be used; the page is shown again with the message."""


@dataclass(frozen=True)
class Pager:
    """Page `number` (from 1) of `size` rows out of `total`."""

    number: int
    size: int
    total: int = 0

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    def counted(self, total: int) -> Pager:
        return Pager(self.number, self.size, total)


def requested_page() -> Pager:
    """The page the query string asks for (`page`, default 1) at the configured page size."""
    number = request.args.get("page", default=1, type=int)
    return Pager(min(max(number, 1), MAX_PAGE), int(current_app.config["CONSOLE_PAGE_SIZE"]))


@bp.app_template_filter("when")
def when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "—"


@bp.app_template_global()
def this_page(**changes: object) -> str:
    """The URL of the current page with `changes` to its query, e.g. the next page of the same search."""
    return url_for(request.endpoint or "", **{**(request.view_args or {}), **request.args.to_dict(), **changes})


def _error_page(status: int, message: str) -> tuple[str, int]:
    return render_template("console/error.html", status=status, message=message), status


@bp.errorhandler(ScimError)
def _scim_error(error: ScimError) -> tuple[str, int]:
    return _error_page(error.status, error.detail)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    return _error_page(error.code or 500, error.description or "")
