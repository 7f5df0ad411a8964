"""What use cases return: one page of a listing with the cursor of the next, or a change's answer with the revision
that holds it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursor: str | None  # None on the last page


def page(found: list[T], limit: int, key: Callable[[T], object]) -> Page[T]:
    """The page in ``found``, read with ``limit + 1`` rows: the one past the limit only says a next page exists."""
    items = found[:limit]
    return Page(items, str(key(items[-1])) if len(found) > limit else None)


@dataclass(frozen=True)
class Done:
    answer: dict[str, Any]
    revision: int
