"""GET /openapi.json, built from the routes themselves: each JSON route is an :class:`Operation` that names its
operationId, tag, summary, request shapes (:mod:`authz.api.shapes`) and answer schema, so the document and the
validators come from one declaration. The error codes of each operation are derived from its shapes and its kind
of authentication, plus the codes its handler adds (``errors``). A test makes sure no route is left undescribed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from authz import __version__
from authz.api.http import MAX_REQUEST_ID, JSONResponse
from authz.api.shapes import Body, Query, Schema

# What each status means on this API; the codes under it come from the operation.
STATUSES = {
    400: "The body is not JSON (on the AuthZEN endpoints: any malformed request, as the standard says)",
    401: "Not authenticated",
    403: "Not permitted",
    404: "No such resource",
    409: "In conflict with the current state",
    410: "Gone",
    413: "The body is too large",
    415: "The body is not declared as JSON",
    422: "The request is malformed",
    429: "Too many attempts; try again later",
    503: "The service cannot answer now",
}
# Codes every operation of a kind can answer.
_BODY = {400: {"invalid_json"}, 413: {"body_too_large"}, 422: {"invalid_body", "duplicate_field"}}
_AUTH = {"key": {401: {"unauthorized"}},
         # R17: a session whose account must still set up a second factor is refused everything else.
         "session": {401: {"not_logged_in"}, 403: {"forbidden", "mfa_enrolment_required"}}}
_SQL = {503: {"database_unavailable"}}
# What authz.api.http.JsonWrites answers a state-changing request: a foreign Origin, and a body not declared JSON.
_WRITE = {"post": {403: {"foreign_origin"}, 415: {"unsupported_media_type"}},
          "put": {403: {"foreign_origin"}, 415: {"unsupported_media_type"}},
          "patch": {403: {"foreign_origin"}, 415: {"unsupported_media_type"}},
          "delete": {403: {"foreign_origin"}}}


# Every answer carries the id of its request (authz.api.http.RequestIds): the client's X-Request-ID, or one made.
_HEADERS = {"X-Request-ID": {"description": "The request's X-Request-ID as sent, or a uuid4 made for it when it was "
                                            "absent or unusable (too long, or not printable ASCII)",
                             "required": True,
                             "schema": {"type": "string", "minLength": 1, "maxLength": MAX_REQUEST_ID}}}


def error_schema(codes: Iterable[str] = ()) -> Schema:
    """The spec's error shape, with the codes one status of one operation can carry."""
    code: Schema = {"type": "string"}
    if codes:
        code = {"type": "string", "enum": sorted(codes)}
    return {"type": "object", "required": ["error"], "additionalProperties": False, "properties": {"error": {
        "type": "object", "required": ["code", "message"], "additionalProperties": False,
        "properties": {"code": code, "message": {"type": "string"}}}}}


def obj(required: list[str] | None = None, **props: Any) -> Schema:
    """A closed JSON object schema for an answer."""
    return {"type": "object", "additionalProperties": False, "required": required or [], "properties": props}


