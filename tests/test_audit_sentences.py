"""Every audit action the code records reads as one Dutch sentence with names (authz/domain/sentences.py).

The actions are read from the source (every ``….audit("…")`` call under authz/), so a new action without a
sentence fails here instead of showing a beheerder its code."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from authz.domain import sentences
from authz.domain.sentences import Names, Record
from authz.store.accounts import STATUSES

ROOT = Path(__file__).resolve().parent.parent
# Actions made from a value that the source alone does not tell: the f-string and every action it can make.
FORMED = {"f'account.{status}'": {f"account.{s}" for s in STATUSES},
          "f'account.password_{how}'": {"account.password_change", "account.password_reset"}}


# Actions passed in as a parameter (authz/store/catalogue.py put_contract / put_mandate, which end at once too).
NAMED = {"action": {"contract.put", "contract.end", "mandate.put", "mandate.end"}}


def _expand(node: ast.expr) -> set[str]:
    """The actions an ``audit(…)`` call's first argument can be: a string, or an f-string whose parts are strings
    or conditional expressions between strings (else listed in FORMED)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Name) and node.id in NAMED:
        return NAMED[node.id]
    assert isinstance(node, ast.JoinedStr), ast.unparse(node)
    made = {""}
    for part in node.values:
        if isinstance(part, ast.Constant):
            made = {m + str(part.value) for m in made}
            continue
        assert isinstance(part, ast.FormattedValue)
        value = part.value
        if (isinstance(value, ast.IfExp) and isinstance(value.body, ast.Constant)
                and isinstance(value.orelse, ast.Constant)):
            made = {m + str(c.value) for m in made for c in (value.body, value.orelse)}
            continue
        source = ast.unparse(node)
        assert source in FORMED, f"the action {source} is made from a value; list what it can be in FORMED"
        return FORMED[source]
    return made


def recorded_actions() -> set[str]:
    found: set[str] = set()
    for path in sorted((ROOT / "authz").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "audit"
                    and node.args):
                found |= _expand(node.args[0])
    return found


def test_every_recorded_action_has_a_sentence_and_every_sentence_an_action() -> None:
    actions = recorded_actions()
    assert {"grants.replace", "account.active", "role.revoke", "request.reject", "mandate.end"} <= actions
    assert sorted(actions - set(sentences.SENTENCES)) == []
    assert sorted(set(sentences.SENTENCES) - actions) == []


NAMES = Names(people={"anna@bakkerij.nl": "Anna de Vries", "joost@bakkerij.nl": "Joost Bakker"},
              products={"polisadministratie": "Polisadministratie", "verzuim": "Verzuimmeldingen"},
              orgs={"11111111": "Bakkerij De Korenschoof B.V.", "22222222": "Salarisbureau Noord"})
ANNA, JOOST = "anna@bakkerij.nl", "joost@bakkerij.nl"
ACCOUNT = {"email": JOOST, "name": "Joost Bakker", "org": "11111111", "roles": [], "status": "active"}
REQUEST = {"id": 7, "email": JOOST, "kvk": "11111111", "organisation_name": None, "name": "Joost Bakker",
           "kind": "registration", "status": "pending_beheerder", "decided_by": None, "decided_at": None}
INVITATION = {"id": 3, "email": JOOST, "kvk": "11111111", "invited_by": ANNA, "status": "open",
              "created_at": "2026-12-02T06:55:03+00:00", "expires_at": "2026-12-23T06:55:03+00:00"}
CONTRACT = {"afnemer": "11111111", "product": "polisadministratie", "valid_from": "2026-01-01",
            "valid_until": None}
MANDATE = {"afnemer": "11111111", "intermediair": "22222222", "valid_from": "2026-01-01",
           "valid_until": "2026-12-31", "products": ["verzuim"]}
MAIL = {"id": 9, "to": JOOST, "subject": "Uw toegang", "status": "dead", "attempts": 5, "last_error": "x"}

