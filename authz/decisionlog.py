"""The decision log of one instance: every decision answered is recorded, durably, off the request path.

**The request** only appends a tuple to an in-memory buffer (:meth:`DecisionLog.record`, well under a
microsecond; ``load/decisionlog_cost.py`` measures it). The buffer is bounded (:data:`BUFFER` entries): when the
journal cannot keep up, an entry that does not fit is dropped and counted, never waited for.

**The journal**, a thread of its own that touches nothing but the disk, every :data:`JOURNAL_EVERY` seconds takes
what the buffer holds and appends it as one line (one batch, numbered) to this instance's journal, a file in
``AUTHZ_DECISION_LOG_DIR``, and fsyncs it. Once SQL holds every batch journaled, it starts the file afresh (the
numbers go on); when batches keep coming while each shipment is under way, it writes the file anew with only what
SQL lacks once it passes :data:`COMPACT_BYTES`. So a crash loses at most what was decided since the last fsync, the
last quarter of a second, whatever SQL does meanwhile. The newest journaled batches stay in memory too, as many as
the buffer's size, so the shipper reads the file back only for what SQL fell further behind on.

**The shipper**, a second thread, every :data:`SHIP_EVERY` seconds ships the journaled batches to SQL
(:mod:`authz.store.decisionlog`: the database parses each line's JSON itself) together with the number of the last
one shipped, in one transaction. A batch SQL already holds by that number is skipped: a shipment whose COMMIT
reached the database but whose answer was lost is not written twice. Its statements are bounded in time on
PostgreSQL; a shipper that hangs on a database that does not answer holds up shipping only, never the journal.

**A crash** leaves the journal behind. Each journal is locked (``flock``) by the process writing it, so the next
start of any instance sharing the directory finds it unlocked, ships the batches SQL does not hold yet (by the
number SQL recorded: nothing twice), removes it and says in the log how many entries it recovered and how many
could have been lost at most. A clean stop ships everything and leaves nothing behind.

**SQL down**: batches stay in the journal (on disk, not in memory) up to ``AUTHZ_DECISION_LOG_BACKLOG`` entries;
beyond that new entries are dropped and counted. /metrics and /readyz say how many (:meth:`samples`,
:meth:`figures`).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from authz.clock import Clock
from authz.metrics import Sample
from authz.store import decisionlog as store
from authz.store.db import Database
from authz.store.decisionlog import Batch, Row
from authz.trace import Trace, Traces

if TYPE_CHECKING:
    from authz.decider import Decision

log = logging.getLogger(__name__)

BUFFER = 100_000  # entries in memory between two journal writes: 10 s at 10 000 decisions/s, about 20 MB
JOURNAL_EVERY = 0.25  # seconds between journal writes (each fsynced): what a crash can lose
SHIP_EVERY = 1.0  # seconds between shipments to SQL
SHIP_ROWS = 20_000  # rows per SQL transaction when catching up
# SQLite has one writer at a time, and the decisions share the file with everything else (leases, saves): a
# shipment holds that lock for about 25 µs a row, so it goes in transactions short enough not to hold up a lease's
# renewal or a save for long.
SQLITE_SHIP_ROWS = 2_000
COMPACT_BYTES = 8 << 20  # a journal this large whose oldest batches SQL holds is written anew without them
MAINTAIN_EVERY = 3600.0  # seconds between partition upkeep and retention
PARTITIONS_AHEAD = 2  # days of partitions made ahead of today
WARN_EVERY = 60.0  # seconds between two warnings of the same trouble
_PREFIX, _SUFFIX, _COMPACTING = "decisions-", ".journal", ".compacting"


@dataclass(frozen=True)
class Recovered:
    """What the start-up found in one journal of an instance that ended without shipping it."""

    journal: str
    entries: int  # entries in it
    in_sql: int  # of those, already in SQL (shipped just before the crash)
    shipped: int  # shipped now
    torn: int  # a last line cut short by the crash: never fsynced, so part of what may be lost
    rate: float  # entries per second over its last journaled second


class DecisionLog:
    """One instance's decision log: :meth:`record` on the request path, a writer thread behind it."""

    def __init__(self, db: Database, clock: Clock, directory: Path, days: int, backlog: int = 5_000_000,
                 enabled: bool = True, buffer: int = BUFFER, journal_every: float = JOURNAL_EVERY,
                 ship_every: float = SHIP_EVERY) -> None:
        self.db, self.clock, self.directory, self.days = db, clock, directory, days
        self.enabled = enabled
        self.traces = Traces()
        self.capacity, self.backlog_max = buffer, backlog
        self.journal_every, self.ship_every = journal_every, ship_every
        # The instant of a decision: the real clock's time.time() (fast), or a test's clock.
        self._now: Callable[[], float] = time.time if type(clock) is Clock else (lambda: clock.now().timestamp())
        self._buffer: deque[tuple[Any, ...]] = deque()
        self.dropped = 0  # entries that found the buffer full (request side)
        self.backlog_dropped = 0  # entries the journal had no room for (SQL down too long)
        self.journaled = 0
        self.shipped = 0
        self.backlog = 0  # entries journaled, not yet in SQL
        self.ship_errors = 0
        self.recovered = 0
        self.recoveries: list[Recovered] = []
        self.last_error: str | None = None
        self.journal = uuid.uuid4().hex
        self.path = directory / f"{_PREFIX}{self.journal}{_SUFFIX}"
        self._file: IO[bytes] | None = None
        # Shared by the journal and the shipper, under _lock: the last batch journaled (fsynced) and the last in SQL,
        # the bytes the file holds, and the newest journaled batches not yet in SQL, as many as fit the buffer's
        # size (older ones, when SQL is far behind, the shipper reads back from the file).
        self._lock = threading.Lock()
        self._seq = 0
        self._shipped_seq = 0
        self._size = 0
        self._recent: deque[Batch] = deque()
        self._recent_rows = 0
        self._days: set[date] = set()  # day partitions known to exist (the shipper's)
        self._orphans = True  # journals of ended instances may wait in the directory
        self._wake_journal = threading.Event()  # stop, or journal now
        self._wake_ship = threading.Event()  # stop, or ship now
        self._stopping = self._closing = False
        self._journal_asked = self._journal_done = self._ship_asked = self._ship_done = 0
        self._done = threading.Condition()  # flush() waits on it
        self._ship_rows = SQLITE_SHIP_ROWS if db.is_sqlite else SHIP_ROWS
        self._journaler: threading.Thread | None = None
        self._shipper: threading.Thread | None = None
        self._warned: dict[str, float] = {}

    # -- the request path ----------------------------------------------------------------------------------------

    def record(self, client: str, user: str, product: str, afnemer: str | None, decision: Decision,
               trace: Trace | None = None, processing_activity_id: str | None = None,
               algorithm_id: str | None = None, as_of: float | None = None) -> None:
        """Record one decision answered to service client ``client`` (``afnemer`` None: asked for any afnemer).
        ``processing_activity_id`` and ``algorithm_id`` are the URIs an AuthZEN caller names (NLGov); ``as_of`` the
        instant (seconds since the epoch) the decision was asked for (NLGov ``context.time``), None for now."""
        if not self.enabled:
            return
        buffer = self._buffer
        if len(buffer) >= self.capacity:
            self.dropped += 1
            return
        buffer.append((self._now(), client, user, product, afnemer, decision.allowed, decision.reason,
                       decision.revision, trace[0] if trace else None, trace[1] if trace else None,
                       processing_activity_id, algorithm_id, as_of))

    # -- start and stop ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open this instance's journal (locked) and start the journal and the shipper; the shipper recovers ended
        instances' journals first."""
        if not self.enabled:
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The entries name people (e-mail addresses): readable by this service's user only.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._file = os.fdopen(fd, "ab")
        self._journaler = threading.Thread(target=self._journal_loop, name="authz-decision-journal", daemon=True)
        self._shipper = threading.Thread(target=self._ship_loop, name="authz-decision-shipper", daemon=True)
        self._journaler.start()
        self._shipper.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Journal what is left, ship it, and close the journal (removed when SQL holds everything, else kept for
        the next start)."""
        if self._journaler is None or self._shipper is None:
            return
        self._stopping = True
        self._wake_journal.set()
        self._journaler.join(timeout)  # the disk only: quick
        self._closing = True  # the shipper's last round comes after the journal's
        self._wake_ship.set()
        self._shipper.join(timeout)
        if self._journaler.is_alive() or self._shipper.is_alive():
            # Stuck in SQL (or on the disk): the journal stays, locked until the process ends.
            log.warning("decision log: the writer did not finish within %.0f s; %s stays for the next start",
                        timeout, self.path)
            return
        self._journaler = self._shipper = None
        assert self._file is not None
        if self.backlog == 0 and not self._buffer:
            self.path.unlink(missing_ok=True)
            with contextlib.suppress(Exception):
                store.forget(self.db, self.journal)
        else:
            log.warning("decision log: %d entries are not in SQL yet; they stay in %s for the next start",
                        self.backlog + len(self._buffer), self.path)
        self._file.close()
        self._file = None

    def flush(self, timeout: float = 10.0) -> bool:
        """Journal and ship what was recorded before this call, now, and wait for that (tests, benchmarks). False
        when the journal or the shipper did not finish a round in time; SQL may still lack entries when it could not
        write."""
        if self._journaler is None:
            return False
        deadline = time.monotonic() + timeout
        with self._done:
            self._journal_asked += 1
            wanted = self._journal_asked
            self._wake_journal.set()
            if not self._done.wait_for(lambda: self._journal_done >= wanted, timeout):
                return False
            self._ship_asked += 1
            wanted = self._ship_asked
            self._wake_ship.set()
            return self._done.wait_for(lambda: self._ship_done >= wanted, max(deadline - time.monotonic(), 0))

    # -- the journal ---------------------------------------------------------------------------------------------

    def _journal_loop(self) -> None:
        while True:
            self._wake_journal.wait(self.journal_every)
            self._wake_journal.clear()
            stopping, asked = self._stopping, self._journal_asked
            try:
                self._journal_round()
            except Exception as exc:
                self._trouble("journal", "decision log: cannot write the journal %s (%s)", self.path, exc)
            if asked > self._journal_done:
                with self._done:
                    self._journal_done = asked
                    self._done.notify_all()
            if stopping:
                if self._buffer:  # recorded while the last round ran
                    with contextlib.suppress(Exception):
                        self._journal_round()
                return

    def _journal_round(self) -> None:
        n = len(self._buffer)
        if not n:
            return
        popleft = self._buffer.popleft
        rows: list[Row] = [popleft() for _ in range(n)]
        room = self.backlog_max - self.backlog
        if n > room:
            self.backlog_dropped += n - max(room, 0)
            rows = rows[:max(room, 0)]
            self._trouble("backlog", "decision log: %d entries wait for SQL, the most the journal keeps "
                          "(AUTHZ_DECISION_LOG_BACKLOG); new entries are dropped and counted", self.backlog_max)
            if not rows:
                return
        assert self._file is not None
        payload = orjson.dumps(rows)
        self._start_afresh()
        with self._lock:
            seq = self._seq + 1
        batch = Batch(seq, len(rows), payload, min(r[0] for r in rows), max(r[0] for r in rows))
        line = b"[%d," % seq + payload + b"]\n"
        try:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError:  # a full or failing disk: these are lost, and counted so
            self.backlog_dropped += len(rows)
            raise
        with self._lock:  # only now may the shipper see it: what it ships is on disk
            self._seq = seq
            self._size += len(line)
            self.journaled += len(rows)
            self.backlog += len(rows)
            self._recent.append(batch)
            self._recent_rows += batch.count
            while self._recent_rows > self.capacity:  # SQL is behind: the file holds them, memory need not
                self._recent_rows -= self._recent.popleft().count
            behind = self.backlog >= SHIP_ROWS
        if behind:  # catching up: ship without waiting for the next second
            self._wake_ship.set()

    def _start_afresh(self) -> None:
        """Keep the file to what SQL lacks: empty it once SQL holds every batch; and when batches keep coming while
        each shipment is under way (so that moment never comes) and the file has grown past :data:`COMPACT_BYTES`,
        write it anew with only the batches SQL lacks, from memory, and put it in the old one's place (the shipper
        reads by batch number, never by offset; a batch shipped meanwhile and written again is skipped by SQL's
        mark). The journal thread's own, before it appends."""
        assert self._file is not None
        with self._lock:
            if not self._size:
                return
            if self._shipped_seq == self._seq:
                os.ftruncate(self._file.fileno(), 0)
                self._size = 0
                return
            lacking = [b for b in self._recent if b.seq > self._shipped_seq]
            if self._size < COMPACT_BYTES or not lacking or lacking[0].seq != self._shipped_seq + 1:
                return  # small yet, or SQL so far behind that only the file holds the oldest: it stays
        fresh_path = self.path.with_suffix(_COMPACTING)  # not a journal's name: no start ships it
        fd = os.open(fresh_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fresh = os.fdopen(fd, "ab")
        lines = [b"[%d," % b.seq + b.rows + b"]\n" for b in lacking]
        fresh.write(b"".join(lines))
        fresh.flush()
        os.fsync(fresh.fileno())
        os.replace(fresh_path, self.path)  # atomic: a crash leaves the old file or the new one, both complete
        _sync_directory(self.directory)
        old, self._file = self._file, fresh
        old.close()
        with self._lock:
            self._size = sum(len(x) for x in lines)

    # -- the shipper ---------------------------------------------------------------------------------------------

    def _ship_loop(self) -> None:
        last_upkeep = -1e9
        while True:
            self._wake_ship.wait(self.ship_every)
            self._wake_ship.clear()
            stopping, asked = self._closing, self._ship_asked
            now = time.monotonic()
            if now - last_upkeep >= MAINTAIN_EVERY:
                last_upkeep = now - MAINTAIN_EVERY + 60  # failing, it tries again in a minute
                try:
                    self._upkeep()
                    last_upkeep = now
                except Exception as exc:  # the shipper never dies: a later round tries again
                    self._trouble("upkeep", "decision log: cannot keep the partitions or the retention (%s); it "
                                  "tries again", exc)
            if self._orphans:
                self._recover_orphans()
            try:
                self._ship_round()
            except Exception as exc:
                self._trouble("writer", "decision log: the shipper failed (%s); it tries again", exc)
            if asked > self._ship_done:
                with self._done:
                    self._ship_done = asked
                    self._done.notify_all()
            if stopping:
                return

    def _ship_round(self) -> None:
        with self._lock:  # what is journaled now; the journal goes on meanwhile
            upto, after = self._seq, self._shipped_seq
            if upto == after:
                return
            recent = [b for b in self._recent if b.seq > after]
        # The batches SQL lacks: from memory, and (SQL far behind) the oldest of them read back from the file.
        first = recent[0].seq if recent else upto + 1
        older: Iterable[Batch] = _Reader(self.path, after, first - 1) if first > after + 1 else ()
        try:
            for chunk in _chunks(itertools.chain(older, recent), self._ship_rows):
                self._ship(self.journal, chunk)
                n = sum(b.count for b in chunk)
                with self._lock:
                    self._shipped_seq = chunk[-1].seq
                    self.shipped += n
                    self.backlog -= n
                    while self._recent and self._recent[0].seq <= self._shipped_seq:
                        self._recent_rows -= self._recent.popleft().count
        except Exception as exc:
            self.ship_errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            self._trouble("ship", "decision log: cannot write to SQL (%s); %d entries wait in the journal",
                          self.last_error, self.backlog)
            return
        if self.last_error is not None:
            log.info("decision log: writing to SQL again")
            self.last_error = None
            self._warned.pop("ship", None)

    def _ship(self, journal: str, batches: list[Batch]) -> int:
        """Ship ``batches`` of ``journal``; returns how many rows SQL did not hold yet."""
        days = set().union(*(b.days() for b in batches)) - self._days
        if days:
            store.ensure_partitions(self.db, days)
            self._days |= days
        return store.ship(self.db, journal, batches)

    def _upkeep(self) -> None:
        """Partitions for today and the next days; retention."""
        today = self.clock.now().astimezone(UTC).date()
        days = {today + timedelta(days=i) for i in range(PARTITIONS_AHEAD + 1)}
        made = store.ensure_partitions(self.db, days)
        self._days |= days
        if made:
            log.info("decision log: made the partitions %s", ", ".join(made))
        removed = store.expire(self.db, self.clock.now(), self.days)
        if removed:
            self._days = {d for d in self._days if d >= today - timedelta(days=self.days + 1)}
            log.info("decision log: removed %d %s older than %d days", removed,
                     "rows" if self.db.is_sqlite else "day partitions", self.days)

    def _recover_orphans(self) -> None:
        """Ship the journals of instances that ended without shipping them (those no living process locks), and
        remove what a crash left of a journal being written anew (its journal is whole: it was not replaced)."""
        for stale in self.directory.glob(f"{_PREFIX}*{_COMPACTING}"):
            with contextlib.suppress(OSError):
                fd = os.open(stale, os.O_RDONLY)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # not a living instance's
                    stale.unlink()
                finally:
                    os.close(fd)
        left = False
        for path in sorted(self.directory.glob(f"{_PREFIX}*{_SUFFIX}")):
            if path == self.path:
                continue
            try:
                found = self._recover(path)
            except Exception as exc:
                left = True
                self._trouble("recover", "decision log: cannot recover the journal %s yet (%s); it tries again",
                              path.name, exc)
                continue
            if found is not None:
                self.recoveries.append(found)
                self.recovered += found.shipped
                lost = (f"about {round(found.rate * self.journal_every)} at the rate of its last second"
                        if found.rate else "none were journaled in its last second")
                log.warning(
                    "decision log: recovered %d entries from the journal %s of an instance that ended without "
                    "shipping them: shipped %d now, %d were in SQL already, %d torn at the end; at most the "
                    "decisions of its last %.2f s before the end can be lost (%s)", found.entries, found.journal,
                    found.shipped, found.in_sql, found.torn, self.journal_every, lost)
        self._orphans = left

    def _recover(self, path: Path) -> Recovered | None:
        fd = os.open(path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None  # a living instance's journal
            try:
                if os.fstat(fd).st_ino != os.stat(path).st_ino:
                    return None  # recovered and removed meanwhile by another instance
            except FileNotFoundError:
                return None
            journal = path.name[len(_PREFIX):-len(_SUFFIX)]
            reader = _Reader(path, store.shipped(self.db, journal))
            shipped = 0
            for chunk in _chunks(reader, self._ship_rows):
                shipped += self._ship(journal, chunk)
            path.unlink()
            store.forget(self.db, journal)  # after the unlink: a crash between leaves a mark, never a second copy
            return Recovered(journal, reader.entries, reader.entries - shipped, shipped, reader.torn,
                             reader.last_second())
        finally:
            os.close(fd)

    def _trouble(self, kind: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._warned.get(kind, -1e9) >= WARN_EVERY:
            self._warned[kind] = now
            log.warning(message, *args)

    # -- what it says about itself -------------------------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        """For /readyz."""
        return {"enabled": self.enabled, "buffered": len(self._buffer), "backlog": self.backlog,
                "journaled": self.journaled, "shipped": self.shipped, "dropped": self.dropped,
                "backlog_dropped": self.backlog_dropped, "ship_errors": self.ship_errors,
                "recovered": self.recovered, "recovering": self._orphans and self.enabled,
                "error": self.last_error, "traceparent_malformed": self.traces.malformed}

    def samples(self) -> list[Sample]:
        """For /metrics."""
        return [
            ("authz_decision_log_buffered", "gauge", len(self._buffer),
             "Decisions recorded in memory, not yet in the journal."),
            ("authz_decision_log_backlog", "gauge", self.backlog, "Decisions in the journal, not yet in SQL."),
            ("authz_decision_log_journaled_total", "counter", self.journaled,
             "Decisions written (and fsynced) to this instance's journal."),
            ("authz_decision_log_shipped_total", "counter", self.shipped, "Decisions written to SQL."),
            ("authz_decision_log_dropped_total", "counter", self.dropped,
             "Decisions not logged: the in-memory buffer was full."),
            ("authz_decision_log_backlog_dropped_total", "counter", self.backlog_dropped,
             "Decisions not logged: the journal held AUTHZ_DECISION_LOG_BACKLOG entries waiting for SQL."),
            ("authz_decision_log_ship_errors_total", "counter", self.ship_errors, "Failed writes to SQL."),
            ("authz_decision_log_recovered_total", "counter", self.recovered,
             "Decisions recovered at start-up from journals of instances that ended without shipping them."),
            ("authz_traceparent_malformed_total", "counter", self.traces.malformed,
             "traceparent values ignored as malformed (W3C Trace Context)."),
        ]


class _Reader:
    """The batches of a journal numbered above ``after`` (and at most ``upto``: a living journal's lines beyond are
    still being written), read lazily; once read, how many lines were torn (cut short: the last write before a
    crash, never fsynced), how many entries all its batches held, and how many fell in its last second."""

    def __init__(self, path: Path, after: int, upto: int | None = None) -> None:
        self.path, self.after, self.upto = path, after, upto
        self.torn = self.entries = 0
        self._tail: deque[tuple[float, int]] = deque()  # (last at, count) of the latest batches

    def __iter__(self) -> Iterator[Batch]:
        with self.path.open("rb") as f:
            for line in f:
                head = line[1:line.find(b",")] if line.startswith(b"[") else b""
                if head.isdigit() and (int(head) <= self.after and self.upto is not None):
                    continue  # a living journal's batch SQL holds: not parsed again
                try:
                    seq, rows = orjson.loads(line)
                    payload = line[line.index(b",") + 1:line.rindex(b"]")]  # the rows' JSON as written
                except (orjson.JSONDecodeError, ValueError):
                    self.torn += 1
                    continue
                if self.upto is not None and int(seq) > self.upto:
                    return
                if not rows:
                    continue
                b = Batch(int(seq), len(rows), payload, min(r[0] for r in rows), max(r[0] for r in rows))
                self.entries += b.count
                self._tail.append((b.last, b.count))
                while self._tail and self._tail[0][0] < b.last - 1.0:
                    self._tail.popleft()
                if b.seq > self.after:
                    yield b

    def last_second(self) -> float:
        """Entries per second over the journal's last second."""
        return float(sum(n for _, n in self._tail))


def _chunks(batches: Iterable[Batch], rows: int) -> Iterator[list[Batch]]:
    chunk: list[Batch] = []
    n = 0
    for b in batches:
        chunk.append(b)
        n += b.count
        if n >= rows:
            yield chunk
            chunk, n = [], 0
    if chunk:
        yield chunk


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def journals(directory: Path) -> list[Path]:
    """The journal files in ``directory`` (for tests and operators)."""
    return sorted(directory.glob(f"{_PREFIX}*{_SUFFIX}"))


