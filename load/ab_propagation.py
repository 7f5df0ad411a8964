"""A/B of a save's cost between two checkouts: each one's own ``load/propagation.py``, run alternately.

    python load/ab_propagation.py BEFORE AFTER [--rounds 3] [--changes 400] [--out FILE]

BEFORE and AFTER are checkouts of this repository (``git worktree add --detach ../before REV``), each set up with
``make install`` (its own ``.venv``). Each round runs BEFORE's propagation, then AFTER's, on a PostgreSQL database
of its own (``authz_ab_before``, ``authz_ab_after``), with the same read load on B, so that both see the same
machine at nearly the same moment: on a shared 2-core machine only such pairs say anything. Prints a Markdown table
(and writes it to ``--out``) of the PUT's p50 and p99 and the propagation from A's commit to B's apply, per run,
and the pairwise differences of the PUT's percentiles.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/authz_ab_{side}"


def one(checkout: Path, side: str, changes: int) -> dict[str, Any]:
    python = checkout / ".venv" / "bin" / "python"
    # An older checkout's propagation.py may not turn the second factor off for its writer (R17).
    env = {**os.environ, "AUTHZ_MFA_REQUIRED": "none"}
    done = subprocess.run([str(python), str(checkout / "load" / "propagation.py"), "--changes", str(changes),
                           "--database-url", PG.format(side=side)], env=env, capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: propagation.py failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads((checkout / "load" / "out" / "propagation.json").read_text())
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--changes", type=int, default=400)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    rows = ["| run | PUT p50 | PUT p99 | commit on A → applied on B, p50 / p99 | reads on B |",
            "| --- | --- | --- | --- | --- |"]
    d50: list[float] = []
    d99: list[float] = []
    for i in range(1, args.rounds + 1):
        pair = {}
        for side, checkout in (("before", args.before), ("after", args.after)):
            r = pair[side] = one(checkout.resolve(), side, args.changes)
            reads = r["reads_on_b"]
            rows.append(f"| {side}, {i} | {r['put_p50_ms']:.2f} ms | {r['put_p99_ms']:.2f} ms | {r['p50_ms']:.2f} / "
                        f"{r['p99_ms']:.2f} ms | {reads['rps']:,.0f} req/s |")
            print(rows[-1], flush=True)
        d50.append(pair["after"]["put_p50_ms"] - pair["before"]["put_p50_ms"])
        d99.append(pair["after"]["put_p99_ms"] - pair["before"]["put_p99_ms"])
    summary = (f"\nAfter minus before, pairwise: PUT p50 {', '.join(f'{d:+.2f}' for d in d50)} ms (median "
               f"{statistics.median(d50):+.2f}); PUT p99 {', '.join(f'{d:+.2f}' for d in d99)} ms (median "
               f"{statistics.median(d99):+.2f}). {args.changes} changes per run.")
    text = "\n".join(rows) + "\n" + summary + "\n"
    print(summary)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
