"""The intermediair's path through the portal in the manual's order (issue 11, section 4), on SQLite and PostgreSQL
through the real app: *Intermediair* → the organisations under management and the users → a user → the afnemer →
its products → Opslaan; "Terug" goes back to the list the page was opened from and never to another site; the one
word for the client is *afnemer*; names, not codes."""

from __future__ import annotations

import html
import re

from starlette.testclient import TestClient

from admin_ui.web import local_path
from tests.conftest import login, sync
from tests.factories import World
from tests.ui.helpers import check_page, csrf_of

INTERMEDIAIR = "33333333"
NOORD = "22222222"
ZUID = "44444444"
BEHEERDER = "beheer@salaris.nl"
KIM = "kim@salaris.nl"
KIM_URL = "/toegangsrechten/kim%40salaris.nl"
CLIENTS = "/organisaties-onder-beheer"
# Other words for the afnemer that the manual does not use.
OTHER_WORDS = ("klant", "cliënt", "client", "opdrachtgever")


def build(world: World) -> None:
    world.org(INTERMEDIAIR, "Salarisbureau Midden")
    world.org(NOORD, "Zorgverzekeraar Noord")
    world.org(ZUID, "Pensioenfonds Zuid")
    world.product("verzuim", "Verzuimregistratie")
    world.product("loonaangifte", "Loonaangifte Online")
    world.product("pensioen", "Pensioenoverzicht")
    world.contract(NOORD, "verzuim")
    world.contract(NOORD, "loonaangifte")
    world.contract(ZUID, "pensioen")
    world.mandate(NOORD, INTERMEDIAIR, ["verzuim"])
    world.mandate(ZUID, INTERMEDIAIR)
    world.beheerder(BEHEERDER, INTERMEDIAIR)
    world.account(KIM, INTERMEDIAIR, name="Kim Bakker")


def visible(page: str) -> str:
    """The text a reader sees: no tags, attributes or entities."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def links(page: str) -> dict[str, str]:
    """Each link's text (trimmed) → its href."""
    return {visible(text).strip(): html.unescape(href)
            for href, text in re.findall(r'<a [^>]*href="([^"]*)"[^>]*>(.*?)</a>', page, flags=re.S)}


def back_link(page: str) -> str:
    return next(href for text, href in links(page).items() if text.startswith("Terug naar"))


