"""The decision tables (``*_test.yaml`` beside the policies): a small world and the answers expected in it.

A table holds a world (organisations, products, contracts, mandates, accounts, grants) and rows of expected
answers: ``user × product × afnemer (optional) × day → allowed + reason`` for R1, and ``user × scope × action →
allowed`` for R2 and the operator. :mod:`authz.policy_tools` runs them.

Tables are read with YAML's base loader: every value is text, so KvK numbers keep their leading zeros and dates
stay ISO days; this module parses and checks each field and names the file, row and line of anything malformed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from authz import policy
from authz.clock import FrozenClock
from authz.decider import Decider, Snapshot

REASONS = ("granted", "unknown_user", "inactive_user", "unknown_product", "unknown_afnemer", "no_grant", "no_contract",
           "no_mandate")
STATUSES = ("approved", "active", "inactive")
ROLES = ("beheerder", "operator")
_KVK = re.compile(r"[0-9]{8}")
_CODE = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
_LINE = "__line__"


class TableError(Exception):
    """A malformed table: which file, where, what."""

    def __init__(self, path: Path, where: str, message: str) -> None:
        super().__init__(f"{path}: {where}: {message}")


class _Loader(yaml.BaseLoader):
    """YAML's base loader (all scalars are text), remembering the line of each mapping for error messages."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = dict(super().construct_mapping(node, deep=deep))
        mapping[_LINE] = node.start_mark.line + 1
        return mapping


@dataclass(frozen=True)
class Row:
    kind: str  # decision | permission
    number: int  # 1-based, within its kind
    line: int
    values: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.kind} row {self.number} (line {self.line})"


@dataclass
class Table:
    path: Path
    orgs: dict[str, str] = field(default_factory=dict)
    products: dict[str, str] = field(default_factory=dict)
    contracts: list[tuple[str, str, date, date | None]] = field(default_factory=list)
    mandates: list[tuple[str, str, date, date | None, list[str] | None]] = field(default_factory=list)
    accounts: dict[str, tuple[str | None, str, tuple[str, ...]]] = field(default_factory=dict)  # org, status, roles
    grants: list[tuple[str, str, str]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def lines(self) -> list[policy.Line]:
        """The world as Casbin lines, made by the same functions that write ``casbin_rule``."""
        out: list[policy.Line] = []
        for email, (org, status, roles) in self.accounts.items():
            out += policy.account_lines(email, org, status, roles)
        out += [policy.grant_line(*g) for g in self.grants]
        out += [policy.contract_line(*c) for c in self.contracts]
        for a, i, f, u, ps in self.mandates:
            out += policy.mandate_lines(a, i, ps, f, u)
        return out

    def snapshot(self) -> Snapshot:
        return Snapshot(revision=0, orgs=dict(self.orgs), products=set(self.products),
                        accounts=[(e, o, s) for e, (o, s, _) in self.accounts.items()], grants=list(self.grants),
                        contracts=list(self.contracts), mandates=list(self.mandates))

    @cached_property
    def reference(self) -> policy.Reference:
        return policy.Reference(self.lines())

    @cached_property
    def clock(self) -> FrozenClock:
        return FrozenClock(datetime(2026, 1, 1, 12, tzinfo=UTC))  # moved to each row's day

    @cached_property
    def decider(self) -> Decider:
        d = Decider(self.clock)
        d.load(self.snapshot())
        return d


# -- reading a table -----------------------------------------------------------------------------------------------

class _Reader:
    """Field checks for one mapping of a table; every complaint names the file and the place."""

    def __init__(self, path: Path, where: str, values: Any, spec: dict[str, bool]) -> None:
        self.path, self.where = path, where
        if not isinstance(values, dict):
            self.fail("expected a mapping of fields")
        self.values: dict[str, Any] = values
        unknown = sorted(set(values) - set(spec) - {_LINE})
        if unknown:
            self.fail(f"unknown field(s): {', '.join(unknown)}")
        missing = sorted(name for name, required in spec.items() if required and name not in values)
        if missing:
            self.fail(f"missing field(s): {', '.join(missing)}")

    def fail(self, message: str) -> None:
        raise TableError(self.path, self.where, message)

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name, default)
        if value is not None and not isinstance(value, str):
            self.fail(f"'{name}' must be a single value")
        return value

    def pattern(self, name: str, regex: re.Pattern[str], what: str, default: str | None = None) -> str | None:
        value = self.text(name, default)
        if value is not None and not regex.fullmatch(value):
            self.fail(f"'{name}' must be {what}, not {value!r}")
        return value

    def kvk(self, name: str) -> str | None:
        return self.pattern(name, _KVK, "a KvK number of 8 digits")

    def code(self, name: str) -> str | None:
        return self.pattern(name, _CODE, "a product code")

    def email(self, name: str) -> str:
        value = self.text(name)
        if value is None or "@" not in value or value != value.strip().lower():
            self.fail(f"'{name}' must be a lower-case e-mail address, not {value!r}")
        return str(value)

    def day(self, name: str, default: str | None = None) -> date | None:
        value = self.text(name, default)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"'{name}' must be an ISO day (YYYY-MM-DD), not {value!r}")
            raise

    def choice(self, name: str, options: Sequence[str], default: str | None = None) -> str | None:
        value = self.text(name, default)
        if value is not None and value not in options:
            self.fail(f"'{name}' must be one of {', '.join(options)}, not {value!r}")
        return value

    def boolean(self, name: str) -> bool:
        return self.choice(name, ("true", "false")) == "true"

    def codes(self, name: str) -> list[str] | None:
        value = self.values.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and _CODE.fullmatch(v) for v in value):
            self.fail(f"'{name}' must be a list of product codes")
        return list(value)


