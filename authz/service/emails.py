"""Business e-mail addresses (R10): valid syntax, no free-mail domain, and one of the organisation's domains.

Syntax is checked by ``email_validator`` without DNS (``check_deliverability=False``): registration must not hang
on, or leak timing through, someone else's name servers. Whether the address is really the applicant's is proven
later by the activation link that is sent to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email

from authz import values
from authz.errors import Invalid

_DOMAIN_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+")


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].lower()


def normalise(raw: str) -> str:
    """The address in its canonical form (:func:`authz.values.email`), if its syntax is valid."""
    address = values.email(raw, "email")
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Invalid("invalid_email", f"'email' is not a valid e-mail address: {exc}") from None
    return address


def business_email(raw: str, free_mail_domains: Iterable[str]) -> str:
    """The normalised address, if it is a valid address outside free-mail domains."""
    address = normalise(raw)
    domain = domain_of(address)
    free = {d.lower().strip(".") for d in free_mail_domains}
    # Subdomains count too: mail.gmail.com is as free as gmail.com.
    if any(domain == d or domain.endswith("." + d) for d in free):
        raise Invalid("free_mail_domain", f"Use your business e-mail address; {domain} is a free-mail domain.")
    return address


def check_org_domain(email: str, org_domains: Iterable[str]) -> None:
    """Where the organisation registered e-mail domains, the address must be in one of them (exactly)."""
    allowed = {d.lower() for d in org_domains}
    if allowed and domain_of(email) not in allowed:
        raise Invalid("email_domain_not_allowed",
                      f"This organisation accepts e-mail addresses at {', '.join(sorted(allowed))} only.")


def org_domains(values: Iterable[str], free_mail_domains: Iterable[str], name: str = "domains") -> list[str]:
    """An organisation's e-mail domains as registered: lower-case, sorted, each once; each a domain name such as
    'example.nl' (``invalid_domain``) and none a free-mail domain (``free_mail_domain``)."""
    free = set(free_mail_domains)
    out = sorted({v.strip().lower() for v in values})
    for d in out:
        if len(d) > 253 or not _DOMAIN_RE.fullmatch(d):
            raise Invalid("invalid_domain", f"'{d}' in '{name}' is not an e-mail domain such as 'example.nl'.")
        if d in free:
            # R10: an address at a free-mail domain is never a business e-mail, so it cannot be an org's domain.
            raise Invalid("free_mail_domain", f"'{d}' is a free-mail domain; it cannot belong to an organisation.")
    return out
