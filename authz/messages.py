"""E-mail texts (Dutch), from Jinja2 templates in authz/mail_templates.

A message NAME has three files: ``NAME.subject.txt`` (one line), ``NAME.txt`` (plain text) and ``NAME.html`` (which
extends ``_layout.html``). Views compute, templates display: pass every value in; never a password.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "mail_templates"
MAX_SUBJECT = 300  # Outbox.subject is String(300): PostgreSQL refuses a longer one, and the change with it


@cache
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                       undefined=StrictUndefined, keep_trailing_newline=True)


# A full stop right after an abbreviation's own ("… B.V." ending a sentence), not one of an ellipsis.
_DOUBLE_STOP = re.compile(r"(?<=[A-Za-z]\.)\.(?!\.)")


def one_stop(text: str) -> str:
    """``Bakkerij B.V..`` → ``Bakkerij B.V.``: a name at the end of a sentence brings its own full stop."""
    return _DOUBLE_STOP.sub("", text)


def render(name: str, **ctx: Any) -> tuple[str, str, str]:
    """(subject, plain text, html) of message ``name``."""
    env = _env()
    subject = _fit(one_stop(env.get_template(f"{name}.subject.txt").render(**ctx).strip()))
    return (subject, one_stop(env.get_template(f"{name}.txt").render(**ctx)),
            one_stop(env.get_template(f"{name}.html").render(**ctx)))


def _fit(subject: str) -> str:
    """The subject cut to :data:`MAX_SUBJECT` characters, ending in an ellipsis when cut (an organisation name of
    200 characters and a long address together can exceed it)."""
    return subject if len(subject) <= MAX_SUBJECT else subject[:MAX_SUBJECT - 1].rstrip() + "…"
