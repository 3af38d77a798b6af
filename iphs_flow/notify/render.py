"""Render a notification in the recipient's language from plain-text Jinja2 templates.

Each template in `templates/<lang>/<name>.txt` has the subject on its first line and the
body below. A template name a process designer invents (and we do not ship) falls back
to `generic`, so a new `notify` task never stops a case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, TemplateNotFound

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("sv", "en")

DECISION_LABELS = {
    "sv": {"approved": "Godkänd", "approved_with_conditions": "Godkänd med villkor", "rejected": "Avslag",
           "on_hold": "Vilande", "recycle": "Åter till ett tidigare steg", "more_info": "Begär komplettering",
           "referred": "Hänvisad", "do_it": "Genomförs", "not_now": "Inte nu", "realised": "Realiserad",
           "not_realised": "Inte realiserad", "keep_following": "Följs upp vidare"},
    "en": {"approved": "Approved", "approved_with_conditions": "Approved with conditions", "rejected": "Rejected",
           "on_hold": "On hold", "recycle": "Back to an earlier stage", "more_info": "More information requested",
           "referred": "Referred", "do_it": "Will be done", "not_now": "Not now", "realised": "Realised",
           "not_realised": "Not realised", "keep_following": "Followed up further"},
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Plain text mail: no HTML escaping; values come from case data, never from templates.
    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=False,  # noqa: S701
                       undefined=ChainableUndefined, keep_trailing_newline=True)


def language_of(value: str | None) -> str:
    return value if value in LANGUAGES else "sv"


def decision_label(decision: Any, language: str) -> str:
    text = str(decision or "")
    return DECISION_LABELS[language_of(language)].get(text, text)


def render(template: str, language: str, context: dict[str, Any]) -> Rendered:
    """Subject and body of `template` in `language` (Swedish unless the person chose English)."""
    language = language_of(language)
    env = _environment()
    name = template if re.fullmatch(r"[a-z0-9_]+", template or "") else "generic"
    try:
        source = env.get_template(f"{language}/{name}.txt")
    except TemplateNotFound:
        source = env.get_template(f"{language}/generic.txt")
    text = source.render(**context)
    subject, _, body = text.partition("\n")
    subject = " ".join(subject.split())[:300]
    return Rendered(subject=subject, body=body.lstrip("\n"))
