"""The SQL schema: one table per noun of the spec, plus the revision, change log, audit trail and outbox.

The domain tables are the source of truth. ``casbin_rule`` is the Casbin view of the same facts, written in the
same transaction by :mod:`authz.store.projection`, so that a reviewer (and the Casbin engine, through the
SQLAlchemy adapter) reads exactly the policy that decides.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

KVK = String(8)
CODE = String(63)
EMAIL = String(254)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database (SQLite hands back naive values otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Instant(TypeDecorator[datetime]):
    """A UTC instant: ``timestamptz`` on PostgreSQL; whole microseconds since the epoch on SQLite, so that the
    decision log's writer can compute it in SQL from the journal's seconds (authz.store.decisionlog)."""

    impl = DateTime(timezone=True)
    cache_ok = True
    _EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(BigInteger() if dialect.name == "sqlite" else DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if dialect.name == "sqlite":
            return (value - self._EPOCH) // timedelta(microseconds=1)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return self._EPOCH + timedelta(microseconds=int(value))
        assert isinstance(value, datetime)
        return value.astimezone(UTC)


class HexId(TypeDecorator[str]):
    """A trace or span id, given and read as lower-case hex: its bytes on PostgreSQL (``bytea``), its hex text on
    SQLite (whose ``unhex`` is too new to count on)."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(Text() if dialect.name == "sqlite" else LargeBinary())

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "sqlite":
            return value
        return bytes.fromhex(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return value if isinstance(value, str) else bytes(value).hex()


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Organisation(Base):
    __tablename__ = "organisations"
    kvk: Mapped[str] = mapped_column(KVK, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # pending | verified
    domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column()


class Product(Base):
    __tablename__ = "products"
    code: Mapped[str] = mapped_column(CODE, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # R16: where the gebruiker finds the product (the download service, say); https only (authz.values.https_url).
    url: Mapped[str | None] = mapped_column(String(2000), nullable=True, default=None)
    created_at: Mapped[datetime] = mapped_column()


class Contract(Base):
    __tablename__ = "contracts"
    afnemer: Mapped[str] = mapped_column(KVK, ForeignKey("organisations.kvk"), primary_key=True)
    product: Mapped[str] = mapped_column(CODE, ForeignKey("products.code"), primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[datetime] = mapped_column()


class Mandate(Base):
    __tablename__ = "mandates"
    afnemer: Mapped[str] = mapped_column(KVK, ForeignKey("organisations.kvk"), primary_key=True)
    intermediair: Mapped[str] = mapped_column(KVK, ForeignKey("organisations.kvk"), primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    # None: every product of the afnemer, also those contracted later; else the sorted subset.
    products: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column()
    __table_args__ = (Index("ix_mandates_intermediair", "intermediair"),)


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(EMAIL, unique=True)  # always stored lower-case
    name: Mapped[str] = mapped_column(String(200), default="")
    # None for operators (staff of the provider).
    org: Mapped[str | None] = mapped_column(KVK, ForeignKey("organisations.kvk"), nullable=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # approved | active | inactive
    grants_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column()
    activated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Role(Base):
    __tablename__ = "roles"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)  # beheerder | operator


class Grant(Base):
    __tablename__ = "grants"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    afnemer: Mapped[str] = mapped_column(KVK, ForeignKey("organisations.kvk"), primary_key=True)
    product: Mapped[str] = mapped_column(CODE, ForeignKey("products.code"), primary_key=True)
    granted_by: Mapped[str] = mapped_column(EMAIL)
    granted_at: Mapped[datetime] = mapped_column()
    __table_args__ = (Index("ix_grants_afnemer_product", "afnemer", "product"),)


class AccountRequest(Base):
    """A request for an account: self-registration (R5/R6) or an accepted invitation (R7)."""

    __tablename__ = "account_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(EMAIL, index=True)
    kvk: Mapped[str] = mapped_column(KVK)
    organisation_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # registration | invitation
    # pending_operator | pending_beheerder | approved | rejected
    status: Mapped[str] = mapped_column(String(24), index=True)
    created_at: Mapped[datetime] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_by: Mapped[str | None] = mapped_column(EMAIL, nullable=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)


class Token(Base):
    """Single-use links (activation, invitation, password reset); only a hash of the token is kept."""

    __tablename__ = "tokens"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))  # activation | invitation | reset
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True)
    email: Mapped[str | None] = mapped_column(EMAIL, nullable=True)
    kvk: Mapped[str | None] = mapped_column(KVK, nullable=True)
    created_by: Mapped[str | None] = mapped_column(EMAIL, nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (Index("ix_tokens_account_purpose", "account_id", "purpose"),)


class Invitation(Base):
    """R7: a beheerder invited a business e-mail; the invitee accepts through the link (a ``tokens`` row whose hash
    is ``token_hash``), which makes an account request for the beheerders."""

    __tablename__ = "invitations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(EMAIL, index=True)
    kvk: Mapped[str] = mapped_column(KVK, ForeignKey("organisations.kvk"), index=True)
    invited_by: Mapped[str] = mapped_column(EMAIL)
    token_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # open | accepted | withdrawn
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("account_requests.id"), nullable=True)


class LoginFailures(Base):
    """Failed log-ins per key (``account:<email>`` or ``address:<ip>``) in the current fixed window."""

    __tablename__ = "login_failures"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[datetime] = mapped_column()
    failures: Mapped[int] = mapped_column(Integer)


class Session(Base):
    __tablename__ = "sessions"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()


class MfaFactor(Base):
    """R17: an account's TOTP factor. ``secret`` is sealed (:mod:`authz.secretbox`); ``last_step`` is the time step
    of the last code accepted, so that no code counts twice."""

    __tablename__ = "mfa_factors"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # pending | active
    created_at: Mapped[datetime] = mapped_column()
    confirmed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RecoveryCode(Base):
    """R17: a single-use recovery code of an active factor, as an argon2 hash."""

    __tablename__ = "mfa_recovery_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ServiceKey(Base):
    __tablename__ = "service_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class CasbinRule(Base):
    """The table of the Casbin SQLAlchemy adapter, with the indexes its filtered loads need."""

    __tablename__ = "casbin_rule"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ptype: Mapped[str] = mapped_column(String(255))
    v0: Mapped[str | None] = mapped_column(String(255), nullable=True)
    v1: Mapped[str | None] = mapped_column(String(255), nullable=True)
    v2: Mapped[str | None] = mapped_column(String(255), nullable=True)
    v3: Mapped[str | None] = mapped_column(String(255), nullable=True)
    v4: Mapped[str | None] = mapped_column(String(255), nullable=True)
    v5: Mapped[str | None] = mapped_column(String(255), nullable=True)
    __table_args__ = (
        Index("ix_casbin_rule_ptype_v0", "ptype", "v0"),
        Index("ix_casbin_rule_ptype_v1", "ptype", "v1"),
        Index("ix_casbin_rule_ptype_v2", "ptype", "v2"),
    )

    def __str__(self) -> str:  # the adapter's load_policy formats rules with str()
        values = [self.ptype] + [v for v in (self.v0, self.v1, self.v2, self.v3, self.v4, self.v5) if v is not None]
        return ", ".join(values)


class Revision(Base):
    """One row: the global policy revision, bumped by every committed change (row lock orders writers)."""

    __tablename__ = "revision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class Change(Base):
    """The change log: what each revision changed, so that an instance catches up by replaying it."""

    __tablename__ = "changes"
    revision: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column()
    events: Mapped[list[Any]] = mapped_column(JSON)
    # The revision in effect at an instant (authz.store.policystate.revision_at).
    __table_args__ = (Index("ix_changes_at", "at"),)


class Lease(Base):
    """An instance's lease (R11, see :mod:`authz.store.leases`): while it runs, writers wait for that instance to
    confirm each revision they commit, and the instance answers decisions only while it holds one."""

    __tablename__ = "leases"
    instance: Mapped[str] = mapped_column(String(100), primary_key=True)
    # Seconds since the epoch by the database's clock (PostgreSQL's clock_timestamp(); the one machine's clock for
    # SQLite): every instance and every writer compare against the same clock.
    until: Mapped[float] = mapped_column(Float)
    applied: Mapped[int] = mapped_column(BigInteger)  # the revision the instance had applied when it last said so
    renewed_at: Mapped[float] = mapped_column(Float)


class Audit(Base):
    """Append-only (R12): triggers in the migration refuse UPDATE and DELETE."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(EMAIL)  # an account's e-mail, or "cli:<command>"
    on_behalf_of: Mapped[str | None] = mapped_column(KVK, nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(300))
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    # A decision as of an instant replays only the records about its account, product, contracts and mandates
    # (authz.store.policystate.replay_about): found by subject, up to the instant.
    __table_args__ = (Index("ix_audit_subject_at", "subject", "at"),)


class Outbox(Base):
    """E-mails written in the transaction of the change that causes them; a sender delivers them afterwards."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column()
    to_addr: Mapped[str] = mapped_column(EMAIL)
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), index=True)  # pending | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)


