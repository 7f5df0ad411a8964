"""``authz demo``: a small, believable world to click through, and how to log in to it.

A bakery and a transport company (afnemers), a payroll office acting for the bakery under a mandate for part of
its products (intermediair), five data products, contracts (one ended: the grant resting on it shows as inert),
an operator, beheerders and users, a few grants and a service key. Everything but the key is written in one
transaction; a second run finds the data there, changes nothing and prints the logins again with a new key
(``demo-<n>``: a key is stored only as a hash, so an old one cannot be shown again).

``authz demo --grants N`` adds a large synthetic world instead: see :mod:`authz.synthetic`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import count
from typing import TextIO

from authz.config import Settings
from authz.errors import Conflict, NotFound
from authz.passwords import hash_password
from authz.store import accounts, catalogue, grants, keys
from authz.store.db import Database, Tx
from authz.synthetic import SYNTHETIC_PASSWORD, SyntheticResult, load_synthetic

__all__ = ["DEMO_PASSWORD", "SYNTHETIC_PASSWORD", "DemoResult", "SyntheticResult", "load_demo", "load_synthetic"]

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


def _build(t: Tx, today: date) -> None:
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
        accounts.create(t, email, org, password_hash, "active", name=name, role_set=set(roles))
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
            _build(t, db.clock.today())
        key_name, key = _new_key(t)
    if created:
        out.write(f"Demo data loaded (revision {t.revision}).\n")
    else:
        out.write("The demo data is already there; nothing changed but a new service key.\n")
    _print_logins(out, settings, key_name, key)
    return DemoResult(created, key_name, key)


def _print_logins(out: TextIO, settings: Settings, key_name: str, key: str) -> None:
    base = settings.base_url
    out.write(f"\nLog in at {base}/ (or POST {base}/v1/session) with one of these accounts;\n"
              f"every demo account has the password: {DEMO_PASSWORD}\n\n")
    width = max(len(email) for email, *_ in ACCOUNTS)
    for email, _, _, _, about in ACCOUNTS:
        out.write(f"  {email:<{width}}  {about}\n")
    body = json.dumps({"user": "joost.bakker@korenschoof.nl", "product": "polisadministratie"})
    out.write(f"\nService key '{key_name}' (shown once; run `authz demo` again for another):\n  {key}\n\n"
              "May Joost see the Polisadministratie?\n"
              f"  curl -s -X POST {base}/v1/check -H 'Authorization: Bearer {key}' "
              f"-H 'Content-Type: application/json' -d '{body}'\n")