def test_the_path_follows_the_manual_page_by_page(api: TestClient, world: World) -> None:
    build(world)
    sync(api)
    login(api, BEHEERDER)
    # 1. Toegangsrechten beheren → the button Intermediair.
    overview = api.get("/toegangsrechten")
    check_page(overview.text)
    assert links(overview.text)["Intermediair"] == CLIENTS
    # … the organisations under management, then all current users.
    clients = api.get(CLIENTS)
    assert clients.status_code == 200
    check_page(clients.text)
    text = visible(clients.text.split("<h1>", 1)[1])
    heading, users = text.index("Organisaties onder uw beheer"), text.index("Alle huidige gebruikers")
    assert heading < text.index("Pensioenfonds Zuid") < users and heading < text.index("Zorgverzekeraar Noord") < users
    assert users < text.index("Kim Bakker")
    assert "Verzuimregistratie" in text and "Pensioenoverzicht" in text
    assert "Loonaangifte Online" not in text  # outside the mandate (R2)
    # 2. the user, by name.
    to_user = links(clients.text)["Kim Bakker"]
    assert to_user == f"{KIM_URL}?terug={CLIENTS}"
    user = api.get(to_user)
    check_page(user.text)
    # 3. the afnemer is ticked first: both afnemers offered, no products yet.
    assert 'type="radio" id="a-22222222" name="afnemer" value="22222222"' in user.text
    assert 'type="radio" id="a-44444444" name="afnemer" value="44444444"' in user.text
    assert 'name="product"' not in user.text
    assert "Vink eerst de afnemer aan" in user.text
    pick = re.search(r'<form method="get" action="([^"]+)".*?</form>', user.text, flags=re.S)
    assert pick is not None and pick.group(1) == KIM_URL
    assert f'<input type="hidden" name="terug" value="{CLIENTS}">' in pick.group(0)
    assert "Afnemer kiezen" in pick.group(0)
    # 4. its products are ticked …
    chosen = api.get(KIM_URL, params={"afnemer": NOORD, "terug": CLIENTS})
    check_page(chosen.text)
    assert "<legend>Producten van Zorgverzekeraar Noord</legend>" in chosen.text
    assert 'value="verzuim"' in chosen.text and 'value="loonaangifte"' not in chosen.text
    assert 'id="a-22222222" name="afnemer" value="22222222" checked' in chosen.text
    # 5. … and saved with Opslaan; the page stays on the path and Terug still goes back to the list.
    version = chosen.text.split('name="version" value="')[1].split('"')[0]
    saved = api.post(KIM_URL, data={"csrf": csrf_of(chosen.text), "afnemer": NOORD, "version": version,
                                    "product": "verzuim", "terug": CLIENTS}, follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{KIM_URL}?afnemer={NOORD}&terug=%2Forganisaties-onder-beheer"
    after = api.get(saved.headers["location"])
    assert "Toegevoegd: Verzuimregistratie." in after.text
    assert back_link(after.text) == CLIENTS
    answer = api.post("/v1/check", json={"user": KIM, "product": "verzuim", "afnemer": NOORD}).json()
    assert answer["allowed"] is True


def test_terug_goes_back_where_the_beheerder_came_from(client: TestClient, world: World) -> None:
    build(world)
    sync(client)
    login(client, BEHEERDER)
    # From the overview with a search: back to that search.
    overview = client.get("/toegangsrechten", params={"q": "kim"})
    to_user = links(overview.text)["Kim Bakker"]
    assert to_user == f"{KIM_URL}?terug=/toegangsrechten%3Fq%3Dkim"
    user = client.get(to_user).text
    assert links(user)["Terug naar het overzicht"] == "/toegangsrechten?q=kim"
    # From the organisations under management: back there, and said so.
    user = client.get(links(client.get(CLIENTS).text)["Kim Bakker"]).text
    assert links(user)["Terug naar de organisaties onder uw beheer"] == CLIENTS
    # Opened without one (a bookmark): the overview.
    assert back_link(client.get(KIM_URL).text) == "/toegangsrechten"
    # The organisations page itself goes back to the overview.
    assert back_link(client.get(CLIENTS).text) == "/toegangsrechten"


def test_a_foreign_or_absolute_terug_is_ignored(client: TestClient, world: World) -> None:
    build(world)
    sync(client)
    login(client, BEHEERDER)
    foreign = ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
               "/\t/evil.example", "/\n/evil.example", "javascript:alert(1)", "evil.example", "http:/evil.example",
               " /evil.example"]
    for value in foreign:
        page = client.get(KIM_URL, params={"terug": value, "afnemer": NOORD})
        assert page.status_code == 200, value
        assert back_link(page.text) == "/toegangsrechten", value
        assert "evil" not in page.text, value  # not carried in the forms either
        version = page.text.split('name="version" value="')[1].split('"')[0]
        saved = client.post(KIM_URL, data={"csrf": csrf_of(page.text), "afnemer": NOORD, "version": version,
                                           "product": [], "terug": value}, follow_redirects=False)
        assert saved.status_code == 303, value
        assert saved.headers["location"] == f"{KIM_URL}?afnemer={NOORD}", value
    # The rule itself: only a path of this site.
    for value in foreign:
        assert local_path(value, "") == "", value
    assert local_path("/organisaties-onder-beheer?q=kim", "") == "/organisaties-onder-beheer?q=kim"


def test_afnemer_is_the_one_word_for_the_client(client: TestClient, world: World) -> None:
    build(world)
    sync(client)
    login(client, BEHEERDER)
    pages = {path: visible(client.get(path).text).lower()
             for path in ["/toegangsrechten", CLIENTS, KIM_URL, f"{KIM_URL}?afnemer={NOORD}&terug={CLIENTS}"]}
    for path, text in pages.items():
        for word in OTHER_WORDS:
            assert word not in text, (path, word)
    assert "afnemer" in pages[CLIENTS]
    assert "afnemer" in pages[KIM_URL]


def test_names_not_codes(client: TestClient, world: World) -> None:
    build(world)
    world.grant(KIM, NOORD, ["verzuim"])
    sync(client)
    login(client, BEHEERDER)
    user = visible(client.get(KIM_URL, params={"afnemer": NOORD}).text)
    assert "Verzuimregistratie" in user
    assert not re.search(r"\bverzuim\b", user, flags=re.I)  # the code neither in brackets nor as a label
    assert "(verzuim)" not in user
    for path in [CLIENTS, KIM_URL, "/account"]:
        text = visible(client.get(path).text)
        assert "KvK" not in text, path
        for kvk in (INTERMEDIAIR, NOORD, ZUID):
            assert kvk not in text, (path, kvk)
    assert "Salarisbureau Midden" in visible(client.get("/account").text)
