"""Swedish first, English second (Flask-Babel): the language of every answer.

For people in a browser the language is, in order: the signed-in person's own setting
(the language switch saves it with the person), the choice made with the switch before
signing in (kept in the session), and otherwise Swedish — never the browser's
Accept-Language, so a shared computer in a city office does not change language by
itself, nor pass one person's choice on to the next. An integration calling the API with a bearer token has no
language switch: its Accept-Language is honoured, then the token owner's own setting.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, g, request, session
from flask_babel import Babel

from iphs_flow.services.permissions import Actor

from .identity import current_user_language

LANGUAGES = ("sv", "en")
DEFAULT = "sv"
# The catalogues are compiled beside the page templates (iphs_flow/web/translations).
TRANSLATIONS = Path(__file__).parent.parent / "web" / "translations"


def select_locale() -> str:
    if isinstance(g.get("bearer_actor"), Actor):
        asked = request.accept_languages.best_match(LANGUAGES)
        if asked:
            return asked
    preferred = current_user_language()
    if preferred in LANGUAGES:
        return preferred
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else DEFAULT


def init_i18n(app: Flask) -> Babel:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Stockholm")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    return Babel(app, locale_selector=select_locale)
