"""Change events: what one committed revision changed, as every instance's decider applies it.

One frozen dataclass per kind of change the store makes, and one codec for every place an event travels: the SQL
change log (:meth:`authz.store.db.Database.changes_since`), the signed announcement on Redis (:mod:`authz.bus`) and
the events an instance keeps to announce. No I/O here.

On the wire an event is a JSON object ``{"t": kind, field: value, ...}``: days as ISO dates, product codes as
lists. Two kinds share a tag with the change they end, told apart by a fixed field (a contract or mandate with
``"valid_from": null`` ended; a key with ``"active": false`` was revoked), as the change log has always held them.
:func:`decode` refuses an unknown kind, a missing, extra or mistyped field with :class:`MalformedEvent`: whoever
meets one reads the tables again (a reload) instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, ClassVar, get_args, get_type_hints


class MalformedEvent(ValueError):
    """A value that is not an event this version knows."""


@dataclass(frozen=True, slots=True)
class AccountChanged:
    """An account was created, or its status or roles changed (roles do not change decisions)."""

    TAG: ClassVar[str] = "account"
    email: str
    org: str | None
    status: str


@dataclass(frozen=True, slots=True)
class GrantsReplaced:
    """The products ``email`` may view for ``afnemer`` are now exactly ``products``."""

    TAG: ClassVar[str] = "grants"
    email: str
    afnemer: str
    products: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ContractPut:
    TAG: ClassVar[str] = "contract"
    afnemer: str
    product: str
    valid_from: date
    valid_until: date | None


@dataclass(frozen=True, slots=True)
class ContractEnded:
    TAG: ClassVar[str] = "contract"
    MARK: ClassVar[dict[str, Any]] = {"valid_from": None}
    afnemer: str
    product: str


@dataclass(frozen=True, slots=True)
class MandatePut:
    """``products`` None: the mandate covers every product."""

    TAG: ClassVar[str] = "mandate"
    afnemer: str
    intermediair: str
    valid_from: date
    valid_until: date | None
    products: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class MandateEnded:
    TAG: ClassVar[str] = "mandate"
    MARK: ClassVar[dict[str, Any]] = {"valid_from": None}
    afnemer: str
    intermediair: str


@dataclass(frozen=True, slots=True)
class ProductCreated:
    TAG: ClassVar[str] = "product"
    code: str


@dataclass(frozen=True, slots=True)
class OrganisationNamed:
    """An organisation was created or verified, under ``name``."""

    TAG: ClassVar[str] = "org"
    kvk: str
    name: str


@dataclass(frozen=True, slots=True)
class KeyIssued:
    """``hash`` is the SHA-256 of the key (hex); the key itself is never stored."""

    TAG: ClassVar[str] = "key"
    MARK: ClassVar[dict[str, Any]] = {"active": True}
    hash: str
    name: str


@dataclass(frozen=True, slots=True)
class KeyRevoked:
    TAG: ClassVar[str] = "key"
    MARK: ClassVar[dict[str, Any]] = {"active": False}
    hash: str
    name: str


@dataclass(frozen=True, slots=True)
class Reload:
    """Too much changed to apply in place (a bulk load): every instance reads the tables again."""

    TAG: ClassVar[str] = "reload"


Event = (AccountChanged | GrantsReplaced | ContractPut | ContractEnded | MandatePut | MandateEnded | ProductCreated
         | OrganisationNamed | KeyIssued | KeyRevoked | Reload)
KINDS: tuple[type[Event], ...] = get_args(Event)


# -- the codec -------------------------------------------------------------------------------------------------------

def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise MalformedEvent(f"expected a string, got {type(value).__name__}")
    return value


def _day(value: Any) -> date:
    try:
        day = date.fromisoformat(_text(value))
    except ValueError as exc:
        raise MalformedEvent(f"expected an ISO date, got {value!r}") from exc
    if day.isoformat() != value:  # one spelling per day: '20260101' and the like are refused
        raise MalformedEvent(f"expected an ISO date, got {value!r}")
    return day


def _codes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise MalformedEvent(f"expected a list of strings, got {type(value).__name__}")
    return tuple(_text(v) for v in value)


def _or_none(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else parse(value)


# Each field type: (from the wire, to the wire).
_TYPES: dict[Any, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    str: (_text, str),
    str | None: (_or_none(_text), lambda v: v),
    date: (_day, date.isoformat),
    date | None: (_or_none(_day), lambda v: v.isoformat() if v is not None else None),
    tuple[str, ...]: (_codes, list),
    tuple[str, ...] | None: (_or_none(_codes), lambda v: list(v) if v is not None else None),
}


@dataclass(frozen=True, slots=True)
class _Shape:
    kind: type[Event]
    mark: dict[str, Any]
    parts: tuple[tuple[str, Callable[[Any], Any], Callable[[Any], Any]], ...]  # (field, from wire, to wire)
    keys: frozenset[str]  # every key of its wire form


def _shape(kind: type[Event]) -> _Shape:
    hints = get_type_hints(kind)
    mark: dict[str, Any] = getattr(kind, "MARK", {})
    parts = tuple((f.name, *_TYPES[hints[f.name]]) for f in fields(kind))
    return _Shape(kind, mark, parts, frozenset({"t", *mark, *(name for name, _, _ in parts)}))


_SHAPES = {kind: _shape(kind) for kind in KINDS}
# Per tag, the kinds that share it: those with a mark first, so that an unmarked one is what remains.
_BY_TAG: dict[str, list[_Shape]] = {}
for _shaped in sorted(_SHAPES.values(), key=lambda s: not s.mark):
    _BY_TAG.setdefault(_shaped.kind.TAG, []).append(_shaped)


def encode(event: Event) -> dict[str, Any]:
    """``event`` as a JSON-able object."""
    shape = _SHAPES[type(event)]
    return {"t": shape.kind.TAG, **{name: out(getattr(event, name)) for name, _, out in shape.parts}, **shape.mark}


def decode(value: Any) -> Event:
    """The event ``value`` (a decoded JSON object) encodes; :class:`MalformedEvent` when it encodes none."""
    if not isinstance(value, dict):
        raise MalformedEvent(f"an event is an object, not {type(value).__name__}")
    tag = value.get("t")
    if not isinstance(tag, str) or tag not in _BY_TAG:
        raise MalformedEvent(f"unknown kind of event {tag!r}")
    # A mark is None, True or False, as JSON decodes them: compared by identity, so that 1 is not True.
    shape = next((s for s in _BY_TAG[tag] if all(value.get(k, ...) is v for k, v in s.mark.items())), None)
    if shape is None:
        raise MalformedEvent(f"{tag!r} event: expected one of the forms {[s.mark for s in _BY_TAG[tag]]}")
    if value.keys() != shape.keys:
        missing, extra = sorted(shape.keys - value.keys()), sorted(value.keys() - shape.keys)
        raise MalformedEvent(f"{shape.kind.__name__} event: missing {missing}, unexpected {extra}")
    data = {}
    for name, parse, _ in shape.parts:
        try:
            data[name] = parse(value[name])
        except MalformedEvent as exc:
            raise MalformedEvent(f"{shape.kind.__name__} event, field {name!r}: {exc}") from None
    return shape.kind(**data)


def encode_all(events: Iterable[Event]) -> list[dict[str, Any]]:
    return [encode(e) for e in events]


def decode_all(value: Any) -> list[Event]:
    """The events of one revision, from a decoded JSON list."""
    if not isinstance(value, list):
        raise MalformedEvent(f"a revision's events are a list, not {type(value).__name__}")
    return [decode(v) for v in value]
