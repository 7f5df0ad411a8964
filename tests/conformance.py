"""Every JSON answer the suite receives is held against the OpenAPI document: the status is declared and the body
fits that status's schema.

``conftest.client`` hangs :func:`hook` on its responses, so each test that talks to the JSON API also checks the
contract (``make fuzz`` does the same from outside, with generated requests; this catches a drift on the paths the
tests walk, in ``make test``). The HTML pages and the routes that are not an ``Operation`` are left alone.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from starlette.routing import Match

from authz.api.openapi import Operation
from authz.app import all_routes


class Undeclared(AssertionError):
    """An answer the OpenAPI document does not describe."""


@cache
def _operations() -> tuple[Operation, ...]:
    return tuple(r for r in all_routes() if isinstance(r, Operation))


@cache
def _responses(operation_id: str) -> dict[str, Any]:
    """The operation's declared responses (described once: every answer of the suite is checked)."""
    op = next(o for o in _operations() if o.operation_id == operation_id)
    responses: dict[str, Any] = op.describe()["responses"]
    return responses


@cache
def _validator(operation_id: str, status: str) -> Draft202012Validator | None:
    schema = _responses(operation_id)[status].get("content", {}).get("application/json", {}).get("schema")
    return Draft202012Validator(schema) if schema is not None else None


def _operation(method: str, path: str) -> Operation | None:
    scope = {"type": "http", "method": method, "path": path}
    for op in _operations():
        if op.matches(scope)[0] is Match.FULL:
            return op
    return None


def check(method: str, path: str, status: int, content_type: str, body: bytes) -> None:
    """Raise :class:`Undeclared` when this answer does not fit the document."""
    op = _operation(method, path)
    if op is None:
        return
    declared = _responses(op.operation_id)
    key = str(status) if str(status) in declared else ("5XX" if status >= 500 else None)
    if key is None:
        raise Undeclared(f"{method} {path}: status {status} is not declared ({sorted(declared)})")
    validator = _validator(op.operation_id, key)
    if validator is None:
        return
    if not content_type.startswith("application/json"):
        raise Undeclared(f"{method} {path} {status}: content type {content_type!r}, the document says JSON")
    errors = sorted(validator.iter_errors(json.loads(body)), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(the body)"
        raise Undeclared(f"{method} {path} {status}: {where}: {first.message}")


def hook(response: Any) -> None:
    """An httpx response hook: check the answer (read in full first)."""
    response.read()
    request = response.request
    check(request.method, request.url.path, response.status_code, response.headers.get("content-type", ""),
          response.content)


def hooks() -> dict[str, list[Any]]:
    return {"response": [hook]}
