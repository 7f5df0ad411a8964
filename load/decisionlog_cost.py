"""What the decision log costs: the request's part in process, the writer's part, and the bytes a day takes.

    python load/decisionlog_cost.py [--calls 1000000] [--rows 1000000] [--database-url URL]

(1) ``DecisionLog.record`` in process (the only part on the request path): microseconds per call, median of 9
    passes, with and without a trace; and ``Traces.of_headers`` over a request's headers.
(2) The writer: journal (orjson) and ship (INSERT … SELECT over the journal's JSON) of --rows rows, timed: CPU
    seconds of this process per million decisions, which the writer's thread takes from the request path's core.
(3) Storage on PostgreSQL: --rows rows of realistic sizes through the writer's own path into one day partition,
    then ``pg_total_relation_size`` of the partition (heap, indexes, TOAST): bytes per decision and per day at
    10 000 decisions/s. The database (default ``authz_bench_decisionlog`` on 127.0.0.1) is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import tempfile
import time
import timeit
from datetime import UTC, datetime
from pathlib import Path

import orjson
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from authz.clock import Clock  # noqa: E402
from authz.decider import Decision  # noqa: E402
from authz.decisionlog import DecisionLog  # noqa: E402
from authz.domain.access import Reason  # noqa: E402
from authz.store import decisionlog as stored  # noqa: E402
from authz.store.db import Database  # noqa: E402
from authz.store.migrate import upgrade  # noqa: E402
from authz.trace import Trace, Traces  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/authz_bench_decisionlog"
PER_DAY = 10_000 * 86_400


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime + r.ru_stime


def record_cost(calls: int) -> dict[str, float]:
    log = DecisionLog(Database("sqlite://"), Clock(), Path(tempfile.mkdtemp()), days=90, buffer=calls + 1)
    d = Decision(True, Reason.GRANTED, ("11111111",), 12345)
    trace = Trace("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    users = [f"medewerker{i}@organisatie{i % 997}.nl" for i in range(1000)]
    record = log.record

    def plain() -> None:
        for i in range(calls):
            record("download-service", users[i % 1000], "polisadministratie", "11111111", d)

    def traced() -> None:
        for i in range(calls):
            record("download-service", users[i % 1000], "polisadministratie", "11111111", d, trace)

    out = {}
    plain(), traced()  # warm: the first pass pays for the interpreter's and the allocator's start
    for name, fn in (("record_us", plain), ("record_traced_us", traced)):
        runs = []
        for _ in range(9):
            log._buffer.clear()  # as the writer empties it, four times a second
            runs.append(timeit.timeit(fn, number=1) / calls * 1e6)
        out[name] = round(statistics.median(runs), 3)
    loop = min(timeit.repeat(lambda: [users[i % 1000] for i in range(calls)], number=1, repeat=5)) / calls * 1e6
    out["loop_overhead_us"] = round(loop, 3)  # the benchmark's own loop, included in the figures above
    headers = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"), (b"content-length", b"80"),
               (b"authorization", b"Bearer azk_x"), (b"traceparent", f"00-{trace[0]}-{trace[1]}-01".encode())]
    traces = Traces()
    n = 200_000
    out["of_headers_us"] = round(min(timeit.repeat(lambda: traces.of_headers(headers), number=n, repeat=5)) / n * 1e6,
                                 3)
    return out


def _rows(n: int, day: datetime) -> list[list[object]]:
    rnd = random.Random(1)
    start = day.timestamp()
    products = ["polisadministratie", "verzuimmeldingen", "loonaangifte", "uitkeringen", "premies-ww"]
    clients = ["download-service", "api-gateway", "portaal"]
    reasons = ["granted"] * 8 + ["no_grant", "no_contract"]
    out: list[list[object]] = []
    for i in range(n):
        traced = rnd.random() < 0.5
        out.append([start + i * 86_400 / n, clients[i % 3], f"medewerker{rnd.randrange(100_000)}@organisatie"
                    f"{rnd.randrange(10_000)}.nl", products[rnd.randrange(5)],
                    f"{rnd.randrange(10_000_000, 99_999_999)}" if rnd.random() < 0.8 else None,
                    rnd.random() < 0.8, reasons[rnd.randrange(10)], 100_000 + i // 1000,
                    f"{rnd.getrandbits(128):032x}" if traced else None,
                    f"{rnd.getrandbits(64):016x}" if traced else None, None, None])
    return out


def writer_and_storage(url: str, n: int) -> dict[str, object]:
    admin = sa.create_engine(sa.engine.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = sa.engine.make_url(url).database
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        upgrade(url)
        db = Database(url)
        day = datetime(2026, 6, 15, tzinfo=UTC)
        rows = _rows(n, day)
        stored.ensure_partitions(db, {day.date()})
        # The writer's two steps, as it takes them: a batch per quarter second at 10 000/s (2500 rows), encoded
        # once (orjson), appended to the journal; then shipped 20 000 rows per transaction, the database parsing it.
        journal = Path(tempfile.mkdtemp()) / "journal"
        c0, t0 = _cpu(), time.perf_counter()
        batches = []
        with journal.open("ab") as f:
            for seq, i in enumerate(range(0, n, 2500), start=1):
                chunk = rows[i:i + 2500]
                payload = orjson.dumps(chunk)
                batches.append(stored.Batch(seq, len(chunk), payload, min(r[0] for r in chunk),  # type: ignore[type-var]
                                            max(r[0] for r in chunk)))  # type: ignore[type-var]
                f.write(b"[%d," % seq + payload + b"]\n")
        journal_cpu, journal_s = _cpu() - c0, time.perf_counter() - t0
        c0, t0 = _cpu(), time.perf_counter()
        for i in range(0, len(batches), 8):
            stored.ship(db, "bench", batches[i:i + 8])
        ship_cpu, ship_s = _cpu() - c0, time.perf_counter() - t0
        part = stored.partition_name(day.date())
        with db.engine.connect() as c:
            total, heap, indexes = (int(v) for v in c.execute(sa.text(
                "SELECT pg_total_relation_size(:p), pg_relation_size(:p), pg_indexes_size(:p)"), {"p": part}).one())
            per_index = {str(r[0]): int(r[1]) for r in c.execute(sa.text(
                "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
                "WHERE indrelid = CAST(:p AS regclass)"), {"p": part})}
        db.dispose()
        return {"rows": n, "journal_cpu_s_per_million": round(journal_cpu / n * 1e6, 2),
                "journal_s": round(journal_s, 2), "journal_bytes_per_row": round(journal.stat().st_size / n, 1),
                "ship_cpu_s_per_million": round(ship_cpu / n * 1e6, 2), "ship_s": round(ship_s, 2),
                "ship_rows_per_s": round(n / ship_s), "total_bytes": total,
                "heap_bytes": heap, "index_bytes": indexes,
                "per_index_bytes": per_index, "bytes_per_row": round(total / n, 1),
                "gb_per_day_at_10k_per_s": round(total / n * PER_DAY / 1e9, 1)}
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=50_000, help="calls per pass (the buffer holds 100 000)")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--database-url", default=DEFAULT_PG)
    args = p.parse_args()
    out: dict[str, object] = {"record": record_cost(args.calls)}
    if args.rows:
        out["postgresql"] = writer_and_storage(args.database_url, args.rows)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
