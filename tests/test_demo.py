"""`authz demo`: the small demo world, and the synthetic world of `authz demo --grants N`, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import random
from datetime import date
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz import cli, policy
from authz.app import create_app
from authz.clock import FrozenClock
from authz.config import Settings
from authz.decider import Decider
from authz.demo import ACCOUNTS, DEMO_PASSWORD, demo_code, load_demo
from authz.domain.access import Reason
from authz.events import Reload
from authz.passwords import verify
from authz.store import policystate
from authz.store.db import Database
from authz.store.schema import (
    Account,
    Audit,
    CasbinRule,
    Contract,
    Grant,
    Mandate,
    MfaFactor,
    Organisation,
    Outbox,
    Role,
    ServiceKey,
)
from authz.store.snapshot import read_snapshot
from authz.synthetic import SYNTHETIC_PASSWORD, load_synthetic
from tests.conftest import sync

JOOST = "joost.bakker@korenschoof.nl"
SANNE = "sanne.jansen@salarisnoord.nl"
KORENSCHOOF = "34567812"


def count(db: Database, table: type, *where: Any) -> int:
    with db.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def decider_of(db: Database, clock: FrozenClock) -> Decider:
    d = Decider(clock)
    d.load(read_snapshot(db))
    return d


def test_demo_loads_a_believable_world_and_prints_how_to_log_in(db: Database, settings: Settings,
                                                                 clock: FrozenClock) -> None:
    out = io.StringIO()
    result = load_demo(db, settings, out)
    assert result.created and result.key_name == "demo-1"
    text = out.getvalue()
    for email, *_ in ACCOUNTS:
        assert email in text
    assert DEMO_PASSWORD in text and result.key in text and f"{settings.base_url}/v1/check" in text

    d = decider_of(db, clock)
    assert d.keys[hashlib.sha256(result.key.encode()).hexdigest()] == "demo-1"
    assert d.check(JOOST, "polisadministratie").allowed
    assert d.check(JOOST, "loongegevens").reason is Reason.NO_CONTRACT  # the inert grant
    assert d.check(SANNE, "verzuimmeldingen", KORENSCHOOF).allowed  # under the mandate
    assert d.check(SANNE, "loongegevens", KORENSCHOOF).reason is Reason.NO_CONTRACT
    assert d.check(SANNE, "polisadministratie", KORENSCHOOF).reason is Reason.NO_GRANT  # not in the mandate
    assert d.check(SANNE, "werkgeversgegevens").allowed  # the payroll office is an afnemer too
    with db.engine.connect() as c:
        hashes = c.execute(sa.select(Account.email, Account.password_hash)).all()
        beheerders = c.execute(sa.select(Account.org).join(Role, Role.account_id == Account.id)
                               .where(Role.role == "beheerder")).scalars().all()
    assert len(hashes) == len(ACCOUNTS) and all(verify(h, DEMO_PASSWORD) for _, h in hashes)
    assert sorted(beheerders) == [KORENSCHOOF, "52817364", "61238475"]
    assert count(db, Outbox) == 0


def test_demo_a_second_time_changes_nothing_but_a_new_key(db: Database, settings: Settings) -> None:
    load_demo(db, settings, io.StringIO())
    tables = (Organisation, Contract, Mandate, Account, Grant, CasbinRule)
    before = [count(db, t) for t in tables]
    out = io.StringIO()
    again = load_demo(db, settings, out)
    assert not again.created and again.key_name == "demo-2"
    assert "already there" in out.getvalue() and JOOST in out.getvalue() and again.key in out.getvalue()
    assert [count(db, t) for t in tables] == before
    assert count(db, ServiceKey) == 2


def test_the_demo_command_runs_twice(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUTHZ_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("AUTHZ_SECRET_KEY", "test-secret")
    assert cli.main(["demo"]) == 0
    assert "Demo data loaded" in capsys.readouterr().out
    assert cli.main(["demo"]) == 0
    assert "already there" in capsys.readouterr().out


def _valid(window: tuple[date, date | None], today: date) -> bool:
    return window[0] <= today and (window[1] is None or today <= window[1])


def test_synthetic_world_has_the_counts_the_lines_and_the_decisions(db: Database, clock: FrozenClock) -> None:
    out = io.StringIO()
    result = load_synthetic(db, 3000, seed=7, stream=out)
    assert "writing [" in out.getvalue() and SYNTHETIC_PASSWORD in out.getvalue()
    assert result.grants == count(db, Grant) == 3000
    assert result.accounts == count(db, Account) > 300
    assert result.organisations == count(db, Organisation) >= 75
    assert result.contracts == count(db, Contract) and result.mandates == count(db, Mandate) > 0
    assert result.casbin_lines == count(db, CasbinRule)
    assert count(db, CasbinRule, CasbinRule.ptype == "p") == 3000
    assert count(db, CasbinRule, CasbinRule.ptype == "g2") == result.contracts
    assert count(db, CasbinRule, CasbinRule.ptype == "g", CasbinRule.v1 == "active") == count(
        db, Account, Account.status == "active")
    # one beheerder per organisation (R4), one revision, one change event
    assert count(db, Role) == result.organisations
    assert db.revision() == result.revision == 1
    assert db.changes_since(0) == [(1, [Reload()])]
    # the audit records of every fact, at that revision (and one that sums the load up): the trail alone
    # rebuilds the world, as it does one made through the use cases (R12)
    assert count(db, Audit, Audit.revision != 1) == 0
    assert count(db, Audit, Audit.action == "demo.synthetic") == 1
    with db.read() as s:
        assert policystate.replay(s, clock.now()) == policystate.current(s)

    with db.engine.connect() as c:
        accounts = {e: (o, s) for e, o, s in c.execute(sa.select(Account.email, Account.org, Account.status))}
        contracts = {(a, p): (f, u) for a, p, f, u in c.execute(
            sa.select(Contract.afnemer, Contract.product, Contract.valid_from, Contract.valid_until))}
        mandates = {(a, i): (f, u, ps) for a, i, f, u, ps in c.execute(
            sa.select(Mandate.afnemer, Mandate.intermediair, Mandate.valid_from, Mandate.valid_until,
                      Mandate.products))}
        rows = c.execute(sa.select(Account.email, Grant.afnemer, Grant.product)
                         .join(Account, Account.id == Grant.account_id)).all()
        p_lines = {tuple(r) for r in c.execute(sa.select(CasbinRule.v0, CasbinRule.v1, CasbinRule.v2)
                                               .where(CasbinRule.ptype == "p"))}
    today = clock.today()
    d = decider_of(db, clock)
    outcomes = set()
    for email, afnemer, product in random.Random(1).sample(rows, 400):
        org, status = accounts[email]
        mandate = mandates.get((afnemer, org))
        expected = (status == "active" and _valid(contracts[(afnemer, product)], today)
                    and (org == afnemer or (mandate is not None and _valid(mandate[:2], today)
                                            and (mandate[2] is None or product in mandate[2]))))
        decision = d.check(email, product, afnemer)
        assert decision.allowed is expected, (email, afnemer, product, decision)
        assert (email, afnemer, product) in p_lines
        outcomes.add(decision.reason)
    # the world holds inert grants and intermediairs, not only plain allows
    assert {Reason.GRANTED, Reason.NO_CONTRACT} <= outcomes
    assert any(org != afnemer for email, afnemer, _ in rows for org in [accounts[email][0]])


def test_synthetic_lines_decide_as_the_casbin_model(db: Database, clock: FrozenClock) -> None:
    """casbin_rule, read back, is the policy: Casbin itself decides as the decider does."""
    load_synthetic(db, 600, seed=3, stream=io.StringIO())
    with db.engine.connect() as c:
        lines = [tuple(v for v in r if v is not None) for r in c.execute(
            sa.select(CasbinRule.ptype, CasbinRule.v0, CasbinRule.v1, CasbinRule.v2))]
        rows = c.execute(sa.select(Account.email, Account.org, Grant.afnemer, Grant.product)
                         .join(Account, Account.id == Grant.account_id)).all()
    reference = policy.Reference(lines)
    d = decider_of(db, clock)
    for email, org, afnemer, product in random.Random(2).sample(rows, 60):
        stage = reference.stage(email, org, afnemer, product, clock.today())
        decision = d.check(email, product, afnemer)
        assert (stage.reason == "granted") is decision.allowed, (email, afnemer, product, stage, decision)


def test_synthetic_adds_up_to_n_grants_beside_the_demo(db: Database, settings: Settings) -> None:
    load_demo(db, settings, io.StringIO())
    demo_grants = count(db, Grant)
    first = load_synthetic(db, 1000, seed=1, stream=io.StringIO())
    assert first.grants == 1000 - demo_grants and count(db, Grant) == 1000
    revision = db.revision()
    nothing = load_synthetic(db, 1000, seed=1, stream=io.StringIO())
    assert nothing.grants == 0 and db.revision() == revision
    more = load_synthetic(db, 1500, seed=1, stream=io.StringIO())  # new organisations after the old ones
    assert more.grants == 500 and count(db, Grant) == 1500
    assert count(db, Organisation) == 3 + first.organisations + more.organisations


def test_a_running_instance_reloads_after_a_synthetic_load(client: TestClient, db: Database) -> None:
    load_synthetic(db, 800, seed=5, stream=io.StringIO())
    sync(client)
    st: Any = client.app.state.authz  # type: ignore[attr-defined]
    assert st.decider.stats()["grants"] == 800
    assert st.decider.revision == db.revision()


def test_the_demo_enrols_its_beheerders_and_operator_and_prints_their_uris(db: Database, settings: Settings,
                                                                          clock: FrozenClock) -> None:
    """R17 under the default policy: a newcomer logs in as a beheerder with the code `authz demo code` prints."""
    admins = dataclasses.replace(settings, mfa_required="admins")
    out = io.StringIO()
    load_demo(db, admins, out)
    text = out.getvalue()
    enrolled = [email for email, _, _, roles, _ in ACCOUNTS if roles]
    assert len(enrolled) == 4 and "authz demo code EMAIL" in text
    uris = [line.strip() for line in text.splitlines() if line.strip().startswith("otpauth://totp/")]
    assert [unquote(urlsplit(u).path).rpartition(":")[2] for u in uris] == enrolled
    assert count(db, MfaFactor) == 4
    with TestClient(create_app(admins, clock), base_url="http://testserver") as c:
        anna = {"email": "anna.devries@korenschoof.nl", "password": DEMO_PASSWORD}
        assert c.post("/v1/session", json=anna).json()["error"]["code"] == "mfa_required"
        r = c.post("/v1/session", json={**anna, "otp": demo_code(anna["email"], admins, clock.now())})
        assert r.status_code == 200, r.text
        assert c.get(f"/v1/orgs/{KORENSCHOOF}/users").status_code == 200
        c.cookies.clear()
        assert c.post("/v1/session", json={"email": JOOST, "password": DEMO_PASSWORD}).status_code == 200
    # a second run prints the same URIs and changes nothing
    again = io.StringIO()
    load_demo(db, admins, again)
    assert [line.strip() for line in again.getvalue().splitlines() if "otpauth://" in line] == uris


def test_the_demo_enrols_nobody_without_the_policy(db: Database, settings: Settings) -> None:
    out = io.StringIO()
    load_demo(db, settings, out)  # the settings fixture: AUTHZ_MFA_REQUIRED=none
    assert "otpauth://" not in out.getvalue() and count(db, MfaFactor) == 0


def test_the_code_command_knows_only_the_demo_accounts(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUTHZ_SECRET_KEY", "test-secret")
    monkeypatch.delenv("AUTHZ_MFA_REQUIRED", raising=False)
    assert cli.main(["demo", "code", "operator@gegevensdiensten.nl"]) == 0
    out, err = capsys.readouterr()
    assert out.strip().isdigit() and len(out.strip()) == 6 and "demo accounts only" in err
    assert cli.main(["demo", "code", "someone@korenschoof.nl"]) == 1
    assert "not a demo account" in capsys.readouterr().err
    assert cli.main(["demo", "code", JOOST]) == 1  # a plain user has no factor under the default policy
    monkeypatch.setenv("AUTHZ_MFA_REQUIRED", "none")
    assert cli.main(["demo", "code", "operator@gegevensdiensten.nl"]) == 1
    assert "log in without a code" in capsys.readouterr().err
