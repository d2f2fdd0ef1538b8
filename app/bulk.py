"""The /Bulk endpoint (RFC 7644 §3.7): many writes in one request, each atomic on its own.

Each operation runs the code of its own route (`app.resources.create`, `replace`, `modify`, `remove`) inside a
savepoint: a failed operation is rolled back to it and leaves no trace, the operations before it stay, and the
request commits once, before the BulkResponse is sent. Decisions:

- `bulkId:<id>` references (§3.7.2), in `data` or in `path` (`/Users/bulkId:qwerty`), are replaced by the id the
  POST with that bulkId created. An operation that refers to a POST later in the request runs after it; a reference
  that cannot be resolved (no such POST, the POST failed, or a cycle, §3.7.1) fails that operation with 409.
- `failOnErrors` (§3.7): once that many operations have failed, the rest are neither run nor reported.
- `maxOperations` (§3.7.4) is `SCIM_BULK_MAX_OPERATIONS` (default 1000); `maxPayloadSize` is the app-wide body limit
  `SCIM_MAX_CONTENT_LENGTH`, enforced before any view runs. Exceeding either is a 413 naming the limit, and
  /ServiceProviderConfig advertises exactly `limits()`.
- Results are in request order: `method`, `bulkId`, `location` (except for a failed POST), `version`, `status` as a
  string, and for a failure `response`, the SCIM Error body (§3.7.3). A POST without `bulkId` (REQUIRED by §3.7) is
  accepted: nothing can refer to it, and its result is found by position.
- A body that is not a BulkRequest, or an operation without a known `method` or a `path`, is a 400 for the whole
  request: nothing is run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from flask import Response, current_app

from app import database, resources
from app.http import base_url, read_json, scim_response
from app.scim_api import bp, resolve
from scim.errors import Conflict, InvalidSyntax, InvalidValue, PayloadTooLarge, ScimError
from scim.payloads import lookup
from scim.schemas import BULK_REQUEST_URN, BULK_RESPONSE_URN
from storage.connections import savepoint

DEFAULT_MAX_OPERATIONS = 1000
_SUCCESS = {"POST": 201, "PUT": 200, "PATCH": 200, "DELETE": 204}
_REFERENCE = "bulkId:"


def limits() -> tuple[int, int]:
    """(maxOperations, maxPayloadSize) as enforced (RFC 7644 §3.7.4)."""
    config = current_app.config
    return int(config.get("BULK_MAX_OPERATIONS", DEFAULT_MAX_OPERATIONS)), int(config["MAX_CONTENT_LENGTH"])


@dataclass(frozen=True)
class _Operation:
    """One entry of `Operations` (RFC 7644 §3.7), checked for shape; `data` is validated when it runs."""

    index: int
    method: str
    path: str
    bulk_id: str | None
    version: str | None
    data: Any

    @cached_property
    def references(self) -> frozenset[str]:
        """The bulkIds this operation refers to (RFC 7644 §3.7.2)."""
        return frozenset(_references(self.path) | _references(self.data))


@bp.post("/Bulk")
def bulk() -> Response:
    """Run a BulkRequest (RFC 7644 §3.7) and answer 200 with a BulkResponse."""
    operations, fail_on_errors = _read_request(read_json())
    results = _Run(fail_on_errors).run_all(operations)
    database.commit()
    return scim_response({"schemas": [BULK_RESPONSE_URN], "Operations": results})


# -- the request ----------------------------------------------------------------------------------------------------


def _read_request(body: Any) -> tuple[list[_Operation], int | None]:
    """Check the BulkRequest envelope (RFC 7644 §3.7); `schemas` may be left out, as in a PatchOp."""
    if not isinstance(body, Mapping):
        raise InvalidSyntax("A BulkRequest body must be a JSON object (RFC 7644 §3.7).")
    schemas = lookup(body, "schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or BULK_REQUEST_URN.lower() not in {str(urn).lower() for urn in schemas}
    ):
        raise InvalidSyntax(f"A BulkRequest's 'schemas' must contain '{BULK_REQUEST_URN}' (RFC 7644 §3.7).")
    entries = lookup(body, "Operations")
    if not isinstance(entries, list):
        raise InvalidSyntax("A BulkRequest needs an 'Operations' list (RFC 7644 §3.7).")
    max_operations = limits()[0]
    if len(entries) > max_operations:
        raise PayloadTooLarge(
            f"The number of operations ({len(entries)}) exceeds the maxOperations ({max_operations}) (RFC 7644 §3.7.4)."
        )
    operations = [_operation(index, entry) for index, entry in enumerate(entries)]
    bulk_ids = [operation.bulk_id for operation in operations if operation.bulk_id is not None]
    if len(bulk_ids) != len(set(bulk_ids)):
        raise InvalidValue("Each bulkId must be unique within a BulkRequest (RFC 7644 §3.7).")
    return operations, _fail_on_errors(lookup(body, "failOnErrors"))


def _fail_on_errors(value: Any) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise InvalidValue(f"'failOnErrors' must be a positive integer (RFC 7644 §3.7), not {value!r:.40}.")


def _operation(index: int, entry: Any) -> _Operation:
    if not isinstance(entry, Mapping):
        raise InvalidSyntax(f"Operations[{index}] must be a JSON object (RFC 7644 §3.7).")
    method, path = lookup(entry, "method"), lookup(entry, "path")
    if not isinstance(method, str) or method.upper() not in _SUCCESS:
        raise InvalidSyntax(f"Operations[{index}].method must be POST, PUT, PATCH or DELETE (RFC 7644 §3.7).")
    if not isinstance(path, str) or not path.strip("/"):
        raise InvalidSyntax(f"Operations[{index}] needs a 'path', e.g. /Users or /Users/{{id}} (RFC 7644 §3.7).")
    bulk_id, version = lookup(entry, "bulkId"), lookup(entry, "version")
    for name, value in (("bulkId", bulk_id), ("version", version)):
        if value is not None and not isinstance(value, str):
            raise InvalidSyntax(f"Operations[{index}].{name} must be a string (RFC 7644 §3.7).")
    return _Operation(index, method.upper(), path, bulk_id, version, lookup(entry, "data"))


# -- bulkId references ----------------------------------------------------------------------------------------------


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        return {part[len(_REFERENCE):] for part in value.split("/") if part.startswith(_REFERENCE)}
    if isinstance(value, Mapping):
        return set().union(*map(_references, value.values()))
    if isinstance(value, list):
        return set().union(*map(_references, value))
    return set()


def _resolved(value: Any, created: Mapping[str, str]) -> Any:
    """`value` with each `bulkId:<id>` replaced by the id its POST created (RFC 7644 §3.7.2); else a 409."""
    if isinstance(value, str):
        return "/".join(_resolved_part(part, created) for part in value.split("/"))
    if isinstance(value, Mapping):
        return {key: _resolved(item, created) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item, created) for item in value]
    return value


def _resolved_part(part: str, created: Mapping[str, str]) -> str:
    if not part.startswith(_REFERENCE):
        return part
    bulk_id = part[len(_REFERENCE):]
    if bulk_id not in created:
        raise Conflict(f"'{part}' cannot be resolved: no POST with that bulkId succeeded before this operation, or "
                       "the references are circular (RFC 7644 §3.7.1, §3.7.2).")
    return created[bulk_id]


# -- running the operations -----------------------------------------------------------------------------------------


class _Run:
    """One BulkRequest under way: the ids created per bulkId, the errors so far, the results by request index."""

    def __init__(self, fail_on_errors: int | None) -> None:
        self.fail_on_errors = fail_on_errors
        self.created: dict[str, str] = {}
        self.errors = 0
        self.results: dict[int, dict[str, Any]] = {}

    @property
    def stopped(self) -> bool:
        return self.fail_on_errors is not None and self.errors >= self.fail_on_errors

    def run_all(self, operations: list[_Operation]) -> list[dict[str, Any]]:
        """Run in request order, except that an operation waits for the POSTs whose bulkIds it refers to; when
        only operations in a cycle are left, they run and fail (RFC 7644 §3.7.1 allows the 409)."""
        waiting = operations
        while waiting and not self.stopped:
            pending_posts = {operation.bulk_id for operation in waiting if operation.method == "POST"}
            ready = [operation for operation in waiting if not operation.references & pending_posts] or waiting
            for operation in ready:
                if self.stopped:
                    break
                self.results[operation.index] = self.run(operation)
            waiting = [operation for operation in waiting if operation.index not in self.results]
        return [self.results[index] for index in sorted(self.results)]

    def run(self, operation: _Operation) -> dict[str, Any]:
        """One operation in a savepoint of its own: on failure it leaves no trace (RFC 7644 §3.7.3)."""
        result: dict[str, Any] = {"method": operation.method}
        if operation.bulk_id is not None:
            result["bulkId"] = operation.bulk_id
        try:
            endpoint, _slash, resource_id = _resolved(operation.path, self.created).strip("/").partition("/")
            if operation.method != "POST":
                result["location"] = f"{base_url()}/{endpoint}/{resource_id}"
            with savepoint(database.connection()):
                result |= self._write(operation, endpoint, resource_id)
        except ScimError as error:
            self.errors += 1
            return {**result, "status": str(error.status), "response": error.to_body()}
        return result

    def _write(self, operation: _Operation, endpoint: str, resource_id: str) -> dict[str, Any]:
        resource_type, store = resolve(endpoint)
        if (operation.method == "POST") == bool(resource_id) or "/" in resource_id:
            shape = "a resource endpoint, e.g. /Users" if operation.method == "POST" else "a resource, e.g. /Users/{id}"
            raise InvalidValue(f"The path of a {operation.method} names {shape} (RFC 7644 §3.7).")
        status = str(_SUCCESS[operation.method])
        if operation.method == "DELETE":
            resources.remove(store, resource_id, operation.version)
            return {"location": f"{base_url()}{resource_type.endpoint}/{resource_id}", "status": status}
        data = _resolved(operation.data, self.created)
        if operation.method == "POST":
            stored = resources.create(resource_type, store, data)
            if operation.bulk_id is not None:
                self.created[operation.bulk_id] = stored.id
        elif operation.method == "PUT":
            stored = resources.replace(resource_type, store, resource_id, data, operation.version)
        else:
            stored = resources.modify(resource_type, store, resource_id, data, operation.version)
        location = f"{base_url()}{resource_type.endpoint}/{stored.id}"
        return {"location": location, "version": stored.etag, "status": status}
