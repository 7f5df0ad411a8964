"""Reading a policy file: YAML to a :class:`PolicyState`, every problem named with the file, line and reason.

The YAML is read with no implicit numbers or dates (a KvK number keeps its leading zeros, a day stays the text the
file holds) and with duplicate keys refused. :func:`parse` checks shape, values, duplicates and references, and
collects every problem before failing; :mod:`authz.policyfile.rules` then checks R2 and R4 over the whole file.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import yaml

from authz import values
from authz.domain.state import Acct, Contr, GrantRec, Mand, Org, PolicyState, Prod
from authz.domain.window import well_formed
from authz.errors import Invalid

KVK_RE = re.compile(r"[0-9]{8}")
CODE_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
STATUSES = ("approved", "active", "inactive")
ORG_STATUSES = ("verified", "pending")
ROLES = ("beheerder", "operator")
_DROPPED = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")
# The free texts of a file, read by the parser the API and the portal use (authz.values.text), with their limits:
# a NUL would reach the database (which refuses it: the import crashed), a CR LF or U+2028 in a name would forge a
# line of an e-mail that quotes it.
NAME = values.text(200)
ACCOUNT_NAME = values.text(200, 0)
DESCRIPTION = values.text(5000, 0, lines=True)
ACTOR = values.text(254)  # a grant's 'granted_by': an address or 'import:FILE'


@dataclass(frozen=True, order=True)
class Problem:
    line: int
    message: str
    path: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class PolicyFileError(Exception):
    """A policy file that cannot be used; ``problems`` names each one with its line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(map(str, self.problems)))


class _Map(dict[str, Any]):
    line: int = 0