# (actor, subject, before, after) of each action as the code records it.
SAMPLES: dict[str, tuple[str, str, Any, Any]] = {
    "account.create": (ANNA, f"account:{JOOST}", None, ACCOUNT),
    "account.approved": (ANNA, f"account:{JOOST}", {**ACCOUNT, "status": "inactive"},
                         {**ACCOUNT, "status": "approved"}),
    "account.active": ("activation", f"account:{JOOST}", {**ACCOUNT, "status": "approved"}, ACCOUNT),
    "account.inactive": (ANNA, f"account:{JOOST}", ACCOUNT, {**ACCOUNT, "status": "inactive"}),
    "account.password_change": (JOOST, f"account:{JOOST}", None, {"email": JOOST, "password": "change"}),
    "account.password_reset": ("password-reset", f"account:{JOOST}", None, {"email": JOOST, "password": "reset"}),
    "account.password_rehash": (JOOST, f"account:{JOOST}", None, {"email": JOOST, "password": "rehash"}),
    "password_reset.request": (JOOST, f"account:{JOOST}", None, {"email": JOOST}),
    "activation.send": (ANNA, f"account:{JOOST}", None, {"email": JOOST,
                                                         "valid_until": "2026-12-23T06:55:03.791375+00:00"}),
    "account.mfa_start": (JOOST, f"account:{JOOST}", None, {"email": JOOST, "mfa": "pending"}),
    "account.mfa_confirm": ("cli:demo", f"account:{JOOST}", None, {"email": JOOST, "mfa": "active"}),
    "account.mfa_recovery_code_used": ("session", f"account:{JOOST}", None, {"email": JOOST}),
    "account.mfa_disable": (JOOST, f"account:{JOOST}", {"email": JOOST, "mfa": "active"}, {"email": JOOST}),
    "account.mfa_reset": ("operator@gegevensdiensten.nl", f"account:{JOOST}", {"email": JOOST, "mfa": "set"},
                          {"email": JOOST, "mfa": None}),
    "role.grant": (ANNA, f"account:{JOOST}", ACCOUNT, {**ACCOUNT, "roles": ["beheerder"]}),
    "role.revoke": (JOOST, f"account:{JOOST}", {**ACCOUNT, "roles": ["beheerder"]}, ACCOUNT),
    "request.create": (JOOST, "request:7", None, REQUEST),
    "request.approve": (ANNA, "request:7", REQUEST, {**REQUEST, "status": "approved", "decided_by": ANNA,
                                                     "decided_at": "2026-12-02T06:55:03.791375+00:00"}),
    "request.reject": (ANNA, "request:7", REQUEST, {**REQUEST, "status": "rejected", "decided_by": ANNA}),
    "grants.replace": (ANNA, f"account:{JOOST}", {"afnemer": "11111111", "products": ["verzuim"]},
                       {"afnemer": "11111111", "products": ["polisadministratie"], "added": ["polisadministratie"],
                        "removed": ["verzuim"]}),
    "invitation.create": (ANNA, "invitation:3", None, INVITATION),
    "invitation.resend": (ANNA, "invitation:3", INVITATION, INVITATION),
    "invitation.withdraw": (ANNA, "invitation:3", INVITATION, {**INVITATION, "status": "withdrawn"}),
    "invitation.accept": ("invitation", "invitation:3", INVITATION, {**INVITATION, "status": "accepted"}),
    "mail.retry": ("operator@gegevensdiensten.nl", "mail:9", MAIL, {**MAIL, "status": "pending"}),
    "organisation.create": ("operator@gegevensdiensten.nl", "organisation:11111111", None,
                            {"kvk": "11111111", "name": "Bakkerij De Korenschoof B.V.", "status": "verified",
                             "domains": []}),
    "organisation.verify": ("operator@gegevensdiensten.nl", "organisation:11111111",
                            {"kvk": "11111111", "name": "Bakkerij", "status": "pending", "domains": []},
                            {"kvk": "11111111", "name": "Bakkerij De Korenschoof B.V.", "status": "verified",
                             "domains": []}),
    "product.create": ("cli:demo", "product:verzuim", None, {"code": "verzuim", "name": "Verzuimmeldingen",
                                                             "description": ""}),
    "product.put": ("operator@gegevensdiensten.nl", "product:verzuim",
                    {"code": "verzuim", "name": "Verzuim", "description": "", "url": None},
                    {"code": "verzuim", "name": "Verzuimmeldingen", "description": "",
                     "url": "https://downloads.gegevensdiensten.nl/verzuim"}),
    "organisation.update": ("operator@gegevensdiensten.nl", "organisation:11111111",
                            {"kvk": "11111111", "name": "Bakkerij", "status": "verified", "domains": []},
                            {"kvk": "11111111", "name": "Bakkerij De Korenschoof B.V.", "status": "verified",
                             "domains": ["korenschoof.nl"]}),
    "contract.put": ("operator@gegevensdiensten.nl", "contract:11111111/polisadministratie", None, CONTRACT),
    "contract.end": ("operator@gegevensdiensten.nl", "contract:11111111/polisadministratie", CONTRACT, None),
    "mandate.put": ("operator@gegevensdiensten.nl", "mandate:11111111/22222222", None, MANDATE),
    "mandate.end": ("operator@gegevensdiensten.nl", "mandate:11111111/22222222", MANDATE, None),
    "service_key.create": ("cli:service-key", "service-key:downloads", None, {"name": "downloads"}),
    "service_key.revoke": ("cli:service-key", "service-key:downloads", {"name": "downloads"},
                           {"name": "downloads", "revoked": True}),
    "demo.synthetic": ("cli:demo", "synthetic:seed=1", None, {"grants_wanted": 1000, "seed": 1}),
}
RAW = re.compile(r"[\[\]{}]|\b[a-z]+[._][a-z_]+\b|\d{4}-\d\d-\d\d|T\d\d:|\+00:00|\.\.")


