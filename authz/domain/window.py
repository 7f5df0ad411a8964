"""The validity window of a contract or mandate, and what a mandate covers.

A window runs from ``valid_from`` to ``valid_until``, both days inclusive (Europe/Amsterdam); ``valid_until`` None
means open-ended. Its encoding for speed is a :data:`Span` of day ordinals, which the decider keeps per contract and
mandate: :func:`span` makes one, :func:`in_span` is the rule on it, and every other test of a window goes through
them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, timedelta

from authz.errors import Invalid

# (first day, last day) as ordinals, both inclusive; a span may carry more (a mandate's products) after the two days.
Span = tuple[int, int]
OPEN_END = date.max.toordinal()  # the last day of an open-ended window
LAPSED: Span = (1, 0)  # the span of a contract or mandate that does not (or no longer) exist: contains no day


def span(valid_from: date | str, valid_until: date | str | None) -> Span:
    """The span of a window given as days or ISO day texts."""
    start = date.fromisoformat(valid_from) if isinstance(valid_from, str) else valid_from
    end = date.fromisoformat(valid_until) if isinstance(valid_until, str) else valid_until
    return start.toordinal(), end.toordinal() if end else OPEN_END


def in_span(s: Sequence[int], day: int) -> bool:
    """Whether the day with ordinal ``day`` lies inside span ``s``."""
    return s[0] <= day <= s[1]


def holds(valid_from: date, valid_until: date | None, day: date) -> bool:
    """Whether a contract or mandate with this window is valid on ``day``."""
    return in_span(span(valid_from, valid_until), day.toordinal())


def covers(products: Collection[str] | None, product: str) -> bool:
    """Whether a mandate with product subset ``products`` covers ``product`` (None: every product of the afnemer)."""
    return products is None or product in products


def well_formed(valid_from: date, valid_until: date | None) -> bool:
    """Whether a window does not end before it starts."""
    return valid_until is None or valid_from <= valid_until


def check_dates(valid_from: date, valid_until: date | None) -> None:
    """:func:`well_formed`, or 422 ``invalid_dates``."""
    if not well_formed(valid_from, valid_until):
        raise Invalid("invalid_dates", "'valid_until' lies before 'valid_from'.", field="valid_until")


def ended(valid_from: date, today: date) -> tuple[date, date]:
    """The window of a contract or mandate ended at once on ``today``: its last day becomes yesterday, so it holds on
    no day from today on. One that had not begun before today (it started today, or was to start later) starts
    yesterday as well, for its window to stay well-formed; that day lies in the past, where nothing is decided any
    more, and the audit trail keeps the days it really had."""
    yesterday = today - timedelta(days=1)
    return min(valid_from, yesterday), yesterday
