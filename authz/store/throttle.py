"""The SQL counter of log-in attempts behind :class:`authz.cache.throttle.Throttle` (table ``login_failures``).

An attempt is counted atomically (``INSERT … ON CONFLICT DO UPDATE … RETURNING``), so parallel guesses cannot slip
past the limit between a check and a count. Fail-closed: when SQL cannot count, 503 ``throttle_unavailable``.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from authz.errors import Unavailable
from authz.store.db import Database
from authz.store.schema import LoginFailures

log = logging.getLogger(__name__)

PURGE_EVERY = 100  # about one hit in this many also clears rows of past windows
_UNAVAILABLE = "Log-in is not possible now; try again later."


class SqlCounter:
    """Counts in ``login_failures``, one row per key. The throttles on one counter use windows of different
    lengths (log-ins, registrations, the marks of known accounts), so a row is removed only once its window started
    ``keep`` seconds before the current hit's: ``keep`` is the longest any key needs."""

    name = "sql"

    def __init__(self, db: Database, keep: int) -> None:
        self.db, self.keep = db, timedelta(seconds=keep)

    def hit(self, key: str, window_start: datetime, ttl: int) -> int:
        dialect = postgresql if self.db.engine.dialect.name == "postgresql" else sqlite
        ins = dialect.insert(LoginFailures).values(key=key, window_start=window_start, failures=1)
        same = LoginFailures.window_start == window_start
        stmt = ins.on_conflict_do_update(index_elements=[LoginFailures.key], set_={
            "failures": case((same, LoginFailures.failures + 1), else_=1), "window_start": window_start,
        }).returning(LoginFailures.failures)
        try:
            with self.db.tx(actor="throttle") as t:
                if secrets.randbelow(PURGE_EVERY) == 0:
                    t.s.execute(delete(LoginFailures).where(LoginFailures.window_start < window_start - self.keep))
                return int(t.s.execute(stmt).scalar_one())
        except SQLAlchemyError as exc:
            log.error("could not count a log-in attempt: %s", exc)
            raise Unavailable("throttle_unavailable", _UNAVAILABLE) from exc

    def peek(self, key: str, window_start: datetime) -> int:
        try:
            with self.db.read() as s:
                found = s.scalar(select(LoginFailures.failures).where(LoginFailures.key == key,
                                                                      LoginFailures.window_start == window_start))
        except SQLAlchemyError as exc:
            log.error("could not read a log-in count: %s", exc)
            raise Unavailable("throttle_unavailable", _UNAVAILABLE) from exc
        return int(found or 0)

    def forgive(self, key: str, window_start: datetime) -> None:
        with self.db.tx(actor="throttle") as t:
            t.s.execute(update(LoginFailures)
                        .where(LoginFailures.key == key, LoginFailures.window_start == window_start,
                               LoginFailures.failures > 0)
                        .values(failures=LoginFailures.failures - 1))
