"""The half-login token of the portal's two-step log-in (R17): what the code page carries from the password step to
the code step, in place of the password.

After a right password for an account with a second factor, the portal's code page holds this token in a hidden
field. It is opaque to its holder: AES-GCM sealed by :mod:`authz.secretbox` under a key derived from
``AUTHZ_SECRET_KEY`` (its own purpose label), and bound, as associated data, to the e-mail address the code step
names, so a token opens only for the account it was made for. Inside: the account's id and e-mail, when it was
issued, when it expires (:data:`TTL`), a random id, and a keyed digest (HMAC under the secret key) of the account's
password hash at that moment, so a password changed or reset in between ends every half-login made before. Neither
the password nor anything from which it could be derived is in it: the digest is of the argon2 hash, keyed with a
secret the holder does not have, and sealed besides.

Single use is the caller's (:func:`authz.service.accounts.login_code`): the random id is marked used in the throttle
store (:meth:`authz.cache.throttle.Throttle.mark_used`) by the log-in it completes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from authz import secretbox

PURPOSE = "half-login"
TTL = 300  # seconds from a right password to its code


@dataclass(frozen=True)
class Claims:
    """What an opened token says."""

    account_id: int
    email: str
    issued: int  # POSIX seconds
    expires: int  # POSIX seconds
    id: str  # random: what single use marks
    password_digest: str  # keyed digest of the password hash at issue


def _bound(email: str) -> str:
    return f"login:{email}"


def password_digest(secret_key: str, password_hash: str) -> str:
    """A keyed digest of a stored password hash: equal while the hash is, and of no use without the secret key."""
    return hmac.new(secret_key.encode(), f"authz:{PURPOSE}:{password_hash}".encode(), hashlib.sha256).hexdigest()


def issue(secret_key: str, account_id: int, email: str, password_hash: str, now: datetime) -> str:
    """A new token for ``email`` (its canonical form), valid for :data:`TTL` seconds from ``now``."""
    issued = int(now.timestamp())
    body = {"a": account_id, "e": email, "n": issued, "x": issued + TTL, "i": secrets.token_hex(16),
            "p": password_digest(secret_key, password_hash)}
    return secretbox.seal(secret_key, PURPOSE, _bound(email), json.dumps(body, separators=(",", ":")))


def open_token(secret_key: str, email: str, token: str, now: datetime) -> Claims | None:
    """The claims of a token made by :func:`issue` for ``email`` that has not expired at ``now``; None for any
    other (forged, altered, sealed under another key, made for another account, expired)."""
    plain = secretbox.unseal(secret_key, PURPOSE, _bound(email), token)
    if plain is None:
        return None
    try:
        body = json.loads(plain)
        claims = Claims(int(body["a"]), str(body["e"]), int(body["n"]), int(body["x"]), str(body["i"]),
                        str(body["p"]))
    except (ValueError, KeyError, TypeError):
        return None
    if claims.email != email or not now.timestamp() < claims.expires:
        return None
    return claims
