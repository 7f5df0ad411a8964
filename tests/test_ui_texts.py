"""Every error code the services can raise, and every kind of lint finding, has a Dutch text in admin_ui/texts.py.

The codes are read from the source, so a new ``raise Invalid("new_code", ...)`` without a Dutch text fails here
instead of showing the user an English message."""

from __future__ import annotations

import re
from pathlib import Path

from admin_ui import texts

ROOT = Path(__file__).resolve().parent.parent
# What a UI page can show: the services, the store under them, and the caches they use (throttle, sessions).
RAISERS = [ROOT / "authz" / "service", ROOT / "authz" / "store", ROOT / "authz" / "cache"]
# A call of one of these raises (or makes) an error; its code is the first argument that is a bare word in quotes
# (messages have spaces). ``code: str = "…"`` is an exception's default code.
ERROR_CALL_RE = re.compile(r"\b(?:Invalid|Conflict|NotFound|Forbidden|Unauthorized|Unavailable|AuthzError"
                           r"|TooManyAttempts|super\(\)\.__init__)\(")
WORD_RE = re.compile(r"(f?)\"([a-z][a-z_{}.]*)\"")
DEFAULT_RE = re.compile(r"\bcode: str = \"([a-z_]+)\"")
# Codes made from a value: each f-string and the codes it can make (a new one must be listed here).
FORMED = {"invitation_{i.status}": {"invitation_accepted", "invitation_withdrawn"}}


def _arguments(source: str, start: int) -> str:
    """The text of a call's arguments, from just after its opening parenthesis to the one that closes it."""
    depth = 1
    for i in range(start, len(source)):
        depth += {"(": 1, ")": -1}.get(source[i], 0)
        if depth == 0:
            return source[start:i]
    return source[start:]


def raised_codes() -> set[str]:
    codes: set[str] = set()
    for folder in RAISERS:
        for path in sorted(folder.rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            codes.update(DEFAULT_RE.findall(source))
            for call in ERROR_CALL_RE.finditer(source):
                word = WORD_RE.search(_arguments(source, call.end()))
                if word is None:
                    continue  # a code passed on (``super().__init__(code, …)``): found at its default or caller
                is_f, code = word.groups()
                if is_f and "{" in code:
                    assert code in FORMED, f"{path.name}: the code f\"{code}\" is made from a value; list its codes"
                    codes |= FORMED[code]
                else:
                    codes.add(code)
    return codes


def test_every_error_code_of_the_services_has_a_dutch_text() -> None:
    codes = raised_codes()
    assert {"wrong_password", "too_many_attempts", "unknown_product", "invitation_withdrawn"} <= codes
    assert sorted(codes - set(texts.ERRORS)) == []


def test_every_kind_of_lint_finding_has_a_dutch_text() -> None:
    source = (ROOT / "authz" / "policyfile" / "lint.py").read_text(encoding="utf-8")
    kinds = set(re.findall(r"Finding\(\s*\"([a-z_]+)\"", source))
    assert "inert_grant" in kinds
    assert sorted(kinds - set(texts.FINDINGS)) == []


def test_no_template_ends_a_sentence_on_a_name_with_a_full_stop_of_its_own() -> None:
    """``{{ org_name }}.`` reads "B.V.." for a name that ends in its own full stop: such a sentence ends with the
    filter ``punt`` (one full stop, as the e-mails have)."""
    found = []
    for path in sorted((ROOT / "admin_ui" / "templates").glob("*.html")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"(\}\}|%\})\.", line):
                found.append(f"{path.name}:{number}")
    assert found == []
