"""Small factories for test data, written through the store like any other change."""

from __future__ import annotations

import os
from datetime import date
from functools import cache

from authz.passwords import hash_password
from authz.store import accounts, catalogue, grants
from authz.store.db import Database
from authz.store.schema import Account

PG_ADMIN_URL = os.environ.get("AUTHZ_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("AUTHZ_TEST_REDIS", "redis://127.0.0.1:6379/0")
PASSWORD = "correct horse battery staple"


@cache
def password_hash() -> str:
    return hash_password(PASSWORD)


class World:
    """Builds organisations, products, contracts, mandates, accounts and grants, each in its own transaction."""

    def __init__(self, db: Database, actor: str = "test") -> None:
        self.db = db
        self.actor = actor

    def org(self, kvk: str, name: str | None = None, domains: list[str] | None = None,
            status: str = "verified") -> str:
        with self.db.tx(self.actor) as t:
            catalogue.create_org(t, kvk, name or f"Organisatie {kvk}", domains, status)
        return kvk

    def product(self, code: str, name: str | None = None) -> str:
        with self.db.tx(self.actor) as t:
            catalogue.create_product(t, code, name or code.replace("-", " ").title())
        return code

    def contract(self, afnemer: str, product: str, valid_from: date = date(2026, 1, 1),
                 valid_until: date | None = None) -> None:
        with self.db.tx(self.actor) as t:
            catalogue.put_contract(t, afnemer, product, valid_from, valid_until)

    def mandate(self, afnemer: str, intermediair: str, products: list[str] | None = None,
                valid_from: date = date(2026, 1, 1), valid_until: date | None = None) -> None:
        with self.db.tx(self.actor) as t:
            catalogue.put_mandate(t, afnemer, intermediair, products, valid_from, valid_until)

    def account(self, email: str, org: str | None, status: str = "active", roles: tuple[str, ...] = (),
                name: str = "") -> str:
        with self.db.tx(self.actor) as t:
            accounts.create(t, email, org, password_hash(), status, name=name, role_set=set(roles))
        return email.lower()

    def beheerder(self, email: str, org: str) -> str:
        return self.account(email, org, roles=("beheerder",))

    def operator(self, email: str = "operator@gegevensdiensten.nl") -> str:
        return self.account(email, None, roles=("operator",))

    def grant(self, email: str, afnemer: str, products: list[str], by: str = "test") -> None:
        with self.db.tx(by) as t:
            a = accounts.get(t, email)
            grants.replace(t, a, afnemer, set(products), None)

    def set_status(self, email: str, status: str) -> None:
        with self.db.tx(self.actor) as t:
            accounts.set_status(t, accounts.get(t, email), status)

    def get_account(self, email: str) -> Account:
        with self.db.tx(self.actor) as t:
            return accounts.get(t, email)
