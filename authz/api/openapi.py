"""GET /openapi.json: every route of the app, with the request and answer schemas that the modules declare.

An API module describes an endpoint with :func:`describe` next to its handler; routes without a description
still appear (with their docstring), and a test makes sure none is left undescribed.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from authz import __version__
from authz.api.http import JSONResponse

_DOCS: dict[tuple[str, str], dict[str, Any]] = {}

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"],
                             "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}},
}


def describe(method: str, path: str, summary: str, *, request: dict[str, Any] | None = None,
             response: dict[str, Any] | None = None, auth: str = "none", status: int = 200,
             query: dict[str, dict[str, Any]] | None = None) -> None:
    """Declare the schema of one endpoint (JSON Schema dicts); ``auth`` is 'key', 'session' or 'none'."""
    _DOCS[(method.lower(), path)] = {"summary": summary, "request": request, "response": response, "auth": auth,
                                     "status": status, "query": query or {}}


def obj(required: list[str] | None = None, **props: Any) -> dict[str, Any]:
    """A closed JSON object schema (unknown fields are refused, as the API does)."""
    return {"type": "object", "additionalProperties": False, "required": required or [], "properties": props}


def build(routes: list[Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        if not isinstance(route, Route) or route.path == "/openapi.json" or not route.include_in_schema:
            continue  # the admin UI's HTML pages are left out: they are not part of the JSON contract
        for method in sorted((route.methods or set()) - {"HEAD"}):
            m = method.lower()
            doc = _DOCS.get((m, route.path), {})
            summary = doc.get("summary") or (route.endpoint.__doc__ or route.name).strip().splitlines()[0]
            op: dict[str, Any] = {"summary": summary, "operationId": f"{m}_{route.name}_{len(paths)}"}
            params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                      for n in re.findall(r"{(\w+)(?::\w+)?}", route.path)]
            params += [{"name": n, "in": "query", "required": False, "schema": s}
                       for n, s in doc.get("query", {}).items()]
            if params:
                op["parameters"] = params
            if doc.get("request"):
                op["requestBody"] = {"required": True,
                                     "content": {"application/json": {"schema": doc["request"]}}}
            ok: dict[str, Any] = {"description": "Success"}
            if doc.get("response"):
                ok["content"] = {"application/json": {"schema": doc["response"]}}
            op["responses"] = {
                str(doc.get("status", 200)): ok,
                "4XX": {"description": "The request was wrong", "content": {"application/json": {"schema": ERROR}}},
                "5XX": {"description": "The service cannot answer now",
                        "content": {"application/json": {"schema": ERROR}}},
            }
            if doc.get("auth") == "key":
                op["security"] = [{"apiKey": []}]
            elif doc.get("auth") == "session":
                op["security"] = [{"session": []}]
            paths.setdefault(re.sub(r"{(\w+):\w+}", r"{\1}", route.path), {})[m] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "authz: access to data products", "version": __version__},
        "paths": paths,
        "components": {"securitySchemes": {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "Service API key (authz service-key)"},
            "session": {"type": "apiKey", "in": "cookie", "name": "authz_session"},
        }},
    }


def undescribed(routes: list[Any]) -> list[str]:
    """Routes that have no :func:`describe` (used by a test)."""
    out = []
    for route in routes:
        if isinstance(route, Route) and route.path != "/openapi.json" and route.include_in_schema:
            out += [f"{m} {route.path}" for m in sorted((route.methods or set()) - {"HEAD"})
                    if (m.lower(), route.path) not in _DOCS]
    return out


async def endpoint(request: Request) -> JSONResponse:
    return JSONResponse(build(request.app.routes))
