"""The value parsers shared by both edges (the JSON API and the portal): e-mail, KvK number, product code, day,
instant, whole number, free text and an https link. Each takes the raw value and the field name and returns a trusted
value, or raises ``Invalid`` (422) with the spec's error code. No HTTP here: the edges only decide where a value comes
from."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import idna

from authz.clock import AMSTERDAM as _AMSTERDAM
from authz.errors import Invalid, NotFound

# [0-9], never \d: \d also matches '１' or '١', which int() reads but a KvK register or a database id never holds.
KVK_RE = re.compile(r"[0-9]{8}")
CODE_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
ID_RE = re.compile(r"[0-9]{1,18}")  # 18 digits stay below 2**63: a BIGINT column can hold every id we parse
# C0 and C1 control characters and DEL: PostgreSQL refuses NUL outright, and none belongs in an address or a search.
# Also the Unicode line and paragraph separators (Zl, Zp: U+2028, U+2029), which e-mail headers and many readers take
# for a line break (a name holding one made the subject of its notification unwritable), and the bidirectional
# embedding, override and isolate controls (U+202A-202E, U+2066-2069), which make a name or address read otherwise
# than it is stored.
CONTROL_BEYOND_C0 = "\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"  # ranges, as in a regex class
CONTROL_CHARS = "\x00-\x1f" + CONTROL_BEYOND_C0
CONTROL_RE = re.compile(f"[{CONTROL_CHARS}]")
MAX_EMAIL = 254
MAX_BIGINT = 2**63 - 1  # what a revision, a version or an id in SQL can be at most
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")


def whole_number(raw: str | None) -> int | None:
    """``raw`` as a non-negative whole number of at most 18 ASCII digits, else None. ``str.isdigit`` is not enough:
    it accepts '²', which ``int`` then refuses (a 500 where a 4xx belongs)."""
    return int(raw) if raw is not None and ID_RE.fullmatch(raw) else None


def record_id(raw: str, code: str, message: str) -> int:
    """A record's number from a path: anything but a whole number is no such record (404 ``code``)."""
    number = whole_number(raw)
    if number is None:
        raise NotFound(code, message)
    return number


def link_token(raw: str) -> str:
    """A link's token from a path: anything but the shape we hand out is unknown (404), never looked up."""
    if not TOKEN_RE.fullmatch(raw):
        raise NotFound("invalid_token", "This link is not valid.")
    return raw


def has_control(value: str) -> bool:
    # Printable ASCII holds none: a test much cheaper than the search, which decides every other string.
    return not (value.isascii() and value.isprintable()) and CONTROL_RE.search(value) is not None


def search_text(value: str, max_len: int) -> str:
    """A search term as typed, without control characters, trimmed and cut to ``max_len``."""
    return CONTROL_RE.sub("", value).strip()[:max_len]


# -- field parsers: each takes the raw value and the field name, returns a trusted value or raises Invalid --------

def email(value: Any, name: str) -> str:
    """An e-mail address in its canonical form, the one form that is stored, compared and looked up: trimmed; no
    control character; already in Unicode NFKC (hence NFC) form, else refused, so that no compatibility or
    singleton character (KELVIN SIGN, full-width letters, a decomposed accent) can pass for another; the local part
    lower-cased by ASCII rules only (A-Z), so no Unicode case mapping merges two addresses; the domain lower-cased
    as IDNA (UTS 46) maps it, kept as Unicode."""
    if isinstance(value, str) and len(value) <= MAX_EMAIL and "@" in value:
        address = value.strip()  # on the hot path of /v1/check: trimmed once
        if address.isascii():
            if address.isprintable():  # printable ASCII: no control character, and lower() maps A-Z only
                return address.lower()
        else:
            canonical = _unicode_email(address)
            if canonical is not None:
                return canonical
    raise Invalid("invalid_email", f"'{name}' must be an e-mail address.")


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _unicode_email(address: str) -> str | None:
    if has_control(address) or not unicodedata.is_normalized("NFKC", address):
        return None
    local, _, domain = address.rpartition("@")
    if not domain.isascii():
        try:
            domain = idna.decode(idna.encode(domain, uts46=True))
        except idna.IDNAError:
            return None
    return f"{local.translate(_ASCII_LOWER)}@{domain.lower()}"


def kvk(value: Any, name: str) -> str:
    if not isinstance(value, str) or not KVK_RE.fullmatch(value):
        raise Invalid("invalid_kvk", f"'{name}' must be a KvK number of exactly 8 digits.")
    return value


def code(value: Any, name: str) -> str:
    if not isinstance(value, str) or not CODE_RE.fullmatch(value):
        raise Invalid("invalid_product_code",
                      f"'{name}' must be a product code: lowercase letters, digits and '-', 2 to 63 characters.")
    return value


def codes(value: Any, name: str) -> list[str]:
    if not isinstance(value, list):
        raise Invalid("invalid_field", f"'{name}' must be a list of product codes.")
    out = [code(v, name) for v in value]
    if len(set(out)) != len(out):
        raise Invalid("duplicate_product", f"'{name}' names a product more than once.")
    return out


