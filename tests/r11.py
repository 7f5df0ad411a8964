"""R11 seen from outside: a writer toggling one grant on one instance, readers asking the others, and a judge that
finds every answer that contradicts a save that had returned before the question was sent.

Times are this process's monotonic clock. A reader's question *sent* after a save's answer was *received* arrived
after that answer was sent, so it must reflect the save (or be a 503). It may also reflect any later save that was
sent before its own answer was received (the two overlapped: an instance paused with the question in its queue
may wake to find the next save already committed), but no state before the newest save returned.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date

import httpx2 as httpx
import pytest
from sqlalchemy import select

from authz.store import keys
from authz.store.db import Database
from authz.store.schema import Grant
from tests.factories import PASSWORD, World
from tests.instances import Instance, RedisServer

AFNEMER = "11111111"
USER = "gebruiker@korenschoof.nl"
BEHEERDER = "beheerder@korenschoof.nl"
PRODUCT = "verzuim"


@dataclass(frozen=True)
class Save:
    sent: float
    returned: float
    granted: bool  # the state after it
    status: int
    confirmed: str | None  # the Authz-Confirmed header
    revision: int = 0  # the revision it committed


@dataclass(frozen=True)
class Answer:
    instance: str
    sent: float
    status: int
    allowed: bool | None
    received: float = 0.0
    revision: int = 0  # the revision the answer was decided at


@dataclass
class Run:
    saves: list[Save] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def around(self, a: Answer) -> list[str]:
        """The saves next to answer ``a``, in milliseconds from when it was sent (to read a failure by)."""
        return [f"answer received {1000 * (a.received - a.sent):+.1f}"] + [
                f"save {n} granted={s.granted} sent {1000 * (s.sent - a.sent):+.1f} returned "
                f"{1000 * (s.returned - a.sent):+.1f} confirmed={s.confirmed}"
                for n, s in enumerate(self.saves) if abs(s.sent - a.sent) < 3]

    def verdicts(self) -> tuple[list[Answer], list[Answer], list[Answer]]:
        """(stale allows, stale denies, wrong): answers decided at a revision older than the newest save returned
        before they were sent (R11) — an allow or a deny that save had changed, or the same value from an old
        revision, counted with the denies — and answers that do not match the state of their own revision."""
        stale_allows: list[Answer] = []
        stale_denies: list[Answer] = []
        wrong: list[Answer] = []
        saves = [s for s in self.saves if s.status == 200]
        state_at = {s.revision: s.granted for s in saves}
        for a in self.answers:
            if a.status != 200:
                continue
            known = [r for r in state_at if r <= a.revision]
            if known and state_at[max(known)] != a.allowed:
                wrong.append(a)
            before = [s for s in saves if s.returned < a.sent]
            if before and a.revision < before[-1].revision:
                (stale_allows if a.allowed and not before[-1].granted else stale_denies).append(a)
        return stale_allows, stale_denies, wrong


def toggle(writer: Instance, granted: bool) -> Save:
    sent = time.monotonic()
    r = writer.client.put(f"/v1/orgs/{AFNEMER}/users/{USER}/grants",
                          json={"afnemer": AFNEMER, "products": [PRODUCT] if granted else []})
    revision = r.json()["revision"] if r.status_code == 200 else 0
    return Save(sent, time.monotonic(), granted, r.status_code, r.headers.get("authz-confirmed"), revision)


def read(i: Instance, client: httpx.Client) -> Answer:
    sent = time.monotonic()
    try:
        r = client.post("/v1/check", json={"user": USER, "product": PRODUCT})
    except httpx.TransportError:
        return Answer(i.name, sent, 0, None, time.monotonic())
    received = time.monotonic()
    body = r.json() if r.status_code == 200 else {}
    return Answer(i.name, sent, r.status_code, body.get("allowed"), received, body.get("revision", 0))


def hammer(writer: Instance, readers: list[Instance], saves: int, key: str,
           faults: list[tuple[int, Callable[[], None]]] | None = None, pause: float = 0.01) -> Run:
    """``saves`` toggles on ``writer`` (the world starts granted: revoke, grant, revoke, ...) while one thread per
    reader asks; ``faults`` are (before which save, what to do), run on the writer's thread."""
    run = Run()
    stop = threading.Event()

    def ask(i: Instance) -> None:
        with httpx.Client(base_url=i.url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as client:
            while not stop.is_set():
                run.answers.append(read(i, client))

    threads = [threading.Thread(target=ask, args=(i,), daemon=True) for i in readers]
    for t in threads:
        t.start()
    try:
        time.sleep(0.2)
        todo = dict(faults or [])
        for n in range(saves):
            if n in todo:
                todo[n]()
            save = toggle(writer, granted=n % 2 == 1)  # the world starts granted: the first save revokes
            run.saves.append(save)
            if save.status != 200:
                run.errors.append(f"save {n}: {save.status}")
            time.sleep(pause)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    return run


LEASE = 1.0
# A save waits at most a lease and its margin for an instance that does not confirm; plus the save itself.
SAVE_BOUND = LEASE + 0.07 + 0.6


@dataclass
class Cluster:
    url: str
    key: str
    redis: RedisServer
    prefix: str
    instances: list[Instance]

    def start(self, name: str, **env: str) -> Instance:
        i = Instance({"AUTHZ_DATABASE_URL": self.url, "AUTHZ_SECRET_KEY": "r11-test", "AUTHZ_REDIS_URL": self.redis.url,
                      "AUTHZ_REDIS_PREFIX": self.prefix, "AUTHZ_SESSION_STORE": "sql",
                      "AUTHZ_LEASE_SECONDS": str(LEASE), **env}, name)
        self.instances.append(i)
        return i

    def ready(self, i: Instance) -> Instance:
        i.wait_ready()
        i.client.headers["Authorization"] = f"Bearer {self.key}"
        return i

    def writer(self, **env: str) -> Instance:
        a = self.ready(self.start("A", **env))
        r = a.client.post("/v1/session", json={"email": BEHEERDER, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return a


@pytest.fixture
def cluster(pg_url: str) -> Iterator[Cluster]:
    db = Database(pg_url)
    w = World(db)
    w.org(AFNEMER, "Bakkerij De Korenschoof")
    w.product(PRODUCT)
    w.contract(AFNEMER, PRODUCT, date(2026, 1, 1))
    w.beheerder(BEHEERDER, AFNEMER)
    w.account(USER, AFNEMER)
    w.grant(USER, AFNEMER, [PRODUCT])
    with db.tx("test") as t:
        key = keys.create(t, "r11-test")
    db.dispose()
    redis = RedisServer()
    redis.start()
    c = Cluster(pg_url, key, redis, f"authz-r11-{uuid.uuid4().hex[:8]}:", [])
    try:
        yield c
    finally:
        if redis.proc is not None and redis.proc.poll() is None:
            redis.proc.send_signal(signal.SIGCONT)
        for i in c.instances:
            if i.proc.poll() is None:
                i.proc.send_signal(signal.SIGCONT)
            i.stop()
        redis.stop()


def judge(run: Run, c: Cluster, confirmed: bool | None = True) -> None:
    """No stale answer, every save accepted and within the bound, the last save is what SQL holds, and every
    instance ends at SQL's revision."""
    stale_allows, stale_denies, wrong = run.verdicts()
    answered = [a for a in run.answers if a.status == 200]
    unavailable = [a for a in run.answers if a.status == 503]
    figures = (f"{len(run.saves)} saves, {len(run.answers)} answers ({len(unavailable)} × 503), "
               f"slowest save {max(s.returned - s.sent for s in run.saves):.3f} s")
    assert not run.errors, run.errors
    assert not stale_allows, f"{len(stale_allows)} stale allows, first {stale_allows[:3]}; {figures}; " \
        f"around it: {run.around(stale_allows[0])}"
    assert not stale_denies, f"{len(stale_denies)} stale answers, first {stale_denies[:3]}; {figures}; " \
        f"around it: {run.around(stale_denies[0])}"
    assert not wrong, f"{len(wrong)} answers that do not match their own revision, first {wrong[:3]}"
    assert len(answered) > len(run.saves), f"the readers were barely answered: {figures}"
    assert {a.status for a in run.answers} <= {200, 503}, figures
    slow = [s for s in run.saves if s.returned - s.sent > SAVE_BOUND]
    assert not slow, f"saves beyond the bound: {slow}"
    assert all(s.confirmed in ("true", "false") for s in run.saves)
    if confirmed is not None:
        assert all(s.confirmed == ("true" if confirmed else "false") for s in run.saves), \
            [s.confirmed for s in run.saves]
    db = Database(c.url)
    try:
        with db.read() as s:
            held = s.execute(select(Grant)).scalars().all()
        sql_revision = db.revision()
    finally:
        db.dispose()
    assert bool(held) == run.saves[-1].granted  # nothing accepted is lost
    for i in c.instances:
        if i.proc.poll() is None:
            assert _settles(i, sql_revision), f"{i.name} did not reach revision {sql_revision}: {i.readyz()}"


def _settles(i: Instance, revision: int) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            data = i.readyz()
        except httpx.TransportError:  # still starting
            data = {"ready": False}
        if data["ready"] and data["revision"] >= revision:
            return True
        time.sleep(0.05)
    return False
