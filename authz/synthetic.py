"""Synthetic worlds for load tests and benchmarks: ``authz demo --grants N``.

Adds organisations (tens of thousands at a million grants; about one in forty an intermediair holding mandates),
products, contracts (some lapsed, some ending later), mandates (some covering a subset, some lapsed), accounts
(hundreds of thousands, one beheerder per organisation, a few inactive) and grants, until the database holds N
grants. Deterministic for a given seed and starting database.

Everything is written in ONE transaction through :mod:`authz.store.bulk`, domain tables and their ``casbin_rule``
lines alike, with one change event :class:`~authz.events.Reload` (running instances reload once) and the audit
records the use cases write for each fact (an organisation, product, contract, mandate or account created, an
account's grants for an afnemer replaced), so that the trail alone rebuilds the world (R12) as it does any other:
the point-in-time review and decisions as of an instant see it; one more record sums the load up.

Every synthetic account has the same password, :data:`SYNTHETIC_PASSWORD`: one argon2 hash is computed and
reused, because hashing 100 000s of passwords would take hours.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from itertools import groupby
from typing import Any, TextIO

from authz import policy
from authz.errors import Invalid
from authz.events import Reload
from authz.passwords import hash_password
from authz.store import bulk
from authz.store.db import Database, Tx
from authz.store.schema import Account, Audit, Contract, Grant, Mandate, Organisation, Product, Role

SYNTHETIC_PASSWORD = "synthetisch-wachtwoord-2026"  # noqa: S105 (published on purpose: test data only)
KVK_START = 80_000_000
GRANTS_PER_ORG = 40  # sizes the world: organisations = N / 40, about 8 accounts each, about 5 grants per account

_THEMES = {
    "polisadministratie": "Dienstverbanden, lonen en uitkeringen per werknemer uit de loonaangifte",
    "verzuimmeldingen": "Ziek- en herstelmeldingen van werknemers",
    "loongegevens": "Fiscaal loon, sv-loon en verloonde uren per aangiftetijdvak",
    "arbeidsongeschiktheid": "Lopende WIA- en WAO-uitkeringen met mate van arbeidsongeschiktheid",
    "werkgeversgegevens": "Loonheffingennummers, sectorindeling en premiepercentages",
    "uitkeringen": "Lopende WW-, ZW- en Wajong-uitkeringen van (ex-)werknemers",
    "dienstverbanden": "Begin en einde van dienstverbanden met aard van de arbeidsrelatie",
    "pensioengegevens": "Pensioengevend loon en deelname aan pensioenregelingen",
    "premiekortingen": "Toegekende premiekortingen en loonkostenvoordelen",
    "re-integratie": "Re-integratieverslagen en plannen van aanpak",
    "jaaropgaven": "Jaaropgaven per werknemer",
    "sectorindeling": "Sector- en risicopremiegroepen van de werkgever",
    "transitievergoedingen": "Betaalde transitievergoedingen en compensaties",
    "arbeidsverleden": "Arbeidsverleden voor de berekening van de WW-duur",
    "ziektewet": "Ziektewetdossiers van (ex-)werknemers",
    "inkomensverhoudingen": "Inkomstenverhoudingen per persoon en inhoudingsplichtige",
    "loonkostenvoordelen": "Berekende loonkostenvoordelen per werknemer",
    "cao-gegevens": "Toegepaste cao en cao-sector per dienstverband",
    "verlofregistratie": "Geregistreerd zwangerschaps-, geboorte- en ouderschapsverlof",
    "werkhervatting": "Gedeeltelijke werkhervattingen na ziekte",
}
PRODUCTS = {f"{theme}-{year}": (f"{theme.capitalize()} {year}", f"{text} over {year}.")
            for theme, text in _THEMES.items() for year in (2025, 2026)}

_KINDS = ("Bakkerij", "Transportbedrijf", "Installatiebedrijf", "Schildersbedrijf", "Zorggroep", "Kinderopvang",
          "Autobedrijf", "Hoveniersbedrijf", "Bouwbedrijf", "Drukkerij", "Slagerij", "Tandartspraktijk",
          "Groothandel", "Loonbedrijf", "Uitzendbureau", "Schoonmaakbedrijf", "Architectenbureau", "Makelaardij")
_INTERMEDIAIRS = ("Salarisadministratie", "Loonadministratiekantoor", "Administratiekantoor", "Payrollbureau")
_SURNAMES = ("De Vries", "Jansen", "Van den Berg", "Bakker", "Visser", "Smit", "Meijer", "De Boer", "Mulder",
             "De Groot", "Bos", "Vos", "Peters", "Hendriks", "Van Leeuwen", "Dekker", "Brouwer", "De Wit",
             "Dijkstra", "Smits", "De Graaf", "Van der Meer", "Kok", "Jacobs", "De Haan", "Vermeulen")
_FIRST = ("anna", "joost", "sanne", "pieter", "fatima", "daan", "lisa", "bram", "emma", "thijs", "noor", "ruben",
          "eva", "lars", "sophie", "mohammed", "julia", "sem", "fleur", "jan", "maria", "kees", "ingrid", "youssef")


class Progress:
    """A progress bar on a stream (stderr): redrawn in place on a terminal, a line per tenth otherwise."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.total, self.label, self.width = max(total, 1), label, width
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.started = time.perf_counter()
        self._drawn_at = 0.0
        self._tenth = -1
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, n: int) -> None:
        self.done = min(self.done + n, self.total)
        now = time.perf_counter()
        if self._tty and (now - self._drawn_at >= 0.1 or self.done == self.total):
            self._drawn_at = now
            self.stream.write("\r" + self._line())
            self.stream.flush()
        elif not self._tty and self.done * 10 // self.total > self._tenth:
            self._tenth = self.done * 10 // self.total
            self.stream.write(self._line() + "\n")

    def close(self) -> None:
        if self._tty:
            self.stream.write("\r" + self._line() + "\n")
        self.stream.flush()

    def _line(self) -> str:
        share = self.done / self.total
        bar = "#" * int(share * self.width)
        return (f"{self.label} [{bar:<{self.width}}] {share:4.0%} {self.done:,}/{self.total:,} rows "
                f"{time.perf_counter() - self.started:5.1f} s")