def test_the_samples_cover_every_sentence() -> None:
    assert sorted(SAMPLES) == sorted(sentences.SENTENCES)


@pytest.mark.parametrize("action", sorted(SAMPLES))
def test_each_action_reads_as_one_dutch_sentence_with_names(action: str) -> None:
    actor, subject, before, after = SAMPLES[action]
    said = sentences.sentence(Record(action, actor, subject, before, after, "11111111"), NAMES)
    assert (said[0].isupper() or said.startswith(actor)) and said.endswith(".") and not said.endswith(".."), said
    assert RAW.search(said.replace("@bakkerij.nl", "").replace("@gegevensdiensten.nl", "")) is None, said
    assert "cli:" not in said and "11111111" not in said.replace("KvK 11111111", ""), said


def test_the_example_of_the_issue() -> None:
    r = Record("grants.replace", ANNA, f"account:{JOOST}", {"afnemer": "11111111", "products": []},
               {"afnemer": "11111111", "products": ["polisadministratie"], "added": ["polisadministratie"],
                "removed": []})
    assert sentences.sentence(r, NAMES) == ("Anna de Vries gaf Joost Bakker toegang tot Polisadministratie voor "
                                            "Bakkerij De Korenschoof B.V.")
    both = Record("grants.replace", ANNA, f"account:{JOOST}", None,
                  {"afnemer": "22222222", "added": ["polisadministratie"], "removed": ["verzuim"]})
    assert sentences.sentence(both, NAMES) == ("Anna de Vries gaf Joost Bakker toegang tot Polisadministratie en "
                                               "nam de toegang tot Verzuimmeldingen af voor Salarisbureau Noord.")


def test_a_name_that_is_gone_falls_back_to_the_address_code_or_kvk() -> None:
    r = Record("grants.replace", "weg@bakkerij.nl", "account:oud@bakkerij.nl", None,
               {"afnemer": "99999999", "added": ["oud-product"], "removed": []})
    assert sentences.sentence(r, Names()) == ("weg@bakkerij.nl gaf oud@bakkerij.nl toegang tot oud-product voor "
                                              "KvK 99999999.")


def test_actors_that_are_no_person_are_named_honestly() -> None:
    def who(actor: str) -> str:
        return sentences.actor(Record("account.active", actor, f"account:{JOOST}", None, None), NAMES)

    assert who("cli:demo") == "het systeem (demo)"
    assert who("cli:operator-create") == "het systeem (operator aanmaken)"
    assert who("import:rechten.yaml") == "het systeem (import van rechten.yaml)"
    assert who("activation") == "Joost Bakker (met de activatielink)"
    assert who(ANNA) == "Anna de Vries"
    demo = Record("account.mfa_confirm", "cli:demo", "product:x", None, None)
    assert sentences.sentence(Record("product.create", "cli:demo", "product:verzuim", None, None), NAMES) \
        .startswith("Het systeem (demo) voegde het product Verzuimmeldingen toe")
    assert demo.actor == "cli:demo"


def test_dates_are_dutch_in_amsterdam_time() -> None:
    assert sentences.moment(datetime(2026, 12, 2, 6, 55, 3, tzinfo=UTC)) == "2 december 2026 07:55"
    assert sentences.moment(datetime(2026, 6, 15, 10, 0, tzinfo=UTC)) == "15 juni 2026 12:00"
    said = sentences.sentence(Record("activation.send", ANNA, f"account:{JOOST}", None,
                                     {"email": JOOST, "valid_until": "2026-12-23T06:55:03.791375+00:00"}), NAMES)
    assert said == "Anna de Vries stuurde Joost Bakker een activatielink, geldig tot 23 december 2026 07:55."