class _Loader(yaml.SafeLoader):
    """Safe YAML without implicit ints, floats and dates; mappings remember their line and refuse duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        out = _Map({str(k): v for k, v in super().construct_mapping(node, deep=True).items()})
        out.line = node.start_mark.line + 1
        return out


def _map(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor("tag:yaml.org,2002:map", _map)
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class Parsed:
    """A file's state, the line of each entry, and the grants that carry no provenance (stamped on import)."""

    state: PolicyState
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)
    unstamped: set[tuple[str, str, str]] = field(default_factory=set)


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def bad(self, line: int, message: str) -> None:
        self.problems.append(Problem(line, message, self.path))

    def entry(self, raw: Any, line: int, what: str, required: tuple[str, ...], optional: tuple[str, ...]
              ) -> _Map | None:
        if not isinstance(raw, _Map):
            self.bad(line, f"each {what} must be a mapping")
            return None
        unknown = sorted(set(raw) - set(required) - set(optional))
        if unknown:
            self.bad(raw.line, f"unknown key(s) in {what}: {', '.join(map(str, unknown))}")
        missing = [k for k in required if raw.get(k) is None]
        if missing:
            self.bad(raw.line, f"{what} lacks {', '.join(missing)}")
            return None
        return raw

    def text(self, m: _Map, key: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
        value = m.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
            self.bad(m.line, f"'{key}' must be {what or 'text'}, not {value!r}")
            return None
        return value

    def free(self, m: _Map, key: str, parse: Callable[[Any, str], str]) -> str | None:
        """A free text by :mod:`authz.values`' parser (trimmed, length-bound, no control characters); a refusal
        names the line and the reason."""
        value = m.get(key)
        if value is None:
            return None
        try:
            return parse(value, key)
        except Invalid as exc:
            shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
            self.bad(m.line, f"{exc.message.rstrip('.')}, not {shown}")
            return None

    def day(self, m: _Map, key: str) -> date | None:
        value = m.get(key)
        if value is None:
            return None
        text = str(value)
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            with contextlib.suppress(ValueError):
                return date.fromisoformat(text)
        self.bad(m.line, f"'{key}' must be an ISO day (YYYY-MM-DD), not {value!r}")
        return None

    def texts(self, m: _Map, key: str, pattern: re.Pattern[str] | None = None, what: str = "") -> list[str] | None:
        value = m.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(m.line, f"'{key}' must be a list of {what or 'texts'}")
            return None
        wrong = [v for v in value if pattern is not None and not pattern.fullmatch(v)]
        if wrong:
            self.bad(m.line, f"'{key}' holds what is not {what}: {', '.join(wrong)}")
        if len(set(value)) != len(value):
            self.bad(m.line, f"'{key}' lists an entry twice")
        return [v for v in value if v not in wrong]

    def listing(self, doc: _Map, key: str) -> list[tuple[Any, int]]:
        value = doc.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.bad(doc.line, f"'{key}' must be a list")
            return []
        return [(v, v.line if isinstance(v, _Map) else doc.line) for v in value]


def _once(r: _Reader, seen: dict[tuple[str, ...], int], key: tuple[str, ...], line: int, what: str) -> bool:
    if key in seen:
        r.bad(line, f"duplicate {what} (first on line {seen[key]})")
        return False
    seen[key] = line
    return True


def parse(text: str, path: str = "<policy>") -> Parsed:
    """The state a policy file describes; :class:`PolicyFileError` listing every problem when it is unusable."""
    r = _Reader(path)
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise PolicyFileError([Problem(mark.line + 1 if mark else 1,
                                       f"malformed YAML: {exc.problem or exc.context}", path)]) from None
    except yaml.YAMLError as exc:
        raise PolicyFileError([Problem(1, f"malformed YAML: {exc}", path)]) from None
    if not isinstance(doc, _Map):
        raise PolicyFileError([Problem(1, "a policy file is a mapping (organisations, products, …)", path)])
    out = Parsed(PolicyState())
    st, seen = out.state, out.lines
    known = ("format", "scope", "organisations", "products", "contracts", "mandates", "accounts")
    r.entry(doc, 1, "the file", (), known)
    if str(doc.get("format", "1")) != "1":
        r.bad(doc.line, f"unknown format {doc.get('format')!r}; this version reads format 1")
    scope = doc.get("scope", "all")
    if scope != "all" and not (isinstance(scope, str) and KVK_RE.fullmatch(scope)):
        r.bad(doc.line, f"'scope' must be 'all' or a KvK number, not {scope!r}")
    st.scope = scope if scope != "all" and isinstance(scope, str) else None

    for raw, line in r.listing(doc, "organisations"):
        m = r.entry(raw, line, "organisation", ("kvk", "name"), ("status", "domains"))
        if m is None:
            continue
        kvk, name = r.text(m, "kvk", KVK_RE, "a KvK number of 8 digits"), r.free(m, "name", NAME)
        status = r.text(m, "status") or "verified"
        if status not in ORG_STATUSES:
            r.bad(m.line, f"'status' must be one of {', '.join(ORG_STATUSES)}, not {status!r}")
        domains = r.texts(m, "domains") or []
        try:
            domains = values.domains(domains, "domains")
        except Invalid as exc:
            r.bad(m.line, exc.message.rstrip("."))
        if kvk and name is not None and _once(r, seen, ("org", kvk), m.line, f"organisation {kvk}"):
            st.orgs[kvk] = Org(kvk, name, status, tuple(domains))

    for raw, line in r.listing(doc, "products"):
        m = r.entry(raw, line, "product", ("code", "name"), ("description",))
        if m is None:
            continue
        code, name = r.text(m, "code", CODE_RE, "a product code"), r.free(m, "name", NAME)
        description = r.free(m, "description", DESCRIPTION)
        if code and name is not None and _once(r, seen, ("product", code), m.line, f"product {code}"):
            st.products[code] = Prod(code, name, description or "")

    def org_ref(m: _Map, key: str) -> str | None:
        kvk = r.text(m, key, KVK_RE, "a KvK number of 8 digits")
        if kvk is not None and kvk not in st.orgs:
            r.bad(m.line, f"unknown organisation {kvk} ('{key}'): not among the file's organisations")
            return None
        return kvk

    def product_ref(m: _Map, key: str, code: str | None) -> str | None:
        if code is not None and code not in st.products:
            r.bad(m.line, f"unknown product '{code}' ('{key}'): not among the file's products")
            return None
        return code

    def window(m: _Map) -> tuple[date | None, date | None, bool]:
        start, end = r.day(m, "valid_from"), r.day(m, "valid_until")
        if start is not None and not well_formed(start, end):
            r.bad(m.line, "'valid_until' lies before 'valid_from'")
            return start, end, False
        return start, end, start is not None

    for raw, line in r.listing(doc, "contracts"):
        m = r.entry(raw, line, "contract", ("afnemer", "product", "valid_from"), ("valid_until",))
        if m is None:
            continue
        afnemer, product = org_ref(m, "afnemer"), product_ref(m, "product", r.text(m, "product", CODE_RE, "a code"))
        start, end, ok = window(m)
        if afnemer and product and ok and start and _once(r, seen, ("contract", afnemer, product), m.line,
                                                          f"contract {afnemer}/{product}"):
            st.contracts[(afnemer, product)] = Contr(afnemer, product, start, end)

    for raw, line in r.listing(doc, "mandates"):
        m = r.entry(raw, line, "mandate", ("afnemer", "intermediair", "valid_from"), ("valid_until", "products"))
        if m is None:
            continue
        afnemer, intermediair = org_ref(m, "afnemer"), org_ref(m, "intermediair")
        codes = r.texts(m, "products", CODE_RE, "product codes")
        if codes is not None:
            codes = [c for c in codes if product_ref(m, "products", c)]
        start, end, ok = window(m)
        if afnemer is not None and afnemer == intermediair:
            r.bad(m.line, "an organisation needs no mandate from itself")
        elif afnemer and intermediair and ok and start and _once(
                r, seen, ("mandate", afnemer, intermediair), m.line, f"mandate {afnemer}/{intermediair}"):
            st.mandates[(afnemer, intermediair)] = Mand(afnemer, intermediair, start, end,
                                                        tuple(sorted(codes)) if codes is not None else None)

    for raw, line in r.listing(doc, "accounts"):
        m = r.entry(raw, line, "account", ("email", "status"), ("name", "org", "roles", "grants"))
        if m is None:
            continue
        email = r.text(m, "email", EMAIL_RE, "an e-mail address")
        org = org_ref(m, "org") if m.get("org") is not None else None
        status = r.text(m, "status") or ""
        if status not in STATUSES:
            r.bad(m.line, f"'status' must be one of {', '.join(STATUSES)}, not {status!r}")
        roles = r.texts(m, "roles") or []
        for role in roles:
            if role not in ROLES or (role == "operator") != (m.get("org") is None):
                r.bad(m.line, f"role '{role}' is not possible here: 'beheerder' needs an organisation, "
                              f"'operator' has none")
        if not email or (m.get("org") is not None and org is None):
            continue
        try:
            email = values.email(email, "email")  # the canonical form the API and the portal give
        except Invalid:
            r.bad(m.line, f"'email' {email!r} is not an e-mail address in NFKC form")
            continue
        if not _once(r, seen, ("account", email), m.line, f"account {email}"):
            continue
        st.accounts[email] = Acct(email, r.free(m, "name", ACCOUNT_NAME) or "", org, status,
                                  tuple(sorted(set(roles))))
        for graw, gline in r.listing(m, "grants"):
            g = r.entry(graw, gline, "grant", ("afnemer", "product"), ("granted_by", "granted_at"))
            if g is None:
                continue
            afnemer = org_ref(g, "afnemer")
            product = product_ref(g, "product", r.text(g, "product", CODE_RE, "a product code"))
            by, at = r.free(g, "granted_by", ACTOR), _instant(r, g)
            if not (afnemer and product) or not _once(r, seen, ("grant", email, afnemer, product), g.line,
                                                      f"grant of {product} for {afnemer} to {email}"):
                continue
            if by is None or at is None:
                out.unstamped.add((email, afnemer, product))
            st.grants[(email, afnemer, product)] = GrantRec(by or "", at or datetime.min)
    if r.problems:
        raise PolicyFileError(r.problems)
    return out


def _instant(r: _Reader, g: _Map) -> datetime | None:
    raw = g.get("granted_at")
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(str(raw))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        r.bad(g.line, f"'granted_at' must be an ISO instant with a time zone (…Z), not {raw!r}")
        return None
    return at
