"""Secrets the service must read back (a TOTP secret, R17) kept sealed at rest: AES-256-GCM under a key derived
from ``AUTHZ_SECRET_KEY`` (HKDF-SHA256, its own purpose label), bound to the row it belongs to.

A copy of the database alone therefore yields no second factor, and a sealed secret moved to another account's
row does not open there. The price: a changed ``AUTHZ_SECRET_KEY`` leaves enrolled factors unreadable (their
holders use a recovery code, which is hashed independently of the key, or the operator resets the factor).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12


def _aead(secret_key: str, purpose: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"authz:{purpose}".encode()).derive(
        secret_key.encode())
    return AESGCM(key)


def seal(secret_key: str, purpose: str, bound_to: str, plain: str) -> str:
    """``plain`` encrypted for ``purpose``, bound to ``bound_to`` (e.g. the account id); URL-safe base64 text."""
    nonce = os.urandom(_NONCE)
    sealed = _aead(secret_key, purpose).encrypt(nonce, plain.encode(), bound_to.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(secret_key: str, purpose: str, bound_to: str, sealed: str) -> str | None:
    """The plain text, or None when it was sealed under another key, for another row, or was altered."""
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        return _aead(secret_key, purpose).decrypt(raw[:_NONCE], raw[_NONCE:], bound_to.encode()).decode()
    except (InvalidTag, ValueError):
        return None
