"""R17: the second factor as pure rules. TOTP (RFC 6238: 30-second steps, HMAC-SHA1, 6 digits), one step of
drift either way, and no code accepted twice: a code counts only for a time step later than the last one used
(kept per account in SQL). Ten single-use recovery codes, and who must have a factor (``AUTHZ_MFA_REQUIRED``)."""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Collection
from datetime import datetime

import pyotp

ISSUER = "Mijn Gegevensdiensten"
DIGITS, PERIOD, DRIFT = 6, 30, 1
RECOVERY_CODES = 10
POLICIES = ("admins", "all", "none")
ADMIN_ROLES = frozenset({"beheerder", "operator"})
_CODE_RE = re.compile(r"[0-9]{6}")
# Recovery codes: 3 groups of 4 from an alphabet without look-alikes (0/o, 1/l/i): 60 random bits.
_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_RECOVERY_RE = re.compile(r"[2-9a-hjkmnp-z]{12}")


def required(policy: str, roles: Collection[str]) -> bool:
    """Whether an account with ``roles`` must have a second factor under ``policy`` (``admins``: beheerders and
    operators; ``all``; ``none``)."""
    if policy == "all":
        return True
    return policy == "admins" and bool(ADMIN_ROLES & set(roles))


def new_secret() -> str:
    """A fresh TOTP secret: 160 random bits in base32 (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def uri(secret: str, email: str) -> str:
    """The ``otpauth://totp/…`` URI an authenticator app reads: the account's e-mail, the issuer, the algorithm,
    the digits and the period spelled out (apps that assume other defaults read them too)."""
    label = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=email, issuer_name=ISSUER)
    return f"{label}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}"


def step_of(now: datetime) -> int:
    return int(now.timestamp()) // PERIOD


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).generate_otp(step)


def is_code(otp: str) -> bool:
    """Whether ``otp`` has the form of a TOTP code (else it can only be a recovery code)."""
    return _CODE_RE.fullmatch(otp) is not None


def matching_step(secret: str, otp: str, now: datetime, last_step: int | None) -> int | None:
    """The time step whose code ``otp`` is, within one step of ``now`` and later than ``last_step``; None when it
    is none of them (or was used already). Compared in constant time."""
    if not is_code(otp):
        return None
    now_step = step_of(now)
    found = None
    for step in range(now_step - DRIFT, now_step + DRIFT + 1):
        if hmac.compare_digest(code_at(secret, step), otp) and (last_step is None or step > last_step):
            found = step
    return found


def new_recovery_codes() -> list[str]:
    """Ten fresh recovery codes, written ``xxxx-xxxx-xxxx``."""
    codes = ["".join(secrets.choice(_ALPHABET) for _ in range(12)) for _ in range(RECOVERY_CODES)]
    return [f"{c[:4]}-{c[4:8]}-{c[8:]}" for c in codes]


def recovery_form(otp: str) -> str | None:
    """A recovery code as typed, in the one form that is hashed (lower case, no spaces or dashes); None when it
    cannot be one."""
    plain = otp.replace("-", "").replace(" ", "").lower()
    return plain if _RECOVERY_RE.fullmatch(plain) else None
