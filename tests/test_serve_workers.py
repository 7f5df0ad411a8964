"""``authz serve --workers N``: every worker is an instance of its own, started by uvicorn's supervisor. Link tokens
travel in paths (``/activeren/<token>``, ``/v1/activations/<token>``, …), so no process may write request paths
to its output: uvicorn's access log stays off in every worker, as with one process."""

from __future__ import annotations

import re
import secrets
import time

import httpx2 as httpx

from tests.instances import Instance


def token_paths(token: str) -> list[tuple[str, str]]:
    return [("GET", f"/activeren/{token}"), ("POST", f"/v1/activations/{token}"), ("GET", f"/uitnodiging/{token}"),
            ("GET", f"/wachtwoord-herstellen/{token}"), ("GET", f"/no-such-page/{token}")]


def test_two_workers_serve_and_write_no_token_of_a_path_to_their_output(sqlite_url: str) -> None:
    token = secrets.token_urlsafe(32)
    instance = Instance({"AUTHZ_DATABASE_URL": sqlite_url, "AUTHZ_SECRET_KEY": "workers-test"}, "workers",
                        ["--workers", "2"])
    statuses: set[int] = set()
    try:
        instance.wait_ready(60)
        for _ in range(10):  # a fresh connection each time, so that both workers take some
            for method, path in token_paths(token):
                with httpx.Client(base_url=instance.url, timeout=10) as c:
                    r = c.request(method, path, json={} if method == "POST" else None)
                    statuses.add(r.status_code)
    finally:
        instance.stop()
    time.sleep(0.2)
    out = instance.log.read_text(errors="replace")
    assert statuses and statuses <= {200, 404, 410}, statuses
    assert out.count("Started server process") == 2, out[-3000:]  # both workers' output is in what we read
    assert token not in out, out[-3000:]
    assert "/activeren/" not in out and "/v1/activations/" not in out


def test_without_a_secret_key_the_workers_share_the_one_generated_at_the_start(sqlite_url: str) -> None:
    """A CSRF token made by either worker is accepted by both: one key, generated (and warned about) once."""
    instance = Instance({"AUTHZ_DATABASE_URL": sqlite_url, "AUTHZ_SECRET_KEY": ""}, "workers-key", ["--workers", "2"])
    statuses = []
    try:
        instance.wait_ready(60)
        page = instance.client.get("/inloggen")
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
        assert csrf is not None
        for i in range(12):  # a fresh connection each time, so that both workers take some
            with httpx.Client(base_url=instance.url, timeout=10, cookies=page.cookies) as c:
                r = c.post("/inloggen", data={"csrf": csrf[1], "email": f"iemand{i}@korenschoof.nl",
                                              "password": "niet het wachtwoord"})
                statuses.append(r.status_code)
    finally:
        instance.stop()
    out = instance.log.read_text(errors="replace")
    assert out.count("AUTHZ_SECRET_KEY is not set") == 1, out[-3000:]
    assert statuses == [401] * 12  # the wrong password; never 403 for the form's CSRF token