def text(max_len: int = 200, min_len: int = 1, lines: bool = False) -> Callable[[Any, str], str]:
    """Free text (a name, a description, a reason): trimmed, of ``min_len`` to ``max_len`` characters, without
    control characters (:data:`CONTROL_RE`: also no Unicode line or paragraph separator and no bidirectional
    control). A NUL would reach the database, which refuses it (a 500), and a CR, LF or U+2028 in a name would forge
    a line of an e-mail that quotes it, or make its subject unwritable. ``lines`` allows the line breaks of a text
    that may have lines, such as a description or a reason: LF only, with a CRLF or CR (as forms send them) read as
    LF."""
    def parse(value: Any, name: str) -> str:
        if not isinstance(value, str) or not min_len <= len(value.strip()) <= max_len:
            raise Invalid("invalid_field", f"'{name}' must be text of {min_len} to {max_len} characters.")
        out = value.strip()
        if lines:
            out = out.replace("\r\n", "\n").replace("\r", "\n")
        if has_control(out.replace("\n", "") if lines else out):
            raise Invalid("invalid_field", f"'{name}' may not contain control characters, Unicode line separators or "
                          "direction controls" + (" (a line break is LF)." if lines else "."))
        return out

    return parse


def password(value: Any, name: str) -> str:
    if not isinstance(value, str) or not 12 <= len(value) <= 256:
        raise Invalid("weak_password", f"'{name}' must be a password of 12 to 256 characters.")
    return value


def integer(minimum: int = 0, maximum: int = MAX_BIGINT) -> Callable[[Any, str], int]:
    """A whole number from ``minimum`` to ``maximum`` (by default the largest a BIGINT column holds)."""
    def parse(value: Any, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise Invalid("invalid_field", f"'{name}' must be a whole number from {minimum} to {maximum}.")
        return value

    return parse


def iso_day(value: Any, name: str) -> date:
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid("invalid_date", f"'{name}' must be an ISO date (YYYY-MM-DD).", field=name) from None


# RFC 3339 date-time (section 5.6). Seconds may be left out, as the NLGov profile's own example of context.time does
# ("1985-10-26T01:22-07:00"); the offset may not (an instant without one names no moment).
INSTANT_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?"
                        r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))")


def instant(value: Any, name: str) -> datetime:
    """An RFC 3339 instant (``2026-06-15T10:00:00Z``, ``2026-06-15T12:00:00.5+02:00``) as an aware datetime in UTC,
    else 422 ``invalid_time``. Fractions beyond microseconds are cut off; a leap second (``:60``) reads as the last
    microsecond of its minute (Python's datetime has no 61st second). The instant must have a day in UTC and in
    Europe/Amsterdam between years 1 and 9999 (the rules judge contracts by the Amsterdam day)."""
    m = INSTANT_RE.fullmatch(value) if isinstance(value, str) else None
    if m is not None:
        year, month, day, hour, minute, sec, frac, z, sign, oh, om = m.groups()
        second = int(sec or 0)
        micro = int((frac or "0")[:6].ljust(6, "0"))
        if second == 60:
            second, micro = 59, 999_999
        try:
            offset = timedelta(0) if z else (1 if sign == "+" else -1) * timedelta(hours=int(oh), minutes=int(om))
            at = datetime(int(year), int(month), int(day), int(hour), int(minute), second, micro,
                          tzinfo=timezone(offset))
            utc = at.astimezone(UTC)
            utc.astimezone(_AMSTERDAM)
            return utc
        except (ValueError, OverflowError):  # no such day or hour, an offset of 24 h or more, beyond the years
            pass
    raise Invalid("invalid_time", f"'{name}' must be an RFC 3339 instant with a time zone, such as "
                                  f"'2026-06-15T10:00:00Z'.")


def domains(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and "." in v and len(v) <= 253 and not has_control(v)
                                              for v in value):
        raise Invalid("invalid_field", f"'{name}' must be a list of e-mail domains such as 'example.nl'.")
    return sorted({v.strip().lower() for v in value})


MAX_URL = 2000


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def uri(value: Any, name: str) -> str:
    """An absolute URI naming something (NLGov: a processing activity, an algorithm), e.g. ``https://…`` or
    ``urn:…``: a scheme (RFC 3986), then something, at most 2000 printable ASCII characters without spaces, else
    ``invalid_uri``. It is only recorded (the decision log), never followed or shown as a link."""
    text = value if isinstance(value, str) else ""
    scheme, colon, rest = text.partition(":")
    if (colon and rest and len(text) <= MAX_URL and text.isascii() and text.isprintable() and " " not in text
            and _SCHEME.fullmatch(scheme)):
        return text
    raise Invalid("invalid_uri", f"'{name}' must be an absolute URI (such as https://… or urn:…) of at most "
                                 f"{MAX_URL} characters.")


def https_url(value: Any, name: str) -> str:
    """A link to offer on a page (R16: a product's): an absolute https URL with a host, of at most 2000 characters,
    without spaces, control characters or credentials (``user:pass@``), else 422 ``invalid_url``. Only https: a
    ``javascript:`` or ``data:`` link in a page, or a plain-http one, is refused here rather than escaped later."""
    url = value.strip() if isinstance(value, str) else ""
    if 0 < len(url) <= MAX_URL and url.isascii() and url.isprintable() and " " not in url and "\\" not in url:
        try:
            parts = urlsplit(url)
            ok = parts.scheme == "https" and bool(parts.hostname) and "@" not in parts.netloc and parts.port != 0
        except ValueError:  # a malformed host or a port that is not a number
            ok = False
        if ok:
            return url
    raise Invalid("invalid_url", f"'{name}' must be an https:// link of at most {MAX_URL} characters.")
