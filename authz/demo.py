"""``authz demo``: a small, believable world to click through, and how to log in to it.

A bakery and a transport company (afnemers), a payroll office acting for the bakery under a mandate for part of
its products (intermediair), five data products, contracts (one ended: the grant resting on it shows as inert),
an operator, beheerders and users, a few grants and a service key. Everything but the key is written in one
transaction; a second run finds the data there, changes nothing and prints the logins again with a new key
(``demo-<n>``: a key is stored only as a hash, so an old one cannot be shown again).

R17: the demo enrols a second factor for every account that ``AUTHZ_MFA_REQUIRED`` requires one of (with
``none``, nobody) and prints its ``otpauth://`` URI. Like the password, each demo secret is fixed and public (made
from the e-mail by :func:`demo_secret`), so ``authz demo code EMAIL`` prints a demo account's current code without
reading any database or key: it can tell nothing about a real account, whose secret is random.

``authz demo --grants N`` adds a large synthetic world instead: see :mod:`authz.synthetic`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import count
from typing import TextIO

from authz.config import Settings
from authz.domain import mfa as rules
from authz.errors import Conflict, NotFound
from authz.passwords import hash_password
from authz.service import mfa
from authz.store import accounts, catalogue, grants, keys
from authz.store import mfa as factors
from authz.store.db import Database, Tx
from authz.store.schema import Account
from authz.synthetic import SYNTHETIC_PASSWORD, SyntheticResult, load_synthetic

__all__ = ["DEMO_PASSWORD", "SYNTHETIC_PASSWORD", "DemoResult", "SyntheticResult", "demo_code", "demo_secret",
           "load_demo", "load_synthetic"]

# Fixed on purpose: the demo must print the same logins on every run. Never use the demo on real data.
DEMO_PASSWORD = "gegevens-demo-2026"  # noqa: S105

KORENSCHOOF = "34567812"
VAN_DIJK = "52817364"
SALARIS_NOORD = "61238475"

ORGANISATIONS = (
    (KORENSCHOOF, "Bakkerij De Korenschoof B.V.", "korenschoof.nl"),
    (VAN_DIJK, "Transportbedrijf Van Dijk & Zn. B.V.", "vandijktransport.nl"),
    (SALARIS_NOORD, "Salarisadministratie Noord B.V.", "salarisnoord.nl"),
)
PRODUCTS = (
    ("polisadministratie", "Polisadministratie",
     "Dienstverbanden, lonen en uitkeringen per werknemer, zoals de werkgever ze in de loonaangifte doorgeeft."),
    ("verzuimmeldingen", "Verzuimmeldingen",
     "Ziek- en herstelmeldingen van werknemers, per melding met eerste en laatste verzuimdag."),
    ("loongegevens", "Loongegevens",
     "Fiscaal loon, sv-loon en verloonde uren per werknemer per aangiftetijdvak."),
    ("arbeidsongeschiktheid", "Arbeidsongeschiktheid",
     "Lopende WIA- en WAO-uitkeringen van (ex-)werknemers, met ingangsdatum en mate van arbeidsongeschiktheid."),
    ("werkgeversgegevens", "Werkgeversgegevens",
     "Loonheffingennummers, sectorindeling en premiepercentages van de werkgever."),
)
OPERATOR = "operator@gegevensdiensten.nl"
# email, name, organisation (None: the provider's staff), roles, what to say about them
ACCOUNTS: tuple[tuple[str, str, str | None, set[str], str], ...] = (
    (OPERATOR, "Operator Gegevensdiensten", None, {"operator"},
     "operator: verifies organisations, maintains products, contracts and mandates"),
    ("anna.devries@korenschoof.nl", "Anna de Vries", KORENSCHOOF, {"beheerder"},
     "beheerder of Bakkerij De Korenschoof (afnemer)"),
    ("joost.bakker@korenschoof.nl", "Joost Bakker", KORENSCHOOF, set(),
     "user at the bakery; his 'loongegevens' grant is inert (contract ended)"),
    ("pieter.vandijk@vandijktransport.nl", "Pieter van Dijk", VAN_DIJK, {"beheerder"},
     "beheerder of Transportbedrijf Van Dijk (afnemer)"),
    ("lisa.smit@vandijktransport.nl", "Lisa Smit", VAN_DIJK, set(), "user at the transport company"),
    ("fatima.elamrani@salarisnoord.nl", "Fatima El Amrani", SALARIS_NOORD, {"beheerder"},
     "beheerder of Salarisadministratie Noord (intermediair for the bakery)"),
    ("sanne.jansen@salarisnoord.nl", "Sanne Jansen", SALARIS_NOORD, set(),
     "user at the payroll office, works for the bakery under the mandate"),
)
# email, afnemer, products
GRANTS = (
    ("joost.bakker@korenschoof.nl", KORENSCHOOF, ("polisadministratie", "verzuimmeldingen", "loongegevens")),
    ("anna.devries@korenschoof.nl", KORENSCHOOF, ("polisadministratie",)),
    ("lisa.smit@vandijktransport.nl", VAN_DIJK, ("polisadministratie", "arbeidsongeschiktheid")),
    ("pieter.vandijk@vandijktransport.nl", VAN_DIJK, ("werkgeversgegevens",)),
    ("sanne.jansen@salarisnoord.nl", KORENSCHOOF, ("verzuimmeldingen", "loongegevens")),
    ("sanne.jansen@salarisnoord.nl", SALARIS_NOORD, ("werkgeversgegevens",)),
)


def demo_secret(email: str) -> str:
    """The demo account's TOTP secret: fixed and public, as :data:`DEMO_PASSWORD` is (160 bits, base32)."""
    return base64.b32encode(hashlib.sha256(f"authz demo second factor:{email}".encode()).digest()[:20]).decode()


