"""What an audit record (R12) says, as one Dutch sentence with names: the Logboek, a user's history and the CSV
export all read it here, so the three never tell a change differently.

Pure: the names of people, products and organisations come in as a :class:`Names` (looked up by the service
layer, see :func:`wanted`); a name that is gone falls back to the e-mail address, code or KvK number the record
holds. Dates are Dutch ("2 december 2026", "2 december 2026 07:55"), in Europe/Amsterdam time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
          "november", "december")
ROLE_WORDS = {"beheerder": "beheerder", "operator": "operator"}
STATUS_WORDS = {"approved": "goedgekeurd, nog niet geactiveerd", "active": "actief", "inactive": "gedeactiveerd"}
# Actors that are no person: a step of the system, or a person acting through a link or their own session (then
# the record's subject is who acted). ``cli:<command>`` is a command run on a server.
SELF_SERVICE = {"activation": "met de activatielink", "invitation": "met de uitnodigingslink",
                "password-reset": "met de herstellink", "session": "bij het inloggen"}
SYSTEM_WORDS = {"demo": "demo", "operator-create": "operator aanmaken", "service-key": "dienstsleutels",
                "mail": "e-mail", "throttle": "inlogbeveiliging"}


# -- dates -------------------------------------------------------------------------------------------------------

def day(d: date) -> str:
    """``2 december 2026``."""
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def moment(at: datetime) -> str:
    """``2 december 2026 07:55`` in Europe/Amsterdam time."""
    local = at.astimezone(AMSTERDAM)
    return f"{day(local.date())} {local:%H:%M}"


def _day_text(value: Any) -> str:
    """An ISO day (or instant) of a record as a Dutch day; anything else as it is."""
    if not isinstance(value, str):
        return str(value)
    try:
        if "T" in value:
            return moment(datetime.fromisoformat(value))
        return day(date.fromisoformat(value))
    except ValueError:
        return value


def span(valid_from: Any, valid_until: Any) -> str:
    """``van 1 januari 2026 tot en met 31 december 2026`` or ``vanaf 1 januari 2026, zonder einddatum``."""
    if valid_until is None:
        return f"vanaf {_day_text(valid_from)}, zonder einddatum"
    return f"van {_day_text(valid_from)} tot en met {_day_text(valid_until)}"


def listing(words: Iterable[str]) -> str:
    """``A``, ``A en B``, ``A, B en C``."""
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} en {items[-1]}"


# -- why a held grant gives nothing (R1, R16) ----------------------------------------------------------------------

def lapse(reason: str, since: date | None, product: str, afnemer: str, intermediair: str = "uw organisatie") -> str:
    """Which contract or mandate of an inert grant ended and on which day, in one wording for every page that says
    it (the gebruiker's *Mijn producten*, the beheerder's user page, the operator's *Controle*). ``reason`` and
    ``since`` are :func:`authz.domain.grants.lapse`'s: ``since`` is the first day without access for an ended
    contract or mandate (its last day was the day before), the first day of one that has not started, the day the
    mandate was last changed for one that no longer covers the product; None when that is not known. ``product``,
    ``afnemer`` and ``intermediair`` are names."""
    contract = f"Het contract van {afnemer} voor {product}"
    mandate = f"De opdracht van {afnemer} aan {intermediair}"
    ended = f"; de laatste dag was {day(date.fromordinal(since.toordinal() - 1))}" if since else ""
    if reason == "contract_ended":
        return f"{contract} is beëindigd{ended}."
    if reason == "contract_not_started":
        return f"{contract} gaat pas in op {day(since)}." if since else f"{contract} is nog niet ingegaan."
    if reason == "mandate_ended":
        return f"{mandate} is beëindigd{ended}."
    if reason == "mandate_not_started":
        return f"{mandate} gaat pas in op {day(since)}." if since else f"{mandate} is nog niet ingegaan."
    if reason == "mandate_excludes_product":
        changed = f" (gewijzigd op {day(since)})" if since else ""
        return f"{mandate} omvat {product} niet meer{changed}."
    return f"De koppeling met {product} van {afnemer} geeft nu geen toegang."


# -- names -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Names:
    """Names looked up for a page of records: e-mail → a person's name, code → a product's, KvK → an
    organisation's. Missing (the record is gone, or the name is empty): the e-mail, code or KvK number itself."""

    people: Mapping[str, str] = field(default_factory=dict)
    products: Mapping[str, str] = field(default_factory=dict)
    orgs: Mapping[str, str] = field(default_factory=dict)

    def person(self, email: str, fallback: str = "") -> str:
        return self.people.get(email) or fallback or email

    def product(self, code: str) -> str:
        return self.products.get(code) or code

    def org(self, kvk: str | None) -> str:
        if not kvk:
            return ""
        return self.orgs.get(kvk) or f"KvK {kvk}"

    def product_list(self, codes: Iterable[str]) -> str:
        return listing(self.product(c) for c in codes)


@dataclass(frozen=True)
class Record:
    """The parts of an audit record a sentence needs."""

    action: str
    actor: str
    subject: str
    before: Any
    after: Any
    on_behalf_of: str | None = None


def _subject(r: Record) -> tuple[str, str]:
    kind, _, key = r.subject.partition(":")
    return kind, key


def _values(r: Record) -> dict[str, Any]:
    """Before and after merged (after wins): what the record knows of its subject."""
    out: dict[str, Any] = {}
    for part in (r.before, r.after):
        if isinstance(part, dict):
            out.update(part)
    return out


def wanted(records: Iterable[Record]) -> tuple[set[str], set[str], set[str]]:
    """The e-mail addresses, product codes and KvK numbers whose names the sentences of ``records`` use."""
    emails: set[str] = set()
    codes: set[str] = set()
    kvks: set[str] = set()
    for r in records:
        if "@" in r.actor:
            emails.add(r.actor)
        if r.on_behalf_of:
            kvks.add(r.on_behalf_of)
        kind, key = _subject(r)
        if kind == "account":
            emails.add(key)
        elif kind == "product":
            codes.add(key)
        elif kind in {"organisation", "contract", "mandate"}:
            first, _, second = key.partition("/")
            kvks.add(first)
            if second:
                (codes if kind == "contract" else kvks).add(second)
        for part in (r.before, r.after):
            if not isinstance(part, dict):
                continue
            for name in ("email", "invited_by", "decided_by"):
                if isinstance(part.get(name), str) and "@" in part[name]:
                    emails.add(part[name])
            for name in ("afnemer", "intermediair", "kvk", "org"):
                if isinstance(part.get(name), str):
                    kvks.add(part[name])
            for name in ("products", "added", "removed"):
                if isinstance(part.get(name), list):
                    codes.update(c for c in part[name] if isinstance(c, str))
            if isinstance(part.get("product"), str):
                codes.add(part["product"])
    codes.discard("")
    kvks.discard("")
    return emails, codes, kvks


# -- who ---------------------------------------------------------------------------------------------------------

def _subject_person(r: Record, names: Names) -> str:
    kind, key = _subject(r)
    known = _values(r)
    email = key if kind == "account" else str(known.get("email", ""))
    return names.person(email, str(known.get("name") or "")) if email else "iemand"


def actor(r: Record, names: Names) -> str:
    """Who made the change, in words: a person's name, or what acted for the system."""
    if "@" in r.actor:
        return names.person(r.actor)
    if r.actor in SELF_SERVICE:
        return f"{_subject_person(r, names)} ({SELF_SERVICE[r.actor]})"
    if r.actor.startswith("cli:"):
        command = r.actor[4:]
        return f"het systeem ({SYSTEM_WORDS.get(command, command)})"
    if r.actor.startswith("import:"):
        return f"het systeem (import van {r.actor[7:]})"
    return f"het systeem ({SYSTEM_WORDS.get(r.actor, r.actor)})"


def _doer(r: Record, names: Names) -> str:
    """The actor as the subject of a sentence (capitalised where it is a word of ours)."""
    who = actor(r, names)
    return who[0].upper() + who[1:] if who.startswith("het ") else who


def _self(r: Record) -> bool:
    """Whether the person acted on their own account (their session, or a link of their own)."""
    kind, key = _subject(r)
    return r.actor in SELF_SERVICE or (kind == "account" and r.actor == key)


# -- the sentences -----------------------------------------------------------------------------------------------

Sentence = Callable[[Record, Names], str]


def _account_create(r: Record, n: Names) -> str:
    after = r.after if isinstance(r.after, dict) else {}
    where = f" bij {n.org(after.get('org'))}" if after.get("org") else ""
    return f"{_doer(r, n)} maakte het account van {_subject_person(r, n)}{where} aan."


def _status(new: str) -> Sentence:
    def say(r: Record, n: Names) -> str:
        old = (r.before or {}).get("status") if isinstance(r.before, dict) else None
        person = _subject_person(r, n)
        if new == "active" and old == "approved":
            if _self(r):
                how = f" {SELF_SERVICE[r.actor]}" if r.actor in SELF_SERVICE else ""
                return f"{person} activeerde het account{how}."
            return f"{_doer(r, n)} activeerde het account van {person}."
        if new == "active":
            return f"{_doer(r, n)} heractiveerde het account van {person}."
        if new == "inactive":
            return f"{_doer(r, n)} deactiveerde het account van {person}."
        return f"{_doer(r, n)} keurde het account van {person} goed; het is nog niet geactiveerd."
    return say


def _password(how: str) -> Sentence:
    def say(r: Record, n: Names) -> str:
        person = _subject_person(r, n)
        if how == "change":
            return f"{person} wijzigde het eigen wachtwoord."
        if how == "reset":
            return f"{person} stelde met de herstellink een nieuw wachtwoord in."
        return f"Het wachtwoord van {person} is bij het inloggen opnieuw versleuteld, met sterkere instellingen."
    return say


def _reset_request(r: Record, n: Names) -> str:
    if _self(r):
        return f"{_subject_person(r, n)} vroeg een herstellink aan voor het eigen wachtwoord."
    return f"{_doer(r, n)} vroeg een herstellink aan voor het wachtwoord van {_subject_person(r, n)}."


def _activation(r: Record, n: Names) -> str:
    until = (r.after or {}).get("valid_until") if isinstance(r.after, dict) else None
    valid = f", geldig tot {_day_text(until)}" if until else ""
    return f"{_doer(r, n)} stuurde {_subject_person(r, n)} een activatielink{valid}."


def _mfa(what: str) -> Sentence:
    def say(r: Record, n: Names) -> str:
        person = _subject_person(r, n)
        if what == "reset":
            return f"{_doer(r, n)} verwijderde de tweede factor van {person}; {person} kreeg hierover een e-mail."
        if what == "confirm" and not _self(r):
            return f"{_doer(r, n)} stelde een tweede factor (authenticator-app) in voor {person}."
        return {"start": f"{person} begon een tweede factor (authenticator-app) in te stellen.",
                "confirm": f"{person} stelde een tweede factor (authenticator-app) in.",
                "recovery_code_used": f"{person} logde in met een herstelcode in plaats van de tweede factor.",
                "disable": f"{person} verwijderde de eigen tweede factor."}[what]
    return say


def _roles(r: Record) -> tuple[list[str], list[str]]:
    old = set((r.before or {}).get("roles") or ()) if isinstance(r.before, dict) else set()
    new = set((r.after or {}).get("roles") or ()) if isinstance(r.after, dict) else set()
    return sorted(new - old), sorted(old - new)


def _role(granted: bool) -> Sentence:
    def say(r: Record, n: Names) -> str:
        added, removed = _roles(r)
        words = listing(ROLE_WORDS.get(x, x) for x in (added if granted else removed)) or "een rol"
        person = _subject_person(r, n)
        if granted:
            return f"{_doer(r, n)} maakte {person} {words}."
        if _self(r):
            return f"{person} legde de rol {words} neer."
        return f"{_doer(r, n)} nam {person} de rol {words} af."
    return say


def _request(what: str) -> Sentence:
    def say(r: Record, n: Names) -> str:
        known = _values(r)
        person = _subject_person(r, n)
        org = n.org(known.get("kvk")) if known.get("kvk") else str(known.get("organisation_name") or "")
        if what == "create":
            return f"{person} vroeg een account aan bij {org or 'een organisatie'}."
        verb = "keurde" if what == "approve" else "wees"
        tail = "goed" if what == "approve" else "af"
        return f"{_doer(r, n)} {verb} de accountaanvraag van {person} bij {org or 'de organisatie'} {tail}."
    return say


def _grants(r: Record, n: Names) -> str:
    after = r.after if isinstance(r.after, dict) else {}
    added, removed = list(after.get("added") or []), list(after.get("removed") or [])
    person = _subject_person(r, n)
    afnemer = n.org(after.get("afnemer"))
    parts = []
    if added:
        parts.append(f"gaf {person} toegang tot {n.product_list(added)}")
    if removed:
        parts.append(f"nam {person} de toegang tot {n.product_list(removed)} af" if not added
                     else f"nam de toegang tot {n.product_list(removed)} af")
    if not parts:
        return f"{_doer(r, n)} sloeg de rechten van {person} voor {afnemer} ongewijzigd op."
    return f"{_doer(r, n)} {' en '.join(parts)} voor {afnemer}."


def _invitation(what: str) -> Sentence:
    def say(r: Record, n: Names) -> str:
        known = _values(r)
        email = str(known.get("email", "iemand"))
        org = n.org(known.get("kvk"))
        return {"create": f"{_doer(r, n)} nodigde {email} uit voor een account bij {org}.",
                "resend": f"{_doer(r, n)} verstuurde de uitnodiging aan {email} opnieuw.",
                "withdraw": f"{_doer(r, n)} trok de uitnodiging aan {email} in.",
                "accept": f"{n.person(email)} nam de uitnodiging voor {org} aan en koos een wachtwoord; "
                          f"een beheerder keurt het account nog goed."}[what]
    return say


def _mail_retry(r: Record, n: Names) -> str:
    known = _values(r)
    return (f"{_doer(r, n)} liet de e-mail ‘{known.get('subject', '')}’ aan {known.get('to', 'onbekend')} "
            f"opnieuw versturen.")


def _organisation(what: str) -> Sentence:
    def say(r: Record, n: Names) -> str:
        known = _values(r)
        kvk = _subject(r)[1]
        name = str(known.get("name") or n.org(kvk))
        if what == "create":
            return f"{_doer(r, n)} registreerde de organisatie {name} (KvK {kvk})."
        return f"{_doer(r, n)} controleerde de gegevens van {name} (KvK {kvk}) en keurde ze goed."
    return say


def _product(r: Record, n: Names) -> str:
    known = _values(r)
    return f"{_doer(r, n)} voegde het product {known.get('name') or n.product(_subject(r)[1])} toe."


def _product_put(r: Record, n: Names) -> str:
    before = r.before if isinstance(r.before, dict) else {}
    after = r.after if isinstance(r.after, dict) else {}
    name = str(after.get("name") or n.product(_subject(r)[1]))
    changed = []
    if before.get("name") != after.get("name"):
        changed.append(f"de naam (was {before.get('name')})")
    if before.get("description") != after.get("description"):
        changed.append("de omschrijving")
    if before.get("url") != after.get("url"):
        changed.append("de link" if after.get("url") else "de link (verwijderd)")
    return f"{_doer(r, n)} wijzigde bij het product {name} {listing(changed) or 'niets'}."


def _organisation_update(r: Record, n: Names) -> str:
    before = r.before if isinstance(r.before, dict) else {}
    after = r.after if isinstance(r.after, dict) else {}
    kvk = _subject(r)[1]
    name = str(after.get("name") or n.org(kvk))
    changed = []
    if before.get("name") != after.get("name"):
        changed.append(f"de naam (was {before.get('name')})")
    if before.get("domains") != after.get("domains"):
        domains = after.get("domains") or []
        changed.append(f"de e-maildomeinen (nu {len(domains)})" if domains else "de e-maildomeinen (nu geen)")
    return f"{_doer(r, n)} wijzigde bij de organisatie {name} (KvK {kvk}) {listing(changed) or 'niets'}."


def _contract_put(r: Record, n: Names) -> str:
    after = r.after if isinstance(r.after, dict) else {}
    what = f"{n.product(str(after.get('product', '')))} voor {n.org(after.get('afnemer'))}"
    when = span(after.get("valid_from"), after.get("valid_until"))
    if r.before is None:
        return f"{_doer(r, n)} legde een contract vast voor {what}, geldig {when}."
    return f"{_doer(r, n)} wijzigde het contract voor {what}: nu geldig {when}."


def _contract_end(r: Record, n: Names) -> str:
    before = r.before if isinstance(r.before, dict) else {}
    return (f"{_doer(r, n)} beëindigde het contract voor {n.product(str(before.get('product', '')))} voor "
            f"{n.org(before.get('afnemer'))}.")


def _mandate_put(r: Record, n: Names) -> str:
    after = r.after if isinstance(r.after, dict) else {}
    products = after.get("products")
    scope = "alle producten" if products is None else n.product_list(products)
    what = (f"een opdracht van {n.org(after.get('afnemer'))} aan {n.org(after.get('intermediair'))} "
            f"voor {scope}")
    when = span(after.get("valid_from"), after.get("valid_until"))
    if r.before is None:
        return f"{_doer(r, n)} legde {what} vast, geldig {when}."
    return (f"{_doer(r, n)} wijzigde de opdracht van {n.org(after.get('afnemer'))} aan "
            f"{n.org(after.get('intermediair'))}: nu voor {scope}, geldig {when}.")


def _mandate_end(r: Record, n: Names) -> str:
    before = r.before if isinstance(r.before, dict) else {}
    return (f"{_doer(r, n)} beëindigde de opdracht van {n.org(before.get('afnemer'))} aan "
            f"{n.org(before.get('intermediair'))}.")


def _key(what: str) -> Sentence:
    def say(r: Record, n: Names) -> str:
        name = _subject(r)[1]
        if what == "create":
            return f"{_doer(r, n)} maakte een API-sleutel voor de dienst ‘{name}’."
        return f"{_doer(r, n)} trok de API-sleutel van de dienst ‘{name}’ in."
    return say


def _synthetic(r: Record, n: Names) -> str:
    after = r.after if isinstance(r.after, dict) else {}
    return (f"{_doer(r, n)} vulde de database met een proefwereld van {after.get('grants_wanted', 'veel')} "
            f"koppelingen.")


# Every action the code records (``t.audit("…")``), and its sentence; ``tests/test_audit_sentences.py`` reads the
# source and fails on an action missing here.
SENTENCES: dict[str, Sentence] = {
    "account.create": _account_create,
    "account.approved": _status("approved"),
    "account.active": _status("active"),
    "account.inactive": _status("inactive"),
    "account.password_change": _password("change"),
    "account.password_reset": _password("reset"),
    "account.password_rehash": _password("rehash"),
    "password_reset.request": _reset_request,
    "activation.send": _activation,
    "account.mfa_start": _mfa("start"),
    "account.mfa_confirm": _mfa("confirm"),
    "account.mfa_recovery_code_used": _mfa("recovery_code_used"),
    "account.mfa_disable": _mfa("disable"),
    "account.mfa_reset": _mfa("reset"),
    "role.grant": _role(True),
    "role.revoke": _role(False),
    "request.create": _request("create"),
    "request.approve": _request("approve"),
    "request.reject": _request("reject"),
    "grants.replace": _grants,
    "invitation.create": _invitation("create"),
    "invitation.resend": _invitation("resend"),
    "invitation.withdraw": _invitation("withdraw"),
    "invitation.accept": _invitation("accept"),
    "mail.retry": _mail_retry,
    "organisation.create": _organisation("create"),
    "organisation.verify": _organisation("verify"),
    "organisation.update": _organisation_update,
    "product.create": _product,
    "product.put": _product_put,
    "contract.put": _contract_put,
    "contract.end": _contract_end,
    "mandate.put": _mandate_put,
    "mandate.end": _mandate_end,
    "service_key.create": _key("create"),
    "service_key.revoke": _key("revoke"),
    "demo.synthetic": _synthetic,
}


def sentence(r: Record, names: Names) -> str:
    """The record as one Dutch sentence. An action this version does not know (a newer one's) still reads as a
    sentence, naming its code."""
    say = SENTENCES.get(r.action)
    said = say(r, names) if say else f"{_doer(r, names)} voerde de handeling ‘{r.action}’ uit op {r.subject}."
    # A name at the end may end in a full stop of its own ("B.V."): one full stop is enough.
    return said[:-1] if said.endswith("..") else said
