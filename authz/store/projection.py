"""Keeps ``casbin_rule`` equal to the domain tables, inside the same transaction as the change.

The Casbin SQLAlchemy adapter cannot join a transaction and several of its writes are wrong (facts file), so the
rows are written here; the adapter only reads them (``authz.store.rules``). The line formats come from
:mod:`authz.policy`, the one place that knows the model.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, delete, insert, or_
from sqlalchemy.orm import Session

from authz.policy import Line
from authz.store.schema import CasbinRule

_COLUMNS = ("v0", "v1", "v2", "v3", "v4", "v5")


def _row(line: Line) -> dict[str, str | None]:
    if len(line) - 1 > len(_COLUMNS):
        raise ValueError(f"a Casbin line has at most {len(_COLUMNS)} values: {line}")
    row: dict[str, str | None] = {"ptype": line[0]}
    row.update({c: (line[i + 1] if i + 1 < len(line) else None) for i, c in enumerate(_COLUMNS)})
    return row


def add(s: Session, lines: Iterable[Line]) -> None:
    rows = [_row(line) for line in lines]
    if rows:
        s.execute(insert(CasbinRule), rows)


def remove(s: Session, lines: Iterable[Line]) -> None:
    """Delete exactly these lines (each matched on every column, unlike the adapter's remove_policies)."""
    conditions = []
    for line in lines:
        row = _row(line)
        conditions.append(and_(*[
            getattr(CasbinRule, col) == val if val is not None else getattr(CasbinRule, col).is_(None)
            for col, val in row.items()
        ]))
    if conditions:
        s.execute(delete(CasbinRule).where(or_(*conditions)))


def replace(s: Session, old: Iterable[Line], new: Iterable[Line]) -> None:
    old_set, new_set = set(old), set(new)
    remove(s, sorted(old_set - new_set))
    add(s, sorted(new_set - old_set))
