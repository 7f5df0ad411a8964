"""R17: an account's second factor and its recovery codes in SQL. Using a code is one conditional UPDATE, so two
log-ins racing with the same code cannot both succeed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from authz.store.schema import Account, MfaFactor, RecoveryCode


def factor(s: Session, account_id: int) -> MfaFactor | None:
    return s.get(MfaFactor, account_id)


def active(s: Session, account_id: int) -> MfaFactor | None:
    """The account's confirmed factor, or None."""
    f = s.get(MfaFactor, account_id)
    return f if f is not None and f.status == "active" else None


def start(s: Session, account_id: int, sealed: str, now: datetime) -> None:
    """A pending factor with a new secret, in place of a pending one (an active one is the caller's to refuse)."""
    s.execute(delete(MfaFactor).where(MfaFactor.account_id == account_id))
    s.add(MfaFactor(account_id=account_id, secret=sealed, status="pending", created_at=now))
    s.flush()


def activate(s: Session, f: MfaFactor, step: int | None, code_hashes: list[str], now: datetime) -> None:
    """Confirm the factor; ``step`` is the time step of the confirming code (used up), None when none was given."""
    f.status, f.confirmed_at, f.last_step = "active", now, step
    s.execute(delete(RecoveryCode).where(RecoveryCode.account_id == f.account_id))
    s.add_all(RecoveryCode(account_id=f.account_id, code_hash=h) for h in code_hashes)
    s.flush()


def use_step(s: Session, account_id: int, step: int) -> bool:
    """Record ``step`` as used, if it is later than the last one used; whether it was."""
    done = s.execute(update(MfaFactor)
                     .where(MfaFactor.account_id == account_id, MfaFactor.status == "active",
                            (MfaFactor.last_step.is_(None)) | (MfaFactor.last_step < step))
                     .values(last_step=step))
    return bool(getattr(done, "rowcount", 0))


def unused_codes(s: Session, account_id: int) -> list[RecoveryCode]:
    return list(s.scalars(select(RecoveryCode).where(RecoveryCode.account_id == account_id,
                                                     RecoveryCode.used_at.is_(None)).order_by(RecoveryCode.id)))


def count_unused(s: Session, account_id: int) -> int:
    return int(s.scalar(select(func.count()).select_from(RecoveryCode)
                        .where(RecoveryCode.account_id == account_id, RecoveryCode.used_at.is_(None))) or 0)


def use_code(s: Session, code_id: int, now: datetime) -> bool:
    """Mark a recovery code used, if it was not; whether it was."""
    done = s.execute(update(RecoveryCode).where(RecoveryCode.id == code_id, RecoveryCode.used_at.is_(None))
                     .values(used_at=now))
    return bool(getattr(done, "rowcount", 0))


def remove(s: Session, account_id: int) -> bool:
    """Remove the account's factor (pending or active) and its recovery codes; whether there was one."""
    s.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    done = s.execute(delete(MfaFactor).where(MfaFactor.account_id == account_id))
    return bool(getattr(done, "rowcount", 0))


def enrolled_in(s: Session, org: str) -> set[str]:
    """The e-mails of the organisation's accounts with a confirmed factor (one query)."""
    return set(s.scalars(select(Account.email).join(MfaFactor, MfaFactor.account_id == Account.id)
                         .where(Account.org == org, MfaFactor.status == "active")))