class Operation(Route):
    """A route of the JSON API together with its description; ``auth`` is 'key', 'session' or 'none'."""

    def __init__(self, method: str, path: str, endpoint: Callable[..., Any], operation_id: str, summary: str, *,
                 tag: str, auth: str = "none", body: Body | None = None, query: Query | None = None,
                 response: Schema | None = None, status: int = 200,
                 errors: Mapping[int, Iterable[str]] | None = None, sql: bool = True,
                 invalid_status: int = 422) -> None:
        super().__init__(path, endpoint, methods=[method])
        assert auth in ("key", "session", "none"), auth
        self.method = method.lower()
        self.operation_id, self.summary, self.tag, self.auth = operation_id, summary, tag, auth
        self.body, self.query, self.response, self.status = body, query, response, status
        self.extra_errors = {s: set(c) for s, c in (errors or {}).items()}
        self.sql = sql  # it may read SQL, so answer 503 'database_unavailable'
        # The status of a malformed request: 422 on this API; 400 on the AuthZEN endpoints, where the standard
        # wants 400 for every malformed request, a body not declared as JSON (elsewhere 415) included.
        self.invalid_status = invalid_status

    def errors(self) -> dict[int, set[str]]:
        """Every error status of this operation, with the codes it can carry."""
        out: dict[int, set[str]] = {}
        parts: list[Mapping[int, Iterable[str]]] = [_AUTH.get(self.auth, {}), _WRITE.get(self.method, {}),
                                                    self.extra_errors]
        if self.sql:
            parts.append(_SQL)
        if self.body is not None:
            parts += [_BODY, {422: self.body.errors()}]
        if self.query is not None:
            parts.append({422: self.query.errors()})
        for part in parts:
            for status, codes in part.items():
                out.setdefault(status, set()).update(codes)
        if self.invalid_status != 422:
            for status in (415, 422):
                out.setdefault(self.invalid_status, set()).update(out.pop(status, ()))
        return out

    def describe(self) -> dict[str, Any]:
        op: dict[str, Any] = {"operationId": self.operation_id, "summary": self.summary, "tags": [self.tag]}
        params: list[dict[str, Any]] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                                        for n in re.findall(r"{(\w+)(?::\w+)?}", self.path)]
        if self.query is not None:
            params += [{"name": n, "in": "query", "required": False, "schema": f.schema}
                       for n, f in self.query.fields.items()]
        if params:
            op["parameters"] = params
        if self.body is not None:
            # Every write with a body is sent as JSON, also one whose fields are all optional ({}): SPEC §4.
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": self.body.json_schema()}}}
        ok: dict[str, Any] = {"description": "Success", "headers": _HEADERS}
        if self.response:
            ok["content"] = {"application/json": {"schema": self.response}}
        responses: dict[str, Any] = {str(self.status): ok}
        for status, codes in sorted(self.errors().items()):
            responses[str(status)] = {"description": STATUSES[status], "headers": _HEADERS,
                                      "content": {"application/json": {"schema": error_schema(codes)}}}
        responses["5XX"] = {"description": "Something went wrong on our side", "headers": _HEADERS,
                            "content": {"application/json": {"schema": error_schema(["internal_error"])}}}
        op["responses"] = responses
        if self.auth == "key":
            op["security"] = [{"apiKey": []}]
        elif self.auth == "session":
            op["security"] = [{"session": []}]
        return op


def _documented(routes: Iterable[BaseRoute]) -> Iterable[Route]:
    # The admin UI's HTML pages are left out: they are not part of the JSON contract.
    return (r for r in routes if isinstance(r, Route) and r.path != "/openapi.json" and r.include_in_schema)


def build(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    tags: dict[str, None] = {}
    seen: set[str] = set()
    for route in _documented(routes):
        if not isinstance(route, Operation):
            continue
        if route.operation_id in seen:
            raise ValueError(f"operationId {route.operation_id!r} is used twice")
        seen.add(route.operation_id)
        tags[route.tag] = None
        paths.setdefault(re.sub(r"{(\w+):\w+}", r"{\1}", route.path), {})[route.method] = route.describe()
    return {
        "openapi": "3.1.0",
        "info": {"title": "authz: access to data products", "version": __version__},
        "tags": [{"name": t} for t in tags],
        "paths": paths,
        "components": {"securitySchemes": {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "Service API key (authz service-key)"},
            "session": {"type": "apiKey", "in": "cookie", "name": "authz_session"},
        }},
    }


def undescribed(routes: Iterable[BaseRoute]) -> list[str]:
    """JSON routes that are not an :class:`Operation` (used by a test)."""
    return [f"{m} {r.path}" for r in _documented(routes) if not isinstance(r, Operation)
            for m in sorted((r.methods or set()) - {"HEAD"})]


async def endpoint(request: Request) -> JSONResponse:
    return JSONResponse(build(request.app.routes))
