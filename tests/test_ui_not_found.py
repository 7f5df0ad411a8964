"""An unknown address asked by a browser answers the portal's Dutch 404 page; JSON clients keep the JSON 404 (and
the API its 405), through the TestClient on SQLite and PostgreSQL."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import login, sync
from tests.factories import World
from tests.ui.helpers import check_page

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_a_browser_gets_the_dutch_404_page(client: TestClient) -> None:
    r = client.get("/bestaat-niet", headers=HTML)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    check_page(r.text)
    assert "<h1>Niet gevonden</h1>" in r.text and "Deze pagina bestaat niet" in r.text
    assert r.headers["X-Frame-Options"] == "DENY"
    assert client.get("/toegangsrechten/a@b.nl/iets/anders", headers=HTML).status_code == 404


def test_a_logged_in_browser_keeps_its_menu_on_the_404_page(client: TestClient, world: World) -> None:
    world.org("11111111")
    world.beheerder("anna@bakkerij.nl", "11111111")
    sync(client)
    login(client, "anna@bakkerij.nl")
    r = client.get("/geen/pagina", headers=HTML)
    assert r.status_code == 404 and 'href="/audit"' in r.text


def test_json_clients_and_the_api_keep_the_json_404(client: TestClient) -> None:
    for path, headers in [("/bestaat-niet", {}), ("/bestaat-niet", {"Accept": "application/json"}),
                          ("/v1/bestaat-niet", HTML), ("/access/v1/niets", HTML)]:
        r = client.get(path, headers=headers)
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == "not_found", path
    assert client.post("/bestaat-niet", headers=HTML).status_code == 404


def test_an_existing_path_keeps_its_answer_and_a_buttons_address_says_405(client: TestClient) -> None:
    assert client.get("/inloggen", headers=HTML).status_code == 200
    assert client.get("/v1/check", headers=HTML).status_code == 405  # the API's own 405, as JSON
    assert client.get("/v1/check", headers=HTML).json()["error"]["code"] == "method_not_allowed"
    r = client.get("/uitloggen", headers=HTML)
    assert r.status_code == 405 and "Dit is geen pagina" in r.text and "POST" in r.headers["Allow"]
    assert client.get("/healthz").status_code == 200


def test_a_missing_file_and_a_pages_address_with_another_method_are_dutch_pages_too(client: TestClient) -> None:
    """What a mount or route refuses itself (a file under /static, POST to a page): the portal's page, not JSON."""
    r = client.get("/static/none.css", headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    check_page(r.text)
    assert "<h1>Niet gevonden</h1>" in r.text and r.headers["X-Frame-Options"] == "DENY"
    r = client.post("/producten", headers=HTML)
    assert r.status_code == 405 and r.headers["content-type"].startswith("text/html")
    assert "Dit is geen pagina" in r.text and r.headers["Allow"] == "GET, HEAD"
    r = client.post("/bestaat-niet", headers=HTML)
    assert r.status_code == 404 and "<h1>Niet gevonden</h1>" in r.text
    # JSON clients, and the API for anyone, keep the JSON answers
    assert client.get("/static/none.css").json()["error"]["code"] == "not_found"
    assert client.post("/producten", json={}).json()["error"]["code"] == "method_not_allowed"
    assert client.get("/static/style.css", headers=HTML).status_code == 200
    r = client.post("/v1/session/products", headers=HTML)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
