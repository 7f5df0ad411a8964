"""R1 for one grant, on the spans the decider keeps: how far a request gets, named by the reason codes of R1/R13.

:func:`stage` is the hot path of every /v1/check: it reads the span encoding of :mod:`authz.domain.window`
directly (an inlined :func:`~authz.domain.window.in_span` and :func:`~authz.domain.window.covers`, a call each
would cost a tenth of a check); ``tests/test_domain.py`` proves it equal to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """Why a decision answered as it did: every reason a :class:`authz.decider.Decision` can carry, and so every
    one the decision log records."""

    GRANTED = "granted"
    UNKNOWN_USER = "unknown_user"
    INACTIVE_USER = "inactive_user"
    UNKNOWN_PRODUCT = "unknown_product"
    UNKNOWN_AFNEMER = "unknown_afnemer"  # a well-formed KvK number that names no organisation
    NO_GRANT = "no_grant"
    NO_CONTRACT = "no_contract"
    NO_MANDATE = "no_mandate"
    # The AuthZEN edge's denials of a question that names nothing this service decides on (authz/api/authzen.py):
    # the decider is never asked such a question, so it never answers these.
    UNSUPPORTED_ACTION = "unsupported_action"  # an action other than "view"
    UNKNOWN_SUBJECT_TYPE = "unknown_subject_type"  # a subject of another type than "user"
    UNKNOWN_RESOURCE_TYPE = "unknown_resource_type"  # a resource of another type than "product"


# Module constants: the hot path reads them without an attribute lookup on the enum class.
_GRANTED, _NO_CONTRACT, _NO_MANDATE = Reason.GRANTED, Reason.NO_CONTRACT, Reason.NO_MANDATE


def stage(contract: Sequence[int], mandate: Sequence[Any] | None, product: str, today: int) -> Reason:
    """How far a grant of ``product`` gets through R1 on day ordinal ``today``: the afnemer's contract (a span),
    then, for an account of another organisation, the mandate (a span followed by its products, None for all).
    ``mandate`` None: the account's own organisation is the afnemer."""
    if not contract[0] <= today <= contract[1]:
        return _NO_CONTRACT
    if mandate is None:
        return _GRANTED
    if not mandate[0] <= today <= mandate[1] or (mandate[2] is not None and product not in mandate[2]):
        return _NO_MANDATE
    return _GRANTED
