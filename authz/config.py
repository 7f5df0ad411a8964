"""Settings, read once from the environment (or passed in by tests)."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_FREE_MAIL = (
    "gmail.com", "googlemail.com", "hotmail.com", "hotmail.nl", "outlook.com", "outlook.nl", "live.nl", "live.com",
    "yahoo.com", "yahoo.nl", "icloud.com", "me.com", "ziggo.nl", "kpnmail.nl", "planet.nl", "home.nl", "xs4all.nl",
    "gmx.com", "gmx.net", "proton.me", "protonmail.com", "aol.com", "msn.com",
)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A setting in the environment that cannot be read: the process refuses to start, naming it."""


def networks(text: str, name: str = "AUTHZ_TRUSTED_PROXIES") -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR networks (``10.0.0.1, 10.1.0.0/16, ::1``), each read by :mod:`ipaddress`."""
    found = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            found.append(ipaddress.ip_network(part))
        except ValueError as exc:
            raise SettingsError(f"{name}: {part!r} is not an IP address or network ({exc})") from None
    return tuple(found)


def _whole(env: dict[str, str], name: str, default: int) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    if not text.isascii() or not text.isdigit():
        raise SettingsError(f"{name} must be a whole number, not {text!r}")
    return int(text)


def _switch(env: dict[str, str], name: str, default: bool) -> bool:
    text = (env.get(name) or "").strip().lower()
    if not text:
        return default
    if text not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise SettingsError(f"{name} must be 1 or 0 (on or off), not {text!r}")
    return text in ("1", "true", "yes", "on")


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {text!r}") from None


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./authz.db"
    redis_url: str | None = None
    smtp_url: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    outbox_dir: Path = Path("./outbox")
    free_mail_domains: tuple[str, ...] = DEFAULT_FREE_MAIL
    # R11: the length of an instance's lease, in seconds (authz.sync). An instance answers decisions only while its
    # lease runs and renews it every fifth of this; a save waits for every lease holder to confirm it, at most
    # about this long when one cannot (an instance paused, cut off from Redis and SQL).
    lease_seconds: float = 1.0
    # How long /v1/check with min_revision may wait for this instance to catch up.
    min_revision_wait: float = 2.0
    # How often the outbox sender looks for mail to deliver, in seconds (0: no background sender; see authz.mail).
    mail_interval: float = 1.0
    # The sender of every e-mail (the From header and the SMTP envelope).
    mail_from: str = "noreply@gegevensdiensten.nl"
    # Where sessions live: "sql" or "redis"; None: in Redis when redis_url is set, else in SQL. Redis spares SQL a
    # session write per active user a minute, but while Redis is down nobody is logged in (503, fail-closed).
    session_store: str | None = None
    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 12 * 60 * 60
    # Failed log-ins allowed per window, per account (e-mail as typed) and per client address (authz.cache.throttle).
    login_window_seconds: int = 15 * 60
    login_failures_per_account: int = 5
    login_failures_per_address: int = 50
    # Registrations allowed per hour, per client address and per KvK number (authz.service.accounts.register).
    registration_window_seconds: int = 60 * 60
    registrations_per_address: int = 20
    registrations_per_kvk: int = 10
    # Peers whose X-Forwarded-For is believed (authz.identity.client_address); empty: only the peer address counts.
    trusted_proxies: tuple[Network, ...] = ()
    redis_prefix: str = "authz:"
    # With Redis: start from the decider snapshot kept there, and write one after a load from SQL (authz.cache).
    snapshot_cache: bool = True
    # Revisions after the snapshot in Redis at which an instance writes a newer one (0: only after a SQL load).
    snapshot_refresh: int = 1000
    max_body_bytes: int = 1_000_000
    # The bearer token /metrics asks for; None: /metrics is open (for a scraper inside the network only).
    metrics_token: str | None = None
    # R17: who must have a second factor before doing anything but enrol: "admins" (beheerders and operators),
    # "all" or "none".
    mfa_required: str = "admins"
    # The decision log (authz.decisionlog): every decision recorded, kept this many days. Off only to measure what
    # it costs (load/bench.py); the journal directory holds what was decided but is not yet in SQL (one file per
    # running instance, recovered by the next start after a crash); the backlog bounds it while SQL is down.
    decision_log: bool = True
    decision_log_days: int = 90
    decision_log_dir: Path = Path("./decision-log")
    decision_log_backlog: int = 5_000_000

    def __post_init__(self) -> None:
        if not 0.1 <= self.lease_seconds <= 3600:
            raise SettingsError(f"AUTHZ_LEASE_SECONDS must be between 0.1 and 3600 seconds, not {self.lease_seconds}")
        if self.mfa_required not in ("admins", "all", "none"):
            raise SettingsError(f"AUTHZ_MFA_REQUIRED must be 'admins', 'all' or 'none', not {self.mfa_required!r}")
        if not 1 <= self.decision_log_days <= 36_500:
            raise SettingsError(f"AUTHZ_DECISION_LOG_DAYS must be a whole number of days from 1 to 36500, not "
                                f"{self.decision_log_days}")
        if self.decision_log_backlog < 1000:
            raise SettingsError(f"AUTHZ_DECISION_LOG_BACKLOG must be at least 1000 entries, not "
                                f"{self.decision_log_backlog}")
        if self.redis_url is not None:
            from authz.cache.connect import check  # the one reader of the URL's two forms

            try:
                check(self.redis_url)
            except ValueError as exc:
                raise SettingsError(str(exc)) from None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        secret = env.get("AUTHZ_SECRET_KEY")
        if not secret:
            log.warning("AUTHZ_SECRET_KEY is not set: a key was generated for this start; sessions and links "
                        "made now will not survive a restart or work on another instance")
            secret = secrets.token_urlsafe(32)
        free = env.get("AUTHZ_FREE_MAIL_DOMAINS")
        return cls(
            database_url=env.get("AUTHZ_DATABASE_URL") or cls.database_url,
            redis_url=env.get("AUTHZ_REDIS_URL") or None,
            smtp_url=env.get("AUTHZ_SMTP_URL") or None,
            base_url=(env.get("AUTHZ_BASE_URL") or cls.base_url).rstrip("/"),
            secret_key=secret,
            outbox_dir=Path(env.get("AUTHZ_OUTBOX_DIR") or "./outbox"),
            free_mail_domains=tuple(d.strip().lower() for d in free.split(",") if d.strip())
            if free is not None
            else DEFAULT_FREE_MAIL,
            redis_prefix=env.get("AUTHZ_REDIS_PREFIX") or cls.redis_prefix,
            mail_from=env.get("AUTHZ_MAIL_FROM") or cls.mail_from,
            lease_seconds=_seconds(env, "AUTHZ_LEASE_SECONDS", cls.lease_seconds),
            snapshot_cache=(env.get("AUTHZ_SNAPSHOT_CACHE") or "1").strip().lower() not in ("0", "false", "no", "off"),
            snapshot_refresh=int(env.get("AUTHZ_SNAPSHOT_REFRESH") or cls.snapshot_refresh),
            session_store=env.get("AUTHZ_SESSION_STORE") or None,
            session_idle_seconds=int(env.get("AUTHZ_SESSION_IDLE") or cls.session_idle_seconds),
            session_absolute_seconds=int(env.get("AUTHZ_SESSION_ABSOLUTE") or cls.session_absolute_seconds),
            login_window_seconds=int(env.get("AUTHZ_LOGIN_WINDOW") or cls.login_window_seconds),
            login_failures_per_account=int(env.get("AUTHZ_LOGIN_FAILURES_PER_ACCOUNT")
                                           or cls.login_failures_per_account),
            login_failures_per_address=int(env.get("AUTHZ_LOGIN_FAILURES_PER_ADDRESS")
                                           or cls.login_failures_per_address),
            registrations_per_address=int(env.get("AUTHZ_REGISTRATIONS_PER_ADDRESS") or cls.registrations_per_address),
            registrations_per_kvk=int(env.get("AUTHZ_REGISTRATIONS_PER_KVK") or cls.registrations_per_kvk),
            trusted_proxies=networks(env.get("AUTHZ_TRUSTED_PROXIES") or ""),
            metrics_token=env.get("AUTHZ_METRICS_TOKEN") or None,
            mfa_required=(env.get("AUTHZ_MFA_REQUIRED") or cls.mfa_required).strip().lower(),
            decision_log=_switch(env, "AUTHZ_DECISION_LOG", cls.decision_log),
            decision_log_days=_whole(env, "AUTHZ_DECISION_LOG_DAYS", cls.decision_log_days),
            decision_log_dir=Path(env.get("AUTHZ_DECISION_LOG_DIR") or "./decision-log"),
            decision_log_backlog=_whole(env, "AUTHZ_DECISION_LOG_BACKLOG", cls.decision_log_backlog),
        )
