"""Propagation between instances: from a grant change's commit on A to B having applied its revision.

    python load/propagation.py [--changes 1000] [--grants 20000] [--connections 16] [--database-url URL]

Two `authz serve` processes (A and B) on one PostgreSQL database and one Redis (a fresh key prefix), wrk
reading /v1/check on B the whole time, and N grant changes made one after another through PUT
/v1/orgs/{kvk}/users/{email}/grants on A. For each change: the commit time is taken on A (``last_commit`` of A's
/readyz: the wall-clock time A's handler saw the commit, before announcing it), the apply time on B (``applied_at``
of B's /readyz: the time B's decider reached that revision), both on this machine's clock; the propagation time is
their difference. B's /readyz is polled until it shows the revision (polling does not make B catch up: only the
announcement or B's own SQL poll do). Writes load/out/propagation.json; `make bench` includes it in RESULTS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import bench  # load/bench.py
import sqlalchemy as sa
import world  # load/world.py (which puts the repository on sys.path)

from authz.synthetic import SYNTHETIC_PASSWORD

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/authz_bench_propagation"


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of ``url`` when it does not exist yet."""
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            if c.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first():
                return
            c.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def pick_subject(url: str) -> tuple[str, str, str, list[str]]:
    """A beheerder, an active user of the same organisation, and two or more products under contract there."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            rows = c.execute(sa.text(
                "SELECT b.email, u.email, b.org FROM accounts b JOIN roles r ON r.account_id = b.id "
                "AND r.role = 'beheerder' JOIN accounts u ON u.org = b.org AND u.id <> b.id AND u.status = 'active' "
                "WHERE b.status = 'active' ORDER BY b.id LIMIT 50")).all()
            for boss, user, org in rows:
                products = [p for (p,) in c.execute(sa.text(
                    "SELECT product FROM contracts WHERE afnemer = :o AND valid_from <= CURRENT_DATE AND "
                    "(valid_until IS NULL OR valid_until >= CURRENT_DATE) ORDER BY product"), {"o": org})]
                if len(products) >= 2:
                    return boss, user, org, products
    finally:
        engine.dispose()
    raise SystemExit("no beheerder with a user and two contracted products in this world")


class Conn:
    """One keep-alive HTTP connection (the measurement must not pay a TCP handshake per request)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.headers = {"Content-Type": "application/json", **(headers or {})}

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any, http.client.HTTPResponse]:
        self.c.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
        resp = self.c.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else None, resp

    def close(self) -> None:
        self.c.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run(url: str, key: str, changes: int, connections: int, redis_url: str, python: str = sys.executable,
        read_bodies: Path | None = None) -> dict[str, Any]:
    """Start A and B, load B, make ``changes`` changes on A; returns the figures (milliseconds)."""
    boss, user, org, products = pick_subject(url)
    env = {**os.environ, "AUTHZ_DATABASE_URL": url, "AUTHZ_SECRET_KEY": "bench-propagation",
           "AUTHZ_REDIS_URL": redis_url, "AUTHZ_REDIS_PREFIX": f"authz-bench-{uuid.uuid4().hex[:8]}:",
           "AUTHZ_LOG_LEVEL": "WARNING", "AUTHZ_OUTBOX_DIR": str(OUT / "outbox"), "PYTHONPATH": str(HERE.parent),
           # The writer logs in with a password alone: a second factor is not what this measures (R17).
           "AUTHZ_MFA_REQUIRED": "none"}
    a = bench.Server("propagation-a", [python, "-m", "authz.cli", "serve", "--host", "127.0.0.1"], env)
    b = bench.Server("propagation-b", [python, "-m", "authz.cli", "serve", "--host", "127.0.0.1"], env)
    wrk_proc: subprocess.Popen[bytes] | None = None
    try:
        a.start()
        b.start()
        login = Conn(a.port)
        status, _, resp = login.json("POST", "/v1/session", {"email": boss, "password": SYNTHETIC_PASSWORD})
        if status != 200:
            raise SystemExit(f"login of {boss} on A answered {status}")
        cookie = resp.getheader("set-cookie", "").split(";", 1)[0]
        writer, probe_a, probe_b = Conn(a.port, {"Cookie": cookie}), Conn(a.port), Conn(b.port)
        if read_bodies is not None:
            wrk = bench.ensure_wrk()
            wrk_proc = subprocess.Popen(
                [wrk, "-t1", f"-c{connections}", "-d600s", "--latency", "-s", str(HERE / "check.lua"),
                 f"http://127.0.0.1:{b.port}/v1/check"],
                env={**os.environ, "AUTHZ_BENCH_BODIES": str(read_bodies), "AUTHZ_BENCH_KEY": key},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            time.sleep(2)  # let the read load settle before the first change
        propagation: list[float] = []
        seen_by_client: list[float] = []
        put_ms: list[float] = []
        started = time.monotonic()
        for i in range(changes):
            ticked = products[: 1 + i % 2]  # alternate between one and two products: every PUT is a change
            t0 = time.monotonic()
            status, answer, _ = writer.json("PUT", f"/v1/orgs/{org}/users/{user}/grants",
                                            {"afnemer": org, "products": ticked})
            t1 = time.monotonic()
            if status != 200:
                raise SystemExit(f"PUT on A answered {status}: {answer}")
            revision = answer["revision"]
            while True:
                status, ready, _ = probe_b.json("GET", "/readyz")
                if ready["revision"] >= revision:
                    break
                if time.monotonic() - t1 > 5:
                    raise SystemExit(f"B did not reach revision {revision} within 5 s")
                time.sleep(0.0005)
            t2 = time.monotonic()
            if ready["revision"] != revision:
                raise SystemExit(f"B is at {ready['revision']}, past {revision}: another writer is active")
            _, ready_a, _ = probe_a.json("GET", "/readyz")
            commit_rev, commit_at = ready_a["last_commit"]
            if commit_rev != revision:
                raise SystemExit(f"A's last commit is {commit_rev}, not {revision}")
            propagation.append((ready["applied_at"] - commit_at) * 1000)
            seen_by_client.append((t2 - t1) * 1000)
            put_ms.append((t1 - t0) * 1000)
        elapsed = time.monotonic() - started
        for c in (login, writer, probe_a, probe_b):
            c.close()
        reads: dict[str, Any] = {}
        if wrk_proc is not None:
            wrk_proc.send_signal(signal.SIGINT)  # wrk stops and prints its figures
            out = wrk_proc.communicate(timeout=30)[0].decode()
            (OUT / "wrk-propagation-reads.txt").write_text(out)
            rps = bench.re.search(r"Requests/sec:\s+([\d.]+)", out)
            p99 = bench.re.search(r"^\s+99%\s+(\S+)", out, bench.re.M)
            reads = {"connections": connections, "rps": float(rps.group(1)) if rps else None,
                     "p99_ms": bench._ms(p99.group(1)) if p99 else None}
            wrk_proc = None
    finally:
        if wrk_proc is not None and wrk_proc.poll() is None:
            wrk_proc.kill()
            wrk_proc.wait()
        a.stop()
        b.stop()
    return {
        "changes": changes, "seconds": round(elapsed, 1), "database": "PostgreSQL", "reads_on_b": reads,
        "p50_ms": round(statistics.median(propagation), 2), "p90_ms": round(percentile(propagation, 0.9), 2),
        "p99_ms": round(percentile(propagation, 0.99), 2), "max_ms": round(max(propagation), 2),
        "min_ms": round(min(propagation), 2),
        "client_seen_p50_ms": round(statistics.median(seen_by_client), 2),
        "client_seen_p99_ms": round(percentile(seen_by_client, 0.99), 2),
        "put_p50_ms": round(statistics.median(put_ms), 2), "put_p99_ms": round(percentile(put_ms, 0.99), 2),
    }


def report_lines(r: dict[str, Any], threshold_ms: float) -> list[str]:
    reads = r["reads_on_b"]
    load = (f"wrk on B at {reads['connections']} connections, {reads['rps']:,.0f} req/s, read p99 "
            f"{reads['p99_ms']:.2f} ms" if reads else "no read load")
    verdict = "pass" if r["p99_ms"] <= threshold_ms else "**FAIL**"
    return [
        f"- {r['changes']} grant changes via PUT on A in {r['seconds']} s ({r['database']}, Redis; {load}).",
        f"- Commit on A → applied on B: p50 {r['p50_ms']:.2f} ms, p90 {r['p90_ms']:.2f} ms, **p99 "
        f"{r['p99_ms']:.2f} ms** (target ≤ {threshold_ms} ms: {verdict}), max {r['max_ms']:.2f} ms, min "
        f"{r['min_ms']:.2f} ms.",
        f"- Seen from the client (A's PUT returned → B's /readyz shows the revision): p50 "
        f"{r['client_seen_p50_ms']:.2f} ms, p99 {r['client_seen_p99_ms']:.2f} ms; the PUT itself: p50 "
        f"{r['put_p50_ms']:.2f} ms, p99 {r['put_p99_ms']:.2f} ms.",
    ]


def prepare(grants: int, seed: int, database_url: str) -> tuple[str, str, Path]:
    """The PostgreSQL world (built once, then reused) and bodies of real grants for the read load."""
    ensure_database(database_url)
    w = world.ensure(grants, seed, database_url)
    bodies = OUT / "propagation-check-bodies.jsonl"
    checks = world.write_bodies(world.grant_triples(w.url), seed)["check"]
    bodies.write_text(checks.read_text())
    return w.url, w.key, bodies


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--changes", type=int, default=1000)
    p.add_argument("--grants", type=int, default=20_000, help="size of the world B answers reads from")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--connections", type=int, default=16, help="wrk connections of the read load on B (0: none)")
    p.add_argument("--database-url", default=DEFAULT_PG)
    p.add_argument("--redis-url", default=os.environ.get("AUTHZ_BENCH_REDIS", "redis://127.0.0.1:6379/0"))
    p.add_argument("--python", default=sys.executable)
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    url, key, bodies = prepare(args.grants, args.seed, args.database_url)
    result = run(url, key, args.changes, args.connections, args.redis_url, args.python,
                 bodies if args.connections > 0 else None)
    result["grants"] = args.grants
    (OUT / "propagation.json").write_text(json.dumps(result, indent=2))
    threshold = float(bench.yaml.safe_load((HERE / "thresholds.yaml").read_text())["propagation_p99_ms_max"])
    print("\n".join(report_lines(result, threshold)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
