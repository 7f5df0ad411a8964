"""The long-lived parts of one running instance, built by the app factory and kept in the lifespan state; and how
an edge finds them from a request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:  # annotations only: who is asking (authz.identity) reads the state, and sits below these parts
    from authz.cache.sessions import SessionStore
    from authz.cache.throttle import Throttle
    from authz.clock import Clock
    from authz.config import Settings
    from authz.decider import Decider
    from authz.decisionlog import DecisionLog
    from authz.mail import Mailer
    from authz.metrics import Metrics
    from authz.store.db import Database
    from authz.sync import Sync


@dataclass
class State:
    settings: Settings
    clock: Clock
    db: Database
    decider: Decider
    sync: Sync
    metrics: Metrics
    sessions: SessionStore  # authz.cache.sessions: SQL, or Redis when configured
    throttle: Throttle  # failed log-ins (authz.cache.throttle)
    decisions: DecisionLog  # every decision answered (authz.decisionlog): record() on the request path
    mailer: Mailer | None = None  # the outbox sender (authz.mail); None where no app runs
    # Authorization header value -> SHA-256 of the key, for keys seen valid: saves hashing on every check.
    key_digests: dict[bytes, str] = field(default_factory=dict)


def state(request: Request) -> State:
    """The state of the instance that serves ``request`` (the JSON API and the portal alike)."""
    st: State = request.scope["app"].authz
    return st
