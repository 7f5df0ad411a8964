"""The decision log's promise against a real crash (SPEC §5; README "Decision log"): a burst of checks at a real
`authz serve` process, SIGKILL in the middle of it, a fresh start on the same journal directory. Every decision
answered more than a second before the kill is in SQL, exactly once; the new start says how many it recovered."""

from __future__ import annotations

import re
import threading
import time
import uuid
from pathlib import Path

import httpx2 as httpx

from authz.decisionlog import journals
from authz.store import decisionlog as stored
from authz.store import keys
from authz.store.db import Database
from tests.instances import Instance

THREADS = 3


def _burst(url: str, key: str, name: str, answered: list[tuple[str, float]], stop: threading.Event) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=5) as c:
        i = 0
        while not stop.is_set():
            user = f"{name}-{i}@bakkerij.nl"
            try:
                r = c.post("/v1/check", json={"user": user, "product": "verzuim"})
            except httpx.TransportError:
                return  # the process is gone
            if r.status_code == 200:
                answered.append((user, time.monotonic()))  # list.append: safe across threads
            i += 1


def _wait(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise TimeoutError


def test_a_killed_instance_loses_at_most_its_last_second(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    with db.tx("test") as t:
        key = keys.create(t, "crash-test")
    env = {"AUTHZ_DATABASE_URL": db_url, "AUTHZ_SECRET_KEY": "crash-test", "AUTHZ_DECISION_LOG_DIR": str(tmp_path),
           "AUTHZ_REDIS_PREFIX": f"authz-test-{uuid.uuid4().hex[:8]}:"}
    first = Instance(env, "killed")
    first.wait_ready()
    answered: list[tuple[str, float]] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_burst, args=(first.url, key, f"t{n}", answered, stop)) for n in range(THREADS)]
    for th in threads:
        th.start()
    try:
        _wait(lambda: len(answered) >= 1500, 60)
        first.proc.kill()  # SIGKILL: no shutdown, nothing shipped on the way out
        killed_at = time.monotonic()
        first.proc.wait()
    finally:
        stop.set()
        for th in threads:
            th.join()
        first.stop()
    assert len(journals(tmp_path)) == 1  # the killed instance's journal, left behind

    second = Instance(env, "restarted")
    try:
        second.wait_ready()
        _wait(lambda: not second.readyz()["decision_log"]["recovering"])
        figures = second.readyz()["decision_log"]
    finally:
        second.stop()  # a clean stop: ships what is left and removes its own journal
    assert journals(tmp_path) == []

    found = [f.user for f in stored.search(db, limit=1_000_000)]
    assert len(found) == len(set(found)), "a decision was written twice"
    present = set(found)
    lost = [(user, at) for user, at in answered if user not in present]
    assert all(killed_at - at <= 1.0 for _, at in lost), f"lost earlier than the last second: {lost[:5]}"
    assert len(answered) - len(lost) >= 1000
    said = re.findall(r"recovered (\d+) entries from the journal .*? shipped (\d+) now, (\d+) were in SQL already",
                      second.log.read_text())
    assert len(said) == 1, second.log.read_text()[-3000:]
    entries, shipped_now, already = map(int, said[0])
    assert entries == shipped_now + already and figures["recovered"] == shipped_now
    assert "at most the decisions of its last 0.25 s" in second.log.read_text()
    db.dispose()
