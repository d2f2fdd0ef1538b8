"""SCIM errors (RFC 7644 §3.12): one exception per scimType or status, rendered in one place by the app."""

from __future__ import annotations

from typing import Any

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """An error the server answers with a SCIM Error body."""

    status: int = 400
    scim_type: str | None = None
    default_detail: str = "Bad request."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.detail = detail or self.default_detail
        self.headers = headers or {}
        super().__init__(self.detail)

    def to_body(self) -> dict[str, Any]:
        """Per RFC 7644 §3.12, `status` is a string."""
        body: dict[str, Any] = {"schemas": [ERROR_URN], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


# -- scimType errors (400, 409, 413) ----------------------------------------------------------


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"
    default_detail = "The filter syntax is invalid or an attribute or comparison is not supported."


class TooMany(ScimError):
    scim_type = "tooMany"
    default_detail = "The query would return too many results."


class InvalidSyntax(ScimError):
    scim_type = "invalidSyntax"
    default_detail = "The request body could not be parsed."


class InvalidPath(ScimError):
    scim_type = "invalidPath"
    default_detail = "The path attribute is invalid or malformed."


class NoTarget(ScimError):
    scim_type = "noTarget"
    default_detail = "The path did not yield an attribute that could be operated on."


class InvalidValue(ScimError):
    scim_type = "invalidValue"
    default_detail = "A required value was missing or a value is not compatible with the attribute."


class InvalidCursor(ScimError):
    """RFC 9865 §2.1: a cursor this server did not issue for the query (request the first page with an empty one)."""

    scim_type = "invalidCursor"
    default_detail = "The cursor is invalid: send an empty one for the first page, then nextCursor or previousCursor."


class InvalidVersion(ScimError):
    scim_type = "invalidVersion"
    default_detail = "The specified SCIM protocol version is not supported."


class Mutability(ScimError):
    scim_type = "mutability"
    default_detail = "The attempted modification is not compatible with the attribute's mutability."


class Sensitive(ScimError):
    scim_type = "sensitive"
    default_detail = "The request cannot be completed because of sensitive information in the request URI."


class Uniqueness(ScimError):
    status = 409
    scim_type = "uniqueness"
    default_detail = "One or more of the attribute values are already in use or are reserved."


# -- status errors ----------------------------------------------------------------------------


class Unauthorized(ScimError):
    status = 401
    default_detail = "Authorization failure: a valid bearer token is required."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="scim"'})


class Forbidden(ScimError):
    status = 403
    default_detail = "The operation is not permitted."


class NotFound(ScimError):
    status = 404
    default_detail = "The specified resource was not found."


class MethodNotAllowed(ScimError):
    status = 405
    default_detail = "The method is not allowed on this endpoint."


class Conflict(ScimError):
    status = 409
    default_detail = "The request conflicts with the current state of the resource."


class PreconditionFailed(ScimError):
    status = 412
    default_detail = "The resource has changed: the If-Match version does not match."


class PayloadTooLarge(ScimError):
    status = 413
    default_detail = "The request body is too large."


class UnsupportedMediaType(ScimError):
    """Per RFC 7644 §8.1, bodies are application/scim+json (application/json accepted too)."""

    status = 415
    default_detail = "Request bodies must be application/scim+json or application/json."


class TooManyRequests(ScimError):
    """Too many failed attempts from one client: `Retry-After` says when it may try again (integer seconds)."""

    status = 429
    default_detail = "Too many failed requests: try again later."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class InternalError(ScimError):
    status = 500
    default_detail = "An internal error occurred."


class NotImplementedFeature(ScimError):
    status = 501
    default_detail = "The operation is not supported by this server."


class ServiceUnavailable(ScimError):
    """The database cannot be reached or did not answer in time; IdPs retry a 503 after `Retry-After` seconds."""

    status = 503
    default_detail = "The service is temporarily unavailable: try again later."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
