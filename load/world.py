"""The benchmark's data: a synthetic world (built once per size and seed, then reused) and request bodies.

    python load/world.py [--grants N] [--seed S] [--database-url URL]

builds or reuses the world and writes, under load/out/:
  check-bodies.jsonl   /v1/check bodies of real grants sampled from the world (user, product, afnemer)
  denied-bodies.jsonl  /v1/check bodies that are denied: products not granted, unknown users
  batch-body.json      one /v1/check/batch body of 1000 checks
  service-key          a service key for the world (for locust)
The world itself is built by ``authz demo --grants N`` (authz.synthetic.load_synthetic).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "load" / "out"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from authz.store import keys  # noqa: E402
from authz.store.db import Database  # noqa: E402
from authz.store.migrate import upgrade  # noqa: E402
from authz.synthetic import load_synthetic  # noqa: E402


@dataclass
class World:
    url: str
    key: str
    built_seconds: float | None  # None: reused
    grants: int

    def describe(self) -> str:
        how = f"built in {self.built_seconds:.1f} s" if self.built_seconds is not None else "reused"
        return f"{self.url} ({how})"


def ensure(grants: int, seed: int, database_url: str | None = None) -> World:
    """A database holding ``grants`` grants and a service key for it. SQLite worlds are kept in load/out/ and
    reused when one of the same size and seed is there; a given ``database_url`` is filled up to ``grants``."""
    OUT.mkdir(parents=True, exist_ok=True)
    if database_url is None:
        path = OUT / f"world-{grants}-seed{seed}.db"
        done = path.with_suffix(".key")
        if path.exists() and done.exists():
            upgrade(f"sqlite:///{path}")  # a newer schema since it was built
            return World(f"sqlite:///{path}", done.read_text().strip(), None, grants)
        for stale in OUT.glob(f"world-{grants}-seed{seed}.db*"):
            stale.unlink()
        url = f"sqlite:///{path}"
    else:
        url, done = database_url, None
    upgrade(url)
    db = Database(url)
    started = time.perf_counter()
    load_synthetic(db, grants, seed)
    built = time.perf_counter() - started
    with db.tx(actor="cli:bench") as t:
        key = keys.create(t, f"bench-{int(time.time() * 1000)}")
    db.dispose()
    if done is not None:
        done.write_text(key + "\n")  # written last: marks the world complete
    return World(url, key, built, grants)


def grant_triples(url: str) -> list[tuple[str, str, str]]:
    """Every grant of the world as (user, product, afnemer), in a stable order."""
    db = Database(url)
    try:
        with db.engine.connect() as c:
            rows = c.execute(sa.text(
                "SELECT a.email, g.product, g.afnemer FROM grants g JOIN accounts a ON a.id = g.account_id "
                "ORDER BY g.account_id, g.afnemer, g.product")).all()
    finally:
        db.dispose()
    return [(u, p, a) for u, p, a in rows]


def write_bodies(triples: list[tuple[str, str, str]], seed: int, sample: int = 20_000) -> dict[str, Path]:
    """Request bodies for wrk and locust (see the module's docstring)."""
    rng = random.Random(seed)
    chosen = rng.sample(triples, min(sample, len(triples)))
    checks = [{"user": u, "product": p, "afnemer": a} for u, p, a in chosen]
    held = {(u, p) for u, p, _ in triples}
    products = sorted({p for _, p, _ in triples})
    denied = []
    for u, _, a in chosen[: sample // 2]:
        p = rng.choice(products)
        if (u, p) not in held:
            denied.append({"user": u, "product": p, "afnemer": a})
    denied += [{"user": f"onbekend{i}@nergens.example", "product": rng.choice(products)} for i in range(1000)]
    paths = {"check": OUT / "check-bodies.jsonl", "denied": OUT / "denied-bodies.jsonl",
             "batch": OUT / "batch-body.json"}
    paths["check"].write_text("".join(json.dumps(c, separators=(",", ":")) + "\n" for c in checks))
    paths["denied"].write_text("".join(json.dumps(c, separators=(",", ":")) + "\n" for c in denied))
    paths["batch"].write_text(json.dumps({"checks": checks[:1000]}, separators=(",", ":")))
    return paths


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grants", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--database-url", default=None)
    args = p.parse_args()
    world = ensure(args.grants, args.seed, args.database_url)
    paths = write_bodies(grant_triples(world.url), args.seed)
    (OUT / "service-key").write_text(world.key + "\n")
    print(f"world: {world.describe()}")
    for name, path in paths.items():
        print(f"{name}: {path.relative_to(ROOT)}")
    print(f"service key: {(OUT / 'service-key').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
