"""The operator's page Beslissingen (the decision log) through the TestClient on SQLite and PostgreSQL: Dutch
rows, filters, pages, a filter that cannot be read, and who may see it."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from authz.clock import FrozenClock
from tests.conftest import login, sync
from tests.factories import World
from tests.ui.helpers import check_page

ORG = "11111111"
ANNA = "anna@bakkerij.nl"
OPERATOR = "operator@gegevensdiensten.nl"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def build(world: World) -> None:
    world.org(ORG, "Bakkerij De Korenschoof B.V.")
    world.product("polisadministratie", "Polisadministratie")
    world.contract(ORG, "polisadministratie")
    world.account(ANNA, ORG, name="Anna de Vries")
    world.grant(ANNA, ORG, ["polisadministratie"])
    world.beheerder("baas@bakkerij.nl", ORG)
    world.operator()


def ask(client: TestClient, key: str, checks: list[dict[str, Any]], **headers: str) -> None:
    r = client.post("/v1/check/batch", json={"checks": checks}, headers={"Authorization": f"Bearer {key}", **headers})
    assert r.status_code == 200, r.text
    st: Any = client.app.state.authz  # type: ignore[attr-defined]
    assert st.decisions.flush()


def rows(html: str) -> str:
    return html.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in html else ""


def test_the_operator_reads_the_decisions_in_dutch(client: TestClient, world: World, service_key: str) -> None:
    build(world)
    sync(client)
    ask(client, service_key, [{"user": ANNA, "product": "polisadministratie", "afnemer": ORG},
                              {"user": "niemand@bakkerij.nl", "product": "polisadministratie"}],
        traceparent=f"00-{TRACE_ID}-00f067aa0ba902b7-01")
    login(client, OPERATOR)
    page = client.get("/operator/beslissingen")
    assert page.status_code == 200
    check_page(page.text)
    assert 'href="/operator/beslissingen" aria-current="page">Beslissingen</a>' in page.text
    body = rows(page.text)
    assert body.count("<tr>") == 2
    assert "15 juni 2026 12:00" in body  # the test clock, in Amsterdam time
    assert "toegestaan" in body and "gekoppeld, met geldig contract" in body
    assert "geweigerd" in body and "onbekende gebruiker" in body and "elke afnemer" in body
    assert TRACE_ID in body and "test-client-" in body
    for raw in ("granted", "unknown_user", "True", "None"):
        assert raw not in body, raw


def test_the_filters_and_pages_of_the_decisions(client: TestClient, world: World, service_key: str,
                                                 clock: FrozenClock) -> None:
    build(world)
    sync(client)
    ask(client, service_key, [{"user": f"u{i:02}@bakkerij.nl", "product": "polisadministratie"} for i in range(55)])
    clock.advance(days=2)  # 17 juni
    ask(client, service_key, [{"user": ANNA, "product": "polisadministratie", "afnemer": ORG}])
    login(client, OPERATOR)
    first = client.get("/operator/beslissingen")
    assert rows(first.text).count("<tr>") == 50 and ANNA in rows(first.text)  # the newest first
    older = first.text.split('<p class="pager"><a href="')[1].split('"')[0].replace("&amp;", "&")
    second = client.get(older)
    check_page(second.text)
    assert rows(second.text).count("<tr>") == 6 and "u00@bakkerij.nl" in rows(second.text)
    assert "Naar de nieuwste beslissingen" in second.text
    assert rows(client.get("/operator/beslissingen", params={"gebruiker": ANNA}).text).count("<tr>") == 1
    assert rows(client.get("/operator/beslissingen", params={"afnemer": ORG}).text).count("<tr>") == 1
    assert rows(client.get("/operator/beslissingen", params={"tot": "2026-06-15"}).text).count("<tr>") == 50
    by_day = client.get("/operator/beslissingen", params={"van": "2026-06-17", "tot": "2026-06-17"})
    assert rows(by_day.text).count("<tr>") == 1
    assert 'value="2026-06-17"' in by_day.text  # the filters stay in the form
    paged = client.get("/operator/beslissingen", params={"product": "polisadministratie", "tot": "2026-06-15"})
    assert "product=polisadministratie" in paged.text and "tot=2026-06-15" in paged.text  # kept in the pager


def test_a_filter_that_cannot_be_read_is_said_and_nothing_is_searched(client: TestClient, world: World,
                                                                      service_key: str) -> None:
    build(world)
    sync(client)
    ask(client, service_key, [{"user": ANNA, "product": "polisadministratie"}])
    login(client, OPERATOR)
    for params, said in (({"gebruiker": "geen adres"}, "Gebruiker: Vul een geldig zakelijk e-mailadres in."),
                         ({"afnemer": "123"}, "Afnemer: Een KvK-nummer bestaat uit precies 8 cijfers."),
                         ({"van": "gisteren"}, "Van: Vul een datum in als JJJJ-MM-DD."),
                         ({"van": "2026-06-16", "tot": "2026-06-15"}, "De einddatum ligt voor de begindatum"),
                         ({"voor": "zzz"}, "Deze pagina bestaat niet (meer)")):
        page = client.get("/operator/beslissingen", params=params)
        assert page.status_code == 200
        assert said in page.text.replace("&#39;", "'"), params
        assert rows(page.text) == "" and "Geen beslissingen gevonden." not in page.text  # not searched


def test_only_the_operator_sees_the_decisions(client: TestClient, world: World) -> None:
    build(world)
    assert client.get("/operator/beslissingen", follow_redirects=False).status_code in (302, 303, 401)
    for who in ("baas@bakkerij.nl", ANNA):
        login(client, who)
        page = client.get("/operator/beslissingen")
        assert page.status_code == 403
        assert "/operator/beslissingen" not in client.get("/account").text  # not in their navigation


def test_a_decision_asked_for_another_instant_says_which(client: TestClient, world: World, service_key: str,
                                                         clock: FrozenClock) -> None:
    build(world)
    sync(client)
    then = clock.now()
    clock.advance(days=1)
    r = client.post("/access/v1/evaluation", headers={"Authorization": f"Bearer {service_key}"},
                    json={"subject": {"type": "user", "id": ANNA}, "action": {"name": "view"},
                          "resource": {"type": "product", "id": "polisadministratie"},
                          "context": {"time": then.isoformat()}})
    assert r.status_code == 200 and r.json()["decision"] is True, r.text
    st: Any = client.app.state.authz  # type: ignore[attr-defined]
    assert st.decisions.flush()
    login(client, OPERATOR)
    body = rows(client.get("/operator/beslissingen").text)
    assert "16 juni 2026 12:00" in body and "gevraagd voor 15 juni 2026 12:00" in body
