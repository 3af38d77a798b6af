"""Swedish first, English second (Flask-Babel).

The language is, in order: an explicit choice stored in the session (the language
switch), the signed-in person's own setting, and otherwise Swedish — never the browser's
Accept-Language, so a shared computer in a city office does not change language by itself.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, session
from flask_babel import Babel

LANGUAGES = ("sv", "en")
DEFAULT = "sv"
TRANSLATIONS = Path(__file__).parent / "translations"


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    try:
        from iphs_flow.web.auth import current_user_language
    except ImportError:
        return DEFAULT
    preferred = current_user_language()
    return preferred if preferred in LANGUAGES else DEFAULT


def init_i18n(app: Flask) -> Babel:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Stockholm")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    return Babel(app, locale_selector=select_locale)
