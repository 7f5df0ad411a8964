"""Helpers for the admin UI page tests: read forms and their CSRF tokens from HTML, check a page's structure."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from starlette.testclient import TestClient

CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def csrf_of(html: str) -> str:
    found = CSRF_RE.findall(html)
    assert found, "no CSRF token on the page"
    assert len(set(found)) == 1
    return found[0]


def as_data(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Form fields as httpx wants them: a name repeated (checkboxes) becomes a list."""
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


def post_form(client: TestClient, page: str, action: str, data: dict[str, Any] | list[tuple[str, str]],
              **kw: Any) -> Any:
    """GET ``page`` (for its CSRF token), then POST ``data`` with that token to ``action``, as a browser would."""
    r = client.get(page)
    assert r.status_code == 200, r.text
    token = csrf_of(r.text)
    items = list(data.items()) if isinstance(data, dict) else list(data)
    expanded: list[tuple[str, str]] = []
    for k, v in items:
        expanded += [(k, x) for x in v] if isinstance(v, list) else [(k, v)]
    return client.post(action, data=as_data([("csrf", token), *expanded]), follow_redirects=kw.pop("follow", True),
                       **kw)


class Structure(HTMLParser):
    """What the accessibility checks look at: headings, controls and their labels, inline script or style."""

    def __init__(self) -> None:
        super().__init__()
        self.h1 = 0
        self.headings: list[int] = []
        self.controls: list[dict[str, str | None]] = []
        self.labels: set[str] = set()
        self.inline: list[str] = []
        self.forms: list[dict[str, str | None]] = []
        self.form_has_csrf: list[bool] = []
        self.skip_link = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in {"h1", "h2", "h3", "h4"}:
            self.headings.append(int(tag[1]))
            self.h1 += tag == "h1"
        if tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))
        if tag in {"select", "textarea"} or (tag == "input" and a.get("type") not in {"hidden", "submit"}):
            self.controls.append(a)
        if tag == "script" or tag == "style" or "style" in a or any(k.startswith("on") for k in a):
            self.inline.append(tag)
        if tag == "form":
            self.forms.append(a)
            self.form_has_csrf.append(False)
        if tag == "input" and a.get("name") == "csrf" and self.form_has_csrf:
            self.form_has_csrf[-1] = True
        if tag == "a" and a.get("href") == "#inhoud":
            self.skip_link = True


def check_page(html: str) -> Structure:
    """One h1, no skipped heading level, a label for every control, a CSRF token in every POST form, a skip link,
    no inline script or style."""
    s = Structure()
    s.feed(html)
    assert s.h1 == 1, f"{s.h1} h1 elements"
    for before, after in zip(s.headings, s.headings[1:], strict=False):
        assert after <= before + 1, f"heading level jumps from h{before} to h{after}"
    for c in s.controls:
        assert c.get("id") in s.labels, f"control without a label: {c}"
    for f, has in zip(s.forms, s.form_has_csrf, strict=True):
        if (f.get("method") or "get").lower() == "post":
            assert has, f"POST form without a CSRF token: {f}"
    assert s.skip_link
    assert not s.inline, s.inline
    return s


class _Form(HTMLParser):
    """The fields a browser would send with the form whose ``action`` is given: hidden, text and date inputs with
    their values, ticked checkboxes and radios, the selected option of each select."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.found = False
        self.fields: list[tuple[str, str]] = []
        self.select: str | None = None
        self.first_option: tuple[str, str] | None = None
        self.selected = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action and not self.found
            self.found = self.found or self.inside
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in {"checkbox", "radio"}:
                if "checked" in a:
                    self.fields.append((a["name"], a.get("value", "on")))
            elif kind != "submit":
                self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self.select, self.first_option, self.selected = a.get("name"), None, False
        elif tag == "option" and self.select:
            if self.first_option is None:
                self.first_option = (self.select, a.get("value", ""))
            if "selected" in a:
                self.fields.append((self.select, a.get("value", "")))
                self.selected = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self.select:
            if not self.selected and self.first_option is not None:
                self.fields.append(self.first_option)
            self.select = None


def form_fields(html: str, action: str) -> list[tuple[str, str]]:
    """What submitting the (first) form posting to ``action`` sends, untouched, as the page pre-filled it."""
    parser = _Form(action)
    parser.feed(html)
    assert parser.found, f"no form posting to {action}"
    return parser.fields
