"""The client address that throttling counts: the peer's, unless the peer is a trusted proxy
(``AUTHZ_TRUSTED_PROXIES``), whose ``X-Forwarded-For`` is then walked from the right. Through a real ``authz serve``
on loopback (uvicorn must not rewrite the client from headers either) and through the app with and without the
setting."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from authz.app import create_app
from authz.clock import FrozenClock
from authz.config import Settings, SettingsError, networks
from authz.identity import client_address
from tests.factories import World
from tests.instances import Instance
from tests.mailbox import error_of

PROXIES = networks("10.0.0.0/8, 192.168.1.7, 2001:db8::/32")


def spray(client: TestClient, n: int, forwarded: Any = None) -> list[int]:
    """``n`` failed log-ins, each for another account; ``forwarded(i)`` gives each its X-Forwarded-For."""
    statuses = []
    for i in range(n):
        headers = {"X-Forwarded-For": forwarded(i)} if forwarded else {}
        r = client.post("/v1/session", json={"email": f"gok{i}@korenschoof.nl", "password": "verkeerd wachtwoord"},
                        headers=headers)
        statuses.append(r.status_code)
    return statuses


def rotating(i: int) -> str:
    return f"203.0.113.{i % 250 + 1}"


def test_a_rotating_forwarded_header_from_loopback_is_not_believed_by_authz_serve(sqlite_url: str) -> None:
    instance = Instance({"AUTHZ_DATABASE_URL": sqlite_url, "AUTHZ_SECRET_KEY": "proxy-test",
                         "AUTHZ_LOGIN_FAILURES_PER_ADDRESS": "10"}, "proxy")
    try:
        instance.wait_ready()
        statuses = spray(instance.client, 12, rotating)  # type: ignore[arg-type]
    finally:
        instance.stop()
    assert statuses == [401] * 10 + [429] * 2


def test_a_malformed_trusted_proxies_setting_stops_the_start() -> None:
    with pytest.raises(SettingsError, match=re.escape("AUTHZ_TRUSTED_PROXIES: '10.0.0.0/33'")):
        Settings.from_env({"AUTHZ_TRUSTED_PROXIES": "10.0.0.1, 10.0.0.0/33"})
    done = subprocess.run([sys.executable, "-m", "authz.cli", "serve", "--port", "1"], capture_output=True, text=True,
                          env={"AUTHZ_TRUSTED_PROXIES": "proxy.example", "AUTHZ_SECRET_KEY": "x", "PATH": ""},
                          timeout=60)
    assert done.returncode == 2
    assert "AUTHZ_TRUSTED_PROXIES: 'proxy.example' is not an IP address or network" in done.stderr


def request(peer: str, *forwarded: str, trusted: Any = PROXIES) -> Request:
    app = SimpleNamespace(authz=SimpleNamespace(settings=Settings(trusted_proxies=trusted)))
    headers = [(b"x-forwarded-for", f.encode()) for f in forwarded]
    return Request({"type": "http", "app": app, "client": (peer, 50000), "headers": headers})


@pytest.mark.parametrize(("peer", "forwarded", "trusted", "client"), [
    ("10.0.0.5", ["198.51.100.1"], (), "10.0.0.5"),  # no setting: the peer
    ("198.51.100.9", ["198.51.100.1"], PROXIES, "198.51.100.9"),  # an untrusted peer's header is not read
    ("10.0.0.5", [], PROXIES, "10.0.0.5"),  # a trusted peer without the header: the peer
    ("10.0.0.5", ["198.51.100.1"], PROXIES, "198.51.100.1"),
    ("10.0.0.5", ["1.1.1.1, 198.51.100.1, 192.168.1.7, 10.2.3.4"], PROXIES, "198.51.100.1"),  # past trusted hops
    ("10.0.0.5", ["1.1.1.1", "198.51.100.1"], PROXIES, "198.51.100.1"),  # several header lines: one list
    ("10.0.0.5", ["10.9.9.9, 10.8.8.8"], PROXIES, "10.9.9.9"),  # trusted all the way: the furthest hop
    ("10.0.0.5", ["198.51.100.1, gibberish"], PROXIES, "10.0.0.5"),  # not an address: the last trusted hop
    ("10.0.0.5", ["198.51.100.1, 192.168.1.8"], PROXIES, "192.168.1.8"),  # the next address, not its network
    ("::ffff:10.0.0.5", ["2001:db8::1, 2001:db9::2"], PROXIES, "2001:db9::2"),  # v4 on a dual-stack socket
])
def test_the_client_is_the_first_untrusted_hop_from_the_right(peer: str, forwarded: list[str], trusted: Any,
                                                              client: str) -> None:
    assert client_address(request(peer, *forwarded, trusted=trusted)) == client


@pytest.fixture
def proxied(settings: Settings, clock: FrozenClock, world: World, service_key: str,
            request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """The app with a per-address limit of 5, as reached from a load balancer at 10.0.0.2; the test's parameter
    says whether that balancer is in AUTHZ_TRUSTED_PROXIES."""
    limited = dataclasses.replace(settings, login_failures_per_address=5,
                                  trusted_proxies=PROXIES if request.param else ())
    with TestClient(create_app(limited, clock), base_url="http://testserver", client=("10.0.0.2", 40000)) as c:
        yield c


@pytest.mark.parametrize("proxied", [False], indirect=True)
def test_without_the_setting_everyone_behind_the_balancer_is_one_address(proxied: TestClient) -> None:
    assert spray(proxied, 7, rotating) == [401] * 5 + [429] * 2


@pytest.mark.parametrize("proxied", [True], indirect=True)
def test_behind_a_trusted_balancer_each_client_counts_on_its_own(proxied: TestClient) -> None:
    assert spray(proxied, 7, rotating) == [401] * 7
    # a client that writes the header itself is still counted at the address the balancer saw
    statuses = spray(proxied, 7, lambda i: f"{rotating(i)}, 198.51.100.77")
    assert statuses == [401] * 5 + [429] * 2
    r = proxied.post("/v1/session", json={"email": "gok1@korenschoof.nl", "password": "x"},
                     headers={"X-Forwarded-For": "198.51.100.77"})
    assert (r.status_code, error_of(r)) == (429, "too_many_attempts")
