"""How fast a decision as of a past instant is (NLGov ``context.time``): p50/p99 of
:func:`authz.service.at_instant.decide_past` on the bench world.

    .venv/bin/python load/at_instant.py [--grants 1000000] [--seed 1] [--changes 2000] [--questions 3000]
                                        [--database-url URL]

The world is the bench world (``load/world.py``, cached under load/out/; its audit trail holds a record of every
fact, as the use cases write them). On SQLite it is copied to ``load/out/at-instant-N-seedS.db`` first, so that
the history this script adds does not change the world ``make bench`` reuses; ``--database-url`` uses (and adds
to) that database instead. The history: ``--changes`` changes through the store, one transaction each (a grant
added or taken away, an account deactivated or reactivated, a contract's end moved), so that accounts have more
than one record and instants between changes differ.

Each question is (user, product, afnemer or none) at an instant drawn from the world's history (one in ten from the
day before it): a real grant of the world, a grant of an account the history changed, or an unknown account. Every
question is timed alone (a new read transaction each, as a request would), after a warm-up. Printed: the world,
the size of the trail, p50/p90/p99/max in ms; and a check of the answers at the last instant against the live
decider loaded from the same database (they must all agree).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from authz.clock import Clock  # noqa: E402
from authz.decider import Decider  # noqa: E402
from authz.errors import AuthzError  # noqa: E402
from authz.service.at_instant import decide_past  # noqa: E402
from authz.store import accounts, catalogue, grants  # noqa: E402
from authz.store.db import Database  # noqa: E402
from authz.store.migrate import upgrade  # noqa: E402
from authz.store.snapshot import read_snapshot  # noqa: E402
from load import world as bench_world  # noqa: E402

Question = tuple[str, str, str | None]


def copy_sqlite(url: str, target: Path) -> str:
    """A consistent copy of a SQLite world (the backup API: the WAL included)."""
    target.unlink(missing_ok=True)
    src = sqlite3.connect(url.removeprefix("sqlite:///"))
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return f"sqlite:///{target}"


def history(db: Database, triples: list[tuple[str, str, str]], n: int, rng: random.Random) -> list[str]:
    """``n`` changes, one transaction each, as beheerders and the operator make them; the accounts they touched."""
    touched: list[str] = []
    products = sorted({p for _, p, _ in triples})
    for _ in range(n):
        user, product, afnemer = rng.choice(triples)
        roll = rng.random()
        try:
            with db.tx("beheerder@bench.example") as t:
                if roll < 0.8:  # a grant taken away or one added
                    a = accounts.get(t, user)
                    held = set(grants.of_account(t, a.id).get(afnemer, []))
                    wanted = held - {product} if product in held and rng.random() < 0.5 else held | {
                        rng.choice(products)}
                    grants.replace(t, a, afnemer, wanted, None)
                elif roll < 0.9:
                    a = accounts.get(t, user)
                    accounts.set_status(t, a, "inactive" if a.status == "active" else "active")
                else:
                    c = catalogue.find_contract(t, afnemer, product)
                    if c is not None:
                        until = t.now.date() + timedelta(days=rng.randint(-30, 300))
                        catalogue.put_contract(t, afnemer, product, min(c.valid_from, until), until)
        except AuthzError:
            continue  # e.g. a contract for a product the afnemer does not have: nothing changed
        touched.append(user)
    return touched


def questions(triples: list[tuple[str, str, str]], touched: list[str], n: int, rng: random.Random
              ) -> list[Question]:
    by_user: dict[str, list[tuple[str, str]]] = {}
    for u, p, a in triples:
        by_user.setdefault(u, []).append((p, a))
    products = sorted({p for _, p, _ in triples})
    out: list[Question] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.1:
            out.append((f"onbekend{i}@nergens.example", rng.choice(products), None))
            continue
        if roll < 0.4 and touched:
            user = rng.choice(touched)
            product, afnemer = rng.choice(by_user.get(user) or [(rng.choice(products), "")])
        else:
            user, product, afnemer = rng.choice(triples)
        out.append((user, product, afnemer if afnemer and rng.random() < 0.7 else None))
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grants", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--changes", type=int, default=2000, help="changes added to the world's history")
    p.add_argument("--questions", type=int, default=3000, help="decisions timed")
    p.add_argument("--database-url", default=None, help="use (and add to) this database instead of a SQLite copy")
    args = p.parse_args()
    rng = random.Random(args.seed)

    w = bench_world.ensure(args.grants, args.seed, args.database_url)
    url = w.url
    if args.database_url is None:
        url = copy_sqlite(w.url, bench_world.OUT / f"at-instant-{args.grants}-seed{args.seed}.db")
        upgrade(url)
    print(f"world: {w.describe()}, {w.grants:,} grants; asked in {url}")
    db = Database(url, Clock())
    with db.engine.connect() as c:
        if not c.scalar(sa.text("SELECT count(*) FROM audit WHERE action = 'grants.replace'")):
            print("this world's audit trail holds none of its grants (built before the synthetic world wrote its "
                  "trail): delete it under load/out/ and run again", file=sys.stderr)
            return 2
    triples = bench_world.grant_triples(url)
    started = time.perf_counter()
    touched = history(db, [(u, p, a) for u, p, a in triples], args.changes, rng)
    print(f"history: {len(touched):,} changes in {time.perf_counter() - started:.1f} s")
    with db.engine.connect() as c:
        trail = c.scalar(sa.text("SELECT count(*) FROM audit"))
        first = c.scalar(sa.text("SELECT min(at) FROM changes WHERE revision > 0"))
        last = c.scalar(sa.text("SELECT max(at) FROM changes"))
    first_at, last_at = (_aware(first), _aware(last))
    print(f"audit trail: {trail:,} records, changes from {first_at:%Y-%m-%d %H:%M:%S} to {last_at:%H:%M:%S} UTC")

    asked = questions(triples, touched, args.questions, rng)
    # One in ten before the world (nobody known yet), the others anywhere in its history.
    span = (last_at - first_at).total_seconds()
    instants = [first_at - timedelta(seconds=rng.uniform(1, 86_400)) if rng.random() < 0.1
                else first_at + timedelta(seconds=rng.uniform(0, span)) for _ in asked]
    for (user, product, afnemer), when in list(zip(asked, instants, strict=True))[:200]:  # warm-up
        decide_past(db, when, user, product, afnemer)
    took: list[float] = []
    outcomes: dict[str, int] = {}
    for (user, product, afnemer), when in zip(asked, instants, strict=True):
        t0 = time.perf_counter()
        d = decide_past(db, when, user, product, afnemer)
        took.append((time.perf_counter() - t0) * 1000)
        outcomes[d.reason.value] = outcomes.get(d.reason.value, 0) + 1
    print(f"decide_past, {len(took):,} questions at random past instants: p50 {statistics.median(took):.2f} ms, "
          f"p90 {percentile(took, 0.9):.2f} ms, p99 {percentile(took, 0.99):.2f} ms, max {max(took):.2f} ms")
    print("reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))

    # After the last change the trail and the live decider hold the same state: their answers must agree.
    decider = Decider(Clock())
    decider.load(read_snapshot(db))
    after = last_at + timedelta(microseconds=1)
    sample = asked[:1000]
    differ = [q for q in sample if tuple(decide_past(db, after, *q)[:3]) != tuple(decider.check(*q)[:3])]
    print(f"agreement with the live decider after the last change: {len(sample) - len(differ)}/{len(sample)}"
          + (f"; first difference: {differ[0]}" if differ else ""))
    db.dispose()
    return 1 if differ else 0


def _aware(value: object) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


if __name__ == "__main__":
    raise SystemExit(main())