def demo_code(email: str, settings: Settings, now: datetime) -> str:
    """The current code of a demo account's second factor, or why there is none (never a real account's)."""
    address = email.strip().lower()
    found = next((roles for e, _, _, roles, _ in ACCOUNTS if e == address), None)
    if found is None:
        raise NotFound("unknown_account", f"{address} is not a demo account: this command knows only the demo's "
                                          "own, fixed secrets, never a real account's.")
    if not rules.required(settings.mfa_required, found):
        raise NotFound("mfa_not_enrolled", f"The demo enrols no second factor for {address} under "
                                           f"AUTHZ_MFA_REQUIRED={settings.mfa_required}: log in without a code.")
    return rules.code_at(demo_secret(address), rules.step_of(now))


def _enrol(t: Tx, settings: Settings, a: Account) -> None:
    """A confirmed factor with the demo secret and no recovery codes (the demo logs in with `authz demo code`)."""
    factors.start(t.s, a.id, mfa.seal_secret(settings.secret_key, a.id, demo_secret(a.email)), t.now)
    f = factors.factor(t.s, a.id)
    assert f is not None
    factors.activate(t.s, f, None, [], t.now)
    t.audit("account.mfa_confirm", f"account:{a.email}", None, {"email": a.email, "mfa": "active"}, org=a.org)


@dataclass(frozen=True)
class DemoResult:
    created: bool  # False: the demo data was there already
    key_name: str
    key: str


def _present(t: Tx) -> bool:
    try:
        catalogue.get_org(t, KORENSCHOOF)
    except NotFound:
        return False
    return True


def _build(t: Tx, today: date, settings: Settings) -> None:
    start = date(today.year - 1, 1, 1)
    for kvk, name, domain in ORGANISATIONS:
        catalogue.create_org(t, kvk, name, [domain])
    for code, name, description in PRODUCTS:
        catalogue.create_product(t, code, name, description)
    contracts = (
        (KORENSCHOOF, "polisadministratie", None), (KORENSCHOOF, "verzuimmeldingen", None),
        (KORENSCHOOF, "loongegevens", today - timedelta(days=30)),  # ended: grants on it are inert
        (VAN_DIJK, "polisadministratie", None), (VAN_DIJK, "arbeidsongeschiktheid", None),
        (VAN_DIJK, "werkgeversgegevens", None), (SALARIS_NOORD, "werkgeversgegevens", None),
    )
    for afnemer, product, until in contracts:
        catalogue.put_contract(t, afnemer, product, start, until)
    catalogue.put_mandate(t, KORENSCHOOF, SALARIS_NOORD, ["verzuimmeldingen", "loongegevens"], start, None)
    password_hash = hash_password(DEMO_PASSWORD)
    for email, name, org, roles, _ in ACCOUNTS:
        a = accounts.create(t, email, org, password_hash, "active", name=name, role_set=set(roles))
        if rules.required(settings.mfa_required, roles):
            _enrol(t, settings, a)
    for email, afnemer, products in GRANTS:
        grants.replace(t, accounts.get(t, email), afnemer, set(products), None)


def _new_key(t: Tx) -> tuple[str, str]:
    for n in count(1):
        try:
            return f"demo-{n}", keys.create(t, f"demo-{n}")
        except Conflict:
            continue
    raise AssertionError("unreachable")


def load_demo(db: Database, settings: Settings, stream: TextIO | None = None) -> DemoResult:
    """Load the demo world unless it is there; either way print how to log in, with a new service key."""
    out = stream if stream is not None else sys.stdout
    with db.tx(actor="cli:demo") as t:
        created = not _present(t)
        if created:
            _build(t, db.clock.today(), settings)
        key_name, key = _new_key(t)
        enrolled = {e for e, *_ in ACCOUNTS if factors.active(t.s, accounts.get(t, e).id) is not None}
    if created:
        out.write(f"Demo data loaded (revision {t.revision}).\n")
    else:
        out.write("The demo data is already there; nothing changed but a new service key.\n")
    _print_logins(out, settings, key_name, key, enrolled)
    return DemoResult(created, key_name, key)


def _print_logins(out: TextIO, settings: Settings, key_name: str, key: str, enrolled: set[str]) -> None:
    base = settings.base_url
    out.write(f"\nLog in at {base}/ (or POST {base}/v1/session) with one of these accounts;\n"
              f"every demo account has the password: {DEMO_PASSWORD}\n\n")
    width = max(len(email) for email, *_ in ACCOUNTS)
    for email, _, _, _, about in ACCOUNTS:
        out.write(f"  {email:<{width}}  {about}{'  [second factor]' if email in enrolled else ''}\n")
    if enrolled:
        out.write("\nThe accounts marked [second factor] also ask for a code (R17). Print the current one with\n"
                  "  authz demo code EMAIL      (after make run: .venv/bin/authz demo code EMAIL)\n"
                  "or add the account to an authenticator app with its URI:\n")
        for email, *_ in ACCOUNTS:
            if email in enrolled:
                out.write(f"  {rules.uri(demo_secret(email), email)}\n")
    body = json.dumps({"user": "joost.bakker@korenschoof.nl", "product": "polisadministratie"})
    out.write(f"\nService key '{key_name}' (shown once; run `authz demo` again for another):\n  {key}\n\n"
              "May Joost see the Polisadministratie?\n"
              f"  curl -s -X POST {base}/v1/check -H 'Authorization: Bearer {key}' "
              f"-H 'Content-Type: application/json' -d '{body}'\n")
