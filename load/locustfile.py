"""A locust scenario for the decision API: service clients asking /v1/check, mostly for real grants (allowed, or
denied as inert), partly for products a user does not hold or users nobody knows, now and then a batch.

Prepare the bodies and a key once (builds or reuses the synthetic world of load/world.py):

    .venv/bin/python load/world.py --grants 1000000
    AUTHZ_DATABASE_URL=sqlite:///load/out/world-1000000-seed1.db .venv/bin/authz serve --port 8000 &
    .venv/bin/locust -f load/locustfile.py --host http://127.0.0.1:8000 \
        --headless -u 64 -r 16 -t 60s

Environment: AUTHZ_SERVICE_KEY (default: load/out/service-key), AUTHZ_BENCH_BODIES (default:
load/out/check-bodies.jsonl), AUTHZ_BENCH_DENIED (default: load/out/denied-bodies.jsonl). Aim it at loopback or
at your own test hosts only. Not run in CI; `make bench` (wrk) is the measurement of record.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, events, task

OUT = Path(__file__).resolve().parent / "out"


def _lines(env: str, default: Path) -> list[str]:
    path = Path(os.environ.get(env, default))
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `python load/world.py` first (see load/README.md)")
    return [line for line in path.read_text().splitlines() if line]


ALLOWED = _lines("AUTHZ_BENCH_BODIES", OUT / "check-bodies.jsonl")
DENIED = _lines("AUTHZ_BENCH_DENIED", OUT / "denied-bodies.jsonl")
KEY = os.environ.get("AUTHZ_SERVICE_KEY") or (OUT / "service-key").read_text().strip()


class ServiceClient(FastHttpUser):
    """One calling service (portal, download service, gateway), asking again as soon as it has an answer."""

    wait_time = between(0, 0.01)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

    def _check(self, body: str, name: str, expect_allowed: bool | None) -> None:
        with self.client.post("/v1/check", data=body, headers=self.headers, name=name,
                              catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"status {resp.status_code}: {resp.text[:200] if resp.text else ''}")
                return
            answer: dict[str, Any] = json.loads(resp.text or "{}")
            if expect_allowed is False and answer.get("allowed"):
                resp.failure(f"allowed, but should not be: {body}")

    @task(8)
    def check_real_grant(self) -> None:
        # Real grants: most are allowed; those resting on a lapsed contract or mandate are denied.
        self._check(self.rng.choice(ALLOWED), "/v1/check (grant)", None)

    @task(2)
    def check_denied(self) -> None:
        self._check(self.rng.choice(DENIED), "/v1/check (no grant)", False)

    @task(1)
    def check_batch(self) -> None:
        checks = [json.loads(self.rng.choice(ALLOWED)) for _ in range(50)]
        with self.client.post("/v1/check/batch", data=json.dumps({"checks": checks}), headers=self.headers,
                              name="/v1/check/batch (50)", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"status {resp.status_code}")


@events.test_start.add_listener
def _announce(environment: Any, **_: Any) -> None:
    print(f"locust: {len(ALLOWED)} grant bodies, {len(DENIED)} denied bodies, target {environment.host}")
