"""What may live in Redis when it is configured, each with a SQL implementation behind the same interface."""

from __future__ import annotations

from typing import Any

from redis.backoff import NoBackoff
from redis.retry import Retry

from authz.cache.connect import sync_client


def redis_client(url: str) -> Any:
    """A synchronous client for the stores here: short timeouts and one immediate retry, so that a Redis outage
    turns into a quick, clear 503 rather than a log-in hanging on back-off. ``url`` is either form that
    :mod:`authz.cache.connect` reads (a Redis URL or a Sentinel address)."""
    return sync_client(url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 1))