class DecisionRecord(Base):
    """The decision log (:mod:`authz.store.decisionlog`): one row per decision answered, written in batches by each
    instance's writer, never changed, removed after ``AUTHZ_DECISION_LOG_DAYS``. On PostgreSQL the table is
    partitioned by UTC day (the migration, 0007): this declaration is what the queries read, the same on both."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[datetime] = mapped_column(Instant)
    revision: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[int] = mapped_column(SmallInteger)  # authz.store.decisionlog.REASONS
    allowed: Mapped[bool] = mapped_column(Boolean)
    client: Mapped[str] = mapped_column(Text)
    user_email: Mapped[str] = mapped_column(Text)
    product: Mapped[str] = mapped_column(Text)
    afnemer: Mapped[str | None] = mapped_column(Text, nullable=True)
    trace_id: Mapped[str | None] = mapped_column(HexId, nullable=True)
    span_id: Mapped[str | None] = mapped_column(HexId, nullable=True)
    processing_activity_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    algorithm_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    as_of: Mapped[datetime | None] = mapped_column(Instant, nullable=True)  # the instant asked for (0008)


class DecisionJournal(Base):
    """Per journal file of an instance's decision log: the last batch it shipped, written in the same transaction as
    the batch, so that a journal recovered after a crash ships exactly what SQL lacks."""

    __tablename__ = "decision_journals"
    journal: Mapped[str] = mapped_column(String(64), primary_key=True)
    shipped: Mapped[int] = mapped_column(BigInteger)


__all__ = [
    "Account", "AccountRequest", "Audit", "Base", "CasbinRule", "Change", "Contract", "DecisionJournal",
    "DecisionRecord", "Grant", "Invitation",
    "Lease", "LoginFailures", "Mandate", "MfaFactor", "Organisation", "Outbox", "Product", "RecoveryCode", "Revision",
    "Role", "ServiceKey", "Session", "Token", "UniqueConstraint",
]