def _items(path: Path, doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise TableError(path, key, "must be a list")
    return value


def load_table(path: Path) -> Table:
    """Read and check one table; :class:`TableError` names the file and the place of the first problem."""
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - the base loader builds no objects
    except (OSError, yaml.YAMLError) as exc:
        raise TableError(path, "file", f"cannot be read as YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise TableError(path, "file", "must be a mapping with 'world', 'decisions' and 'permissions'")
    top = _Reader(path, "top level", doc, {"world": True, "day": False, "decisions": False, "permissions": False,
                                            "description": False})
    default_day = top.text("day")
    world = doc["world"]
    parts = ("organisations", "products", "contracts", "mandates", "accounts", "grants")
    _Reader(path, "world", world, dict.fromkeys(parts, False))
    t = Table(path)
    _world(path, t, world)
    for n, raw in enumerate(_items(path, doc, "decisions"), 1):
        t.rows.append(_decision(path, t, n, raw, default_day))
    for n, raw in enumerate(_items(path, doc, "permissions"), 1):
        t.rows.append(_permission(path, t, n, raw))
    return t


def _where(kind: str, n: int, raw: Any) -> str:
    line = raw.get(_LINE, "?") if isinstance(raw, dict) else "?"
    return f"{kind} {n} (line {line})"


def _world(path: Path, t: Table, world: dict[str, Any]) -> None:
    for n, raw in enumerate(_items(path, world, "organisations"), 1):
        r = _Reader(path, _where("organisation", n, raw), raw, {"kvk": True, "name": False})
        kvk = str(r.kvk("kvk"))
        t.orgs[kvk] = r.text("name") or f"Organisatie {kvk}"
    for n, raw in enumerate(_items(path, world, "products"), 1):
        r = _Reader(path, _where("product", n, raw), raw, {"code": True, "name": False})
        code = str(r.code("code"))
        t.products[code] = r.text("name") or code
    for n, raw in enumerate(_items(path, world, "contracts"), 1):
        r = _Reader(path, _where("contract", n, raw), raw,
                    {"afnemer": True, "product": True, "valid_from": True, "valid_until": False})
        afnemer, product = _org(r, t, "afnemer"), _product(r, t, "product")
        t.contracts.append((afnemer, product, _from(r), r.day("valid_until")))
    for n, raw in enumerate(_items(path, world, "mandates"), 1):
        r = _Reader(path, _where("mandate", n, raw), raw, {"afnemer": True, "intermediair": True, "products": False,
                                                          "valid_from": True, "valid_until": False})
        products = r.codes("products")
        for p in products or []:
            if p not in t.products:
                r.fail(f"product {p!r} is not in the world's products")
        t.mandates.append((_org(r, t, "afnemer"), _org(r, t, "intermediair"), _from(r), r.day("valid_until"),
                           products))
    for n, raw in enumerate(_items(path, world, "accounts"), 1):
        r = _Reader(path, _where("account", n, raw), raw, {"email": True, "org": False, "status": False,
                                                          "roles": False})
        roles = raw.get("roles", [])
        if not isinstance(roles, list) or not set(roles) <= set(ROLES):
            r.fail(f"'roles' must be a list of {', '.join(ROLES)}")
        org = _org(r, t, "org") if "org" in raw else None
        t.accounts[r.email("email")] = (org, str(r.choice("status", STATUSES, "active")), tuple(roles))
    for n, raw in enumerate(_items(path, world, "grants"), 1):
        r = _Reader(path, _where("grant", n, raw), raw, {"user": True, "afnemer": True, "products": True})
        user = r.email("user")
        if user not in t.accounts:
            r.fail(f"user {user!r} is not in the world's accounts")
        afnemer = _org(r, t, "afnemer")
        for p in r.codes("products") or []:
            if p not in t.products:
                r.fail(f"product {p!r} is not in the world's products")
            t.grants.append((user, afnemer, p))


def _org(r: _Reader, t: Table, name: str) -> str:
    kvk = str(r.kvk(name))
    if kvk not in t.orgs:
        r.fail(f"organisation {kvk} is not in the world's organisations")
    return kvk


def _product(r: _Reader, t: Table, name: str) -> str:
    code = str(r.code(name))
    if code not in t.products:
        r.fail(f"product {code!r} is not in the world's products")
    return code


def _from(r: _Reader) -> date:
    day = r.day("valid_from")
    assert day is not None  # required field
    return day


def _decision(path: Path, t: Table, n: int, raw: Any, default_day: str | None) -> Row:
    r = _Reader(path, _where("decision row", n, raw), raw, {
        "user": True, "product": True, "afnemer": False, "day": default_day is None, "allowed": True,
        "reason": True, "afnemers": False, "note": False})
    afnemer = str(r.kvk("afnemer")) if "afnemer" in raw else None  # one outside the world: unknown_afnemer (R13)
    afnemers = raw.get("afnemers")
    if afnemers is not None and (not isinstance(afnemers, list) or not all(v in t.orgs for v in afnemers)):
        r.fail("'afnemers' must be a list of the world's organisations")
    values = {"user": r.email("user"), "product": r.code("product"), "afnemer": afnemer,
              "day": r.day("day", default_day), "allowed": r.boolean("allowed"),
              "reason": r.choice("reason", REASONS), "afnemers": tuple(sorted(afnemers)) if afnemers else None,
              "note": r.text("note")}
    if values["allowed"] != (values["reason"] == "granted"):
        r.fail("'allowed: true' goes with 'reason: granted' only")
    return Row("decision", n, raw[_LINE], values)


def _permission(path: Path, t: Table, n: int, raw: Any) -> Row:
    r = _Reader(path, _where("permission row", n, raw), raw,
                {"user": True, "scope": True, "action": True, "allowed": True, "note": False})
    actions = {line[2] for line in policy.static_lines() if line[0] == "p2"}
    scope = r.text("scope")
    if scope != policy.OPERATOR_SCOPE:
        scope = _org(r, t, "scope")
    values = {"user": r.email("user"), "scope": scope, "action": r.choice("action", sorted(actions)),
              "allowed": r.boolean("allowed"), "note": r.text("note")}
    return Row("permission", n, raw[_LINE], values)
