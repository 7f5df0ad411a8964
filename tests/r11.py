"""R11 seen from outside: a writer toggling one grant on one instance, readers asking the others, and a judge that
finds every answer that contradicts a save that had returned before the question was sent.

Times are this process's monotonic clock. A reader's question *sent* after a save's answer was *received* arrived
after that answer was sent, so it must reflect the save (or be a 503). Saves come one after another from one
writer, so at most one save is under way when a question is sent: then either state is a right answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2 as httpx

from tests.instances import Instance

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


@dataclass(frozen=True)
class Answer:
    instance: str
    sent: float
    status: int
    allowed: bool | None


@dataclass
class Run:
    saves: list[Save] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def verdicts(self) -> tuple[list[Answer], list[Answer]]:
        """(stale allows, stale denies): answers that contradict the newest save returned before they were sent."""
        stale_allows: list[Answer] = []
        stale_denies: list[Answer] = []
        saves = [s for s in self.saves if s.status == 200]
        for a in self.answers:
            if a.status != 200:
                continue
            before = [s for s in saves if s.returned < a.sent]
            if not before:
                continue
            last = before[-1]
            rights = {last.granted}
            later = [s for s in saves if s.sent < a.sent and s.returned >= a.sent]
            rights |= {s.granted for s in later}  # under way when the question was sent: either is right
            if a.allowed not in rights:
                (stale_allows if a.allowed else stale_denies).append(a)
        return stale_allows, stale_denies


def toggle(writer: Instance, granted: bool) -> Save:
    sent = time.monotonic()
    r = writer.client.put(f"/v1/orgs/{AFNEMER}/users/{USER}/grants",
                          json={"afnemer": AFNEMER, "products": [PRODUCT] if granted else []})
    return Save(sent, time.monotonic(), granted, r.status_code, r.headers.get("authz-confirmed"))


def read(i: Instance, client: httpx.Client) -> Answer:
    sent = time.monotonic()
    try:
        r = client.post("/v1/check", json={"user": USER, "product": PRODUCT})
    except httpx.TransportError:
        return Answer(i.name, sent, 0, None)
    allowed = r.json()["allowed"] if r.status_code == 200 else None
    return Answer(i.name, sent, r.status_code, allowed)


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
