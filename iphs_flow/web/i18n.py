"""Swedish first, English second (Flask-Babel).

The language is, in order: the signed-in person's own setting (the language switch saves
it with the person), the choice made with the switch before signing in (kept in the
session), and otherwise Swedish — never the browser's Accept-Language, so a shared
computer in a city office does not change language by itself, nor pass one person's
choice on to the next.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, session
from flask_babel import Babel

LANGUAGES = ("sv", "en")
DEFAULT = "sv"
TRANSLATIONS = Path(__file__).parent / "translations"


def select_locale() -> str:
    try:
        from iphs_flow.web.auth import current_user_language
        preferred = current_user_language()
    except ImportError:
        preferred = None
    if preferred in LANGUAGES:
        return preferred
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else DEFAULT


def init_i18n(app: Flask) -> Babel:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Stockholm")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    return Babel(app, locale_selector=select_locale)