@dataclass
class SyntheticResult:
    organisations: int = 0
    products: int = 0
    contracts: int = 0
    mandates: int = 0
    accounts: int = 0
    grants: int = 0
    casbin_lines: int = 0
    seconds: float = 0.0
    revision: int = 0


@dataclass
class _Plan:
    orgs: list[tuple[str, str, bool]]  # kvk, name, intermediair
    contracts: dict[str, list[tuple[str, date, date | None]]]  # afnemer -> (product, from, until)
    mandates: list[tuple[str, str, date, date | None, list[str] | None]]  # afnemer, intermediair, ...
    accounts: list[tuple[str, str, str, bool]]  # email, name, org, beheerder   (status in statuses)
    statuses: list[str]
    grants: list[tuple[int, str, str]]  # account index, afnemer, product


def _window(rng: random.Random, today: date, lapse: float) -> tuple[date, date | None]:
    start = date(today.year - 2, 1, 1) + timedelta(days=rng.randint(0, 400))
    roll = rng.random()
    if roll < lapse:
        return start, max(start, today - timedelta(days=rng.randint(1, 200)))
    if roll < lapse + 0.1:
        return start, today + timedelta(days=rng.randint(30, 700))
    return start, None


def _plan(rng: random.Random, n: int, first_kvk: int, today: date) -> _Plan:
    n_orgs = max(12, n // GRANTS_PER_ORG)
    if first_kvk + n_orgs > 99_999_999:
        raise Invalid("too_many_organisations", "No KvK numbers left for synthetic organisations.")
    codes = sorted(PRODUCTS)
    orgs: list[tuple[str, str, bool]] = []
    for i in range(n_orgs):
        inter = i % 40 == 1
        kind = rng.choice(_INTERMEDIAIRS if inter else _KINDS)
        orgs.append((str(first_kvk + i), f"{kind} {rng.choice(_SURNAMES)} {rng.choice(('B.V.', '& Zn.', 'V.O.F.'))}",
                     inter))
    contracts = {kvk: [(p, *_window(rng, today, 0.04)) for p in rng.sample(codes, rng.randint(3, 12))]
                 for kvk, _, _ in orgs}
    afnemers = [kvk for kvk, _, inter in orgs if not inter]
    mandates: list[tuple[str, str, date, date | None, list[str] | None]] = []
    held: dict[str, list[tuple[str, list[str]]]] = {}  # intermediair -> (afnemer, products it may be granted)
    for kvk, _, inter in orgs:
        if not inter:
            continue
        for afnemer in rng.sample(afnemers, min(len(afnemers), rng.randint(5, 40))):
            contracted = [p for p, _, _ in contracts[afnemer]]
            subset = None if rng.random() < 0.5 else sorted(rng.sample(contracted, min(len(contracted),
                                                                                      rng.randint(1, 4))))
            mandates.append((afnemer, kvk, *_window(rng, today, 0.05), subset))
            held.setdefault(kvk, []).append((afnemer, contracted if subset is None else subset))
    plan = _Plan(orgs, contracts, mandates, [], [], [])
    _people(rng, plan, held, n)
    return plan


def _people(rng: random.Random, plan: _Plan, held: dict[str, list[tuple[str, list[str]]]], n: int) -> None:
    """Accounts, organisation by organisation (round after round), each with grants, until there are n grants."""
    own = {kvk: [p for p, _, _ in cs] for kvk, cs in plan.contracts.items()}
    visited: set[str] = set()
    while len(plan.grants) < n:
        for kvk, _, inter in plan.orgs:
            for _ in range(rng.randint(2, 14)):
                index = len(plan.accounts)
                first, last = rng.choice(_FIRST), rng.choice(_SURNAMES)
                email = f"{first}.{last.lower().replace(' ', '')}.{index}@k{kvk}.example"
                beheerder = kvk not in visited
                visited.add(kvk)
                plan.accounts.append((email, f"{first.capitalize()} {last}", kvk, beheerder))
                plan.statuses.append("active" if beheerder or rng.random() >= 0.03 else "inactive")
                targets = [(kvk, own[kvk])]
                if inter and held.get(kvk) and rng.random() < 0.8:
                    targets = rng.sample(held[kvk], min(len(held[kvk]), rng.randint(1, 3)))
                for afnemer, products in targets:
                    for p in rng.sample(products, rng.randint(1, min(len(products), 6))):
                        plan.grants.append((index, afnemer, p))
                if len(plan.grants) >= n:
                    del plan.grants[n:]
                    return


def load_synthetic(db: Database, n: int, seed: int = 1, stream: TextIO | None = None) -> SyntheticResult:
    """Add a synthetic world until the database holds ``n`` grants (nothing when it already holds that many)."""
    out = stream if stream is not None else sys.stderr
    started = time.perf_counter()
    result = SyntheticResult()
    with db.tx(actor="cli:demo") as t:
        bulk.prepare(t)
        want = n - bulk.grant_count(t)
        if want <= 0:
            out.write(f"the database already holds {n:,} grants or more; nothing added\n")
            return result
        highest = bulk.highest_kvk(t, str(KVK_START))
        first_kvk = int(highest) + 1 if highest is not None else KVK_START
        out.write(f"planning a synthetic world of {want:,} grants (seed {seed})...\n")
        rng = random.Random(seed)  # noqa: S311 (reproducible test data, not secrets)
        plan = _plan(rng, want, first_kvk, db.clock.today())
        _write(t, plan, bulk.product_codes(t), result, out)
        t.event(Reload())
        counts = {k: v for k, v in asdict(result).items() if k not in ("seconds", "revision")}
        t.audit("demo.synthetic", f"synthetic:seed={seed}", None, {**counts, "grants_wanted": n, "seed": seed})
    result.revision = t.revision
    result.seconds = round(time.perf_counter() - started, 1)
    out.write(f"added {result.grants:,} grants, {result.accounts:,} accounts, {result.organisations:,} "
              f"organisations, {result.contracts:,} contracts, {result.mandates:,} mandates and "
              f"{result.casbin_lines:,} casbin_rule lines in {result.seconds} s (revision {result.revision}).\n"
              f"Every synthetic account has the password '{SYNTHETIC_PASSWORD}'.\n")
    return result


def _write(t: Tx, plan: _Plan, existing_codes: set[str], r: SyntheticResult, out: TextIO) -> None:
    now = t.now
    first_id = bulk.next_account_id(t)
    password_hash = hash_password(SYNTHETIC_PASSWORD)  # one hash for all: see the module's docstring
    new_products = [c for c in sorted(PRODUCTS) if c not in existing_codes]
    contracts = [(a, p, f, u) for a, cs in plan.contracts.items() for p, f, u in cs]
    emails = [email for email, _, _, _ in plan.accounts]
    beheerders = sum(1 for _, _, _, b in plan.accounts if b)
    g3 = sum(len(ps) if ps is not None else 1 for _, _, _, _, ps in plan.mandates)
    active = plan.statuses.count("active")
    groups = _grant_groups(plan)
    saves = len(groups) + sum(1 for index, afnemer, _ in groups if plan.accounts[index][2] != afnemer)
    total = (2 * len(plan.orgs) + 2 * len(new_products) + 3 * len(contracts) + 3 * len(plan.mandates) + g3
             + 2 * len(plan.accounts) + 2 * beheerders + active + 2 * len(plan.grants) + saves)
    bar = Progress(total, "writing", out)
    tb = bulk.table
    r.organisations = bulk.write(t, tb(Organisation), ("kvk", "name", "status", "domains", "created_at"), (
        (kvk, name, "verified", [f"k{kvk}.example"], now) for kvk, name, _ in plan.orgs), bar.advance)
    r.products = bulk.write(t, tb(Product), ("code", "name", "description", "created_at"), (
        (c, *PRODUCTS[c], now) for c in new_products), bar.advance)
    r.contracts = bulk.write(t, tb(Contract), ("afnemer", "product", "valid_from", "valid_until", "updated_at"),
                             ((*c, now) for c in contracts), bar.advance)
    r.mandates = bulk.write(t, tb(Mandate), ("afnemer", "intermediair", "valid_from", "valid_until", "products",
                                             "updated_at"), ((*m, now) for m in plan.mandates), bar.advance)
    r.accounts = bulk.write(t, tb(Account), ("id", "email", "name", "org", "password_hash", "status",
                                             "grants_version", "created_at", "activated_at"), (
        (first_id + i, email, name, org, password_hash, status, 0, now, now if status == "active" else None)
        for i, ((email, name, org, _), status) in enumerate(zip(plan.accounts, plan.statuses, strict=True))),
        bar.advance)
    bulk.write(t, tb(Role), ("account_id", "role"), (
        (first_id + i, "beheerder") for i, (_, _, _, b) in enumerate(plan.accounts) if b), bar.advance)
    r.grants = bulk.write(t, tb(Grant), ("account_id", "afnemer", "product", "granted_by", "granted_at"), (
        (first_id + i, a, p, t.actor, now) for i, a, p in plan.grants), bar.advance)
    # Sorted: the (ptype, v0) index then grows at its end instead of everywhere (about a quarter faster on PostgreSQL).
    r.casbin_lines = bulk.write_lines(t, sorted(_lines(plan, contracts, emails)), bar.advance)
    revision = bulk.next_revision(t)
    bulk.write(t, tb(Audit), ("at", "actor", "on_behalf_of", "action", "subject", "before", "after", "revision"),
               ((now, t.actor, org, action, subject, before, after, revision)
                for org, action, subject, before, after in _audits(plan, new_products, contracts)), bar.advance)
    bulk.finish(t)
    bar.close()


def _grant_groups(plan: _Plan) -> list[tuple[int, str, list[str]]]:
    """The grants as the beheerders saved them: (account index, afnemer, products), one save per pair."""
    return [(index, afnemer, sorted(p for _, _, p in rows))
            for (index, afnemer), rows in groupby(plan.grants, key=lambda g: (g[0], g[1]))]


Record = tuple[str | None, str, str, Any, Any]  # on behalf of, action, subject, before, after


def _audits(plan: _Plan, new_products: list[str], contracts: list[tuple[str, str, date, date | None]]
            ) -> Iterator[Record]:
    """The records the use cases write for each fact (the views of :mod:`authz.store.catalogue`,
    :mod:`authz.store.accounts` and :mod:`authz.store.grants`; ``tests/test_demo.py`` proves that the trail
    replays to the tables)."""
    for kvk, name, _ in plan.orgs:
        yield kvk, "organisation.create", f"organisation:{kvk}", None, {
            "kvk": kvk, "name": name, "status": "verified", "domains": [f"k{kvk}.example"]}
    for code in new_products:
        name, description = PRODUCTS[code]
        yield None, "product.create", f"product:{code}", None, {"code": code, "name": name,
                                                                "description": description, "url": None}
    for a, p, f, u in contracts:
        yield a, "contract.put", f"contract:{a}/{p}", None, {
            "afnemer": a, "product": p, "valid_from": f.isoformat(), "valid_until": u.isoformat() if u else None}
    for a, i, f, u, ps in plan.mandates:
        view = {"afnemer": a, "intermediair": i, "valid_from": f.isoformat(),
                "valid_until": u.isoformat() if u else None, "products": ps}
        yield a, "mandate.put", f"mandate:{a}/{i}", None, view
        yield i, "mandate.put", f"mandate:{a}/{i}", None, view
    for (email, name, org, beheerder), status in zip(plan.accounts, plan.statuses, strict=True):
        yield org, "account.create", f"account:{email}", None, {
            "email": email, "name": name, "org": org, "status": status, "roles": ["beheerder"] if beheerder else []}
    for index, afnemer, products in _grant_groups(plan):
        email, _, org, _ = plan.accounts[index]
        before = {"afnemer": afnemer, "products": []}
        after = {"afnemer": afnemer, "products": products, "added": products, "removed": []}
        yield org, "grants.replace", f"account:{email}", before, after
        if afnemer != org:
            yield afnemer, "grants.replace", f"account:{email}", before, after


def _lines(plan: _Plan, contracts: list[tuple[str, str, date, date | None]], emails: list[str]
           ) -> Iterator[policy.Line]:
    """The same lines :mod:`authz.store.projection` would write for each fact (formats from :mod:`authz.policy`)."""
    for a, p, f, u in contracts:
        yield policy.contract_line(a, p, f, u)
    for afnemer, inter, f, u, ps in plan.mandates:
        yield from policy.mandate_lines(afnemer, inter, ps, f, u)
    for (email, _, org, beheerder), status in zip(plan.accounts, plan.statuses, strict=True):
        if status == "active":
            yield policy.role_line(email, "active", org)
        if beheerder:
            yield policy.role_line(email, "beheerder", org)
    for index, afnemer, product in plan.grants:
        yield policy.grant_line(emails[index], afnemer, product)
