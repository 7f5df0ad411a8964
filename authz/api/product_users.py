"""Who may view a product, page by page: the query of ``GET /v1/products/{code}/users`` and its cursor, shared by
the live answer (:func:`authz.api.decisions.product_users`) and the answer at a moment
(:func:`authz.api.review.product_users_at`)."""

from __future__ import annotations

import base64

import orjson

from authz.api import shapes
from authz.api.shapes import Query
from authz.errors import Invalid
from authz.policyfile import review


def cursor_decode(raw: str) -> tuple[str, str]:
    try:
        user, afnemer = orjson.loads(base64.urlsafe_b64decode(raw.encode() + b"=="))
        return str(user), str(afnemer)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise Invalid("invalid_cursor", "The cursor is not one this service gave out.") from None


def cursor_encode(user: str, afnemer: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([user, afnemer])).decode().rstrip("=")


_LIMIT = shapes.limit(100, 1000)
_CURSOR = shapes.cursor(cursor_decode)
PRODUCT_USERS = Query(afnemer=shapes.KVK_PARAM, limit=_LIMIT, cursor=_CURSOR)
# The same question at a moment (authz.api.review.product_users_at): a day, or an instant with its time zone.
PRODUCT_USERS_AT = Query(
    afnemer=shapes.KVK_PARAM,
    at=shapes.custom(review.moment, {"type": "string", "description": "an ISO day (as that day closed) or an "
                                                                      "instant with its time zone"},
                     "invalid_date", "invalid_field").optional(nullable=False),
    limit=_LIMIT, cursor=_CURSOR)
