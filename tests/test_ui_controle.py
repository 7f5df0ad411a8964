"""The operator's policy check, /operator/controle, through the TestClient on SQLite and PostgreSQL: every kind of
finding described in Dutch with names, no English, no rule codes, no internal ids."""

from __future__ import annotations

import re
from datetime import date, timedelta

from starlette.testclient import TestClient

from tests.conftest import login, sync
from tests.factories import World
from tests.ui.helpers import check_page

A, INTER, LONE, EMPTY = "11111111", "22222222", "33333333", "44444444"
TODAY = date(2026, 6, 15)  # the test clock's day


def test_every_finding_is_described_in_dutch_with_names(client: TestClient, world: World) -> None:
    world.org(A, "Bakkerij De Korenschoof B.V.")
    world.org(INTER, "Salarisbureau Noord")
    world.org(LONE, "Eenmanszaak Verlengdewoordenschat")
    world.org(EMPTY, "Zonder Beheerder B.V.")
    world.product("polisadministratie", "Polisadministratie")
    world.product("verzuim", "Verzuimmeldingen")
    world.contract(A, "polisadministratie")
    world.contract(A, "verzuim", valid_until=TODAY + timedelta(days=10))
    world.mandate(A, INTER, ["verzuim"], valid_until=TODAY + timedelta(days=5))
    world.account("anna@bakkerij.nl", A, roles=("beheerder",), name="Anna de Vries")
    world.account("bert@bakkerij.nl", A, roles=("beheerder",), name="Bert Visser")
    world.account("joost@bakkerij.nl", A, name="Joost Bakker")
    world.grant("joost@bakkerij.nl", A, ["polisadministratie"])
    world.set_status("joost@bakkerij.nl", "inactive")
    world.account("bob@salaris.nl", INTER, roles=("beheerder",), name="Bob Salaris")
    world.grant("bob@salaris.nl", A, ["verzuim"])
    world.account("zeer.lange.naam.van.een.medewerker@verlengdewoordenschat.nl", LONE, roles=("beheerder",))
    world.account("nieuw@bakkerij.nl", A, status="approved", name="Nieuwe Collega")
    world.account("alleen@zonder.nl", EMPTY, name="Alleen Gebruiker")
    world.operator()
    sync(client)
    clock = client.app.state.authz.clock  # type: ignore[attr-defined]
    clock.advance(days=30)  # the approved account has waited more than 21 days; contract and mandate ran out
    login(client, "operator@gegevensdiensten.nl")
    page = client.get("/operator/controle")
    assert page.status_code == 200
    check_page(page.text)
    text = page.text
    for kind in ("Koppeling van een gedeactiveerd account", "Geen beheerder", "Eén beheerder",
                 "Account niet geactiveerd"):
        assert kind in text, kind
    assert "Joost Bakker (joost@bakkerij.nl): Polisadministratie voor Bakkerij De Korenschoof B.V." in text
    assert ("Bob Salaris (bob@salaris.nl): Verzuimmeldingen voor Bakkerij De Korenschoof B.V." in text
            and "De koppeling geeft geen toegang. Het contract van Bakkerij De Korenschoof B.V. voor "
                "Verzuimmeldingen is beëindigd; de laatste dag was 25 juni 2026." in text)
    assert "Zonder Beheerder B.V. heeft accounts maar geen actieve beheerder." in text
    assert "Eenmanszaak Verlengdewoordenschat heeft één beheerder" in text
    assert "Het account van Bakkerij De Korenschoof B.V. is op 15 juni 2026 goedgekeurd maar nooit geactiveerd" in text
    body = text.split("<tbody>")[1]
    assert 'lang="en"' not in text
    assert re.search(r"\bR\d+\b", body) is None
    for raw in ("grant:", "organisation:", "contract:", "mandate:", "account:", "the ", " is deactivated", "_"):
        assert raw not in body, raw


def test_endings_of_contracts_and_mandates_name_them_and_their_day(client: TestClient, world: World) -> None:
    world.org(A, "Bakkerij De Korenschoof B.V.")
    world.org(INTER, "Salarisbureau Noord")
    world.product("verzuim", "Verzuimmeldingen")
    world.contract(A, "verzuim", valid_until=TODAY + timedelta(days=10))
    world.mandate(A, INTER, None, valid_until=TODAY + timedelta(days=5))
    world.operator()
    sync(client)
    login(client, "operator@gegevensdiensten.nl")
    text = client.get("/operator/controle").text
    assert "Het contract van Bakkerij De Korenschoof B.V. voor Verzuimmeldingen loopt af op 25 juni 2026." in text
    assert "De opdracht van Bakkerij De Korenschoof B.V. aan Salarisbureau Noord loopt af op 20 juni 2026." in text
    assert "2026-06" not in text.split("<tbody>")[1]


def test_a_lapsed_grant_reads_the_same_for_the_gebruiker_the_beheerder_and_the_operator(client: TestClient,
                                                                                        world: World) -> None:
    """One wording (authz.domain.sentences.lapse) on Mijn producten, the beheerder's user page and Controle: which
    contract or mandate, and its last day (or the day the mandate changed)."""
    world.org(A, "Bakkerij De Korenschoof B.V.")
    world.org(INTER, "Salarisbureau Noord")
    world.product("polisadministratie", "Polisadministratie")
    world.product("verzuim", "Verzuimmeldingen")
    world.product("loon", "Loongegevens")
    world.contract(A, "polisadministratie", valid_until=date(2026, 6, 4))
    world.contract(A, "verzuim")
    world.contract(A, "loon")
    world.mandate(A, INTER, ["verzuim", "loon"])
    world.account("anna@bakkerij.nl", A, roles=("beheerder",), name="Anna de Vries")
    world.account("joost@bakkerij.nl", A, name="Joost Bakker")
    world.grant("joost@bakkerij.nl", A, ["polisadministratie"])
    world.account("bob@salaris.nl", INTER, roles=("beheerder",), name="Bob Salaris")
    world.account("kim@salaris.nl", INTER, name="Kim Bakker")
    world.grant("kim@salaris.nl", A, ["loon"])
    world.mandate(A, INTER, ["verzuim"])  # the operator takes Loongegevens out of the mandate today
    world.operator()
    sync(client)
    contract = ("Het contract van Bakkerij De Korenschoof B.V. voor Polisadministratie is beëindigd; de laatste dag "
                "was 4 juni 2026.")
    mandate = "aan {} omvat Loongegevens niet meer (gewijzigd op 15 juni 2026)."

    def page(who: str, path: str) -> str:
        client.cookies.clear()
        login(client, who)
        r = client.get(path)
        assert r.status_code == 200, (who, path)
        return r.text

    assert contract in page("joost@bakkerij.nl", "/producten")
    assert contract in page("anna@bakkerij.nl", f"/toegangsrechten/joost@bakkerij.nl?afnemer={A}")
    own = "De opdracht van Bakkerij De Korenschoof B.V. " + mandate.format("uw organisatie")
    assert own in page("kim@salaris.nl", "/producten")
    assert own in page("bob@salaris.nl", f"/toegangsrechten/kim@salaris.nl?afnemer={A}")
    controle = page("operator@gegevensdiensten.nl", "/operator/controle")
    assert contract in controle
    assert "De opdracht van Bakkerij De Korenschoof B.V. " + mandate.format("Salarisbureau Noord") in controle
    for text in ("liep af", "is per ", "vandaag niet geldig", "beëindigd of omvat"):
        assert text not in controle, text
