"""The site's own error pages, in the reader's language (the API answers problem+json).

iphs_flow/http/errors.py decides who gets a page; this module is what the page says.
"""

from __future__ import annotations

from flask import Response, render_template
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException


def _page(code: int, **context: object) -> Response:
    return Response(render_template("error.html", **context), status=code, mimetype="text/html")


def http_error(error: HTTPException) -> Response:
    """Pages get the site's own error page in the reader's language, not Werkzeug's English one."""
    messages = {
        404: _("Sidan finns inte. Kontrollera adressen eller gå tillbaka till översikten."),
        405: _("Sidan kan inte användas på det sättet."),
        413: _("Det du skickade är för stort."),
        429: _("För många försök på kort tid. Vänta en stund och försök igen."),
    }
    code = error.code or 500
    return _page(code, message=messages.get(code, _("Begäran kunde inte behandlas.")))


def refused(status: int, detail: str) -> Response:
    """A use case said no (403, 404, 409, 422): the page explains the status, the detail follows."""
    return _page(status, status=status, detail=detail)


def csrf_failed() -> Response:
    return _page(400, message=(
        "Formuläret kunde inte skickas eftersom sidan var för gammal eller inte kom härifrån. "
        "Ladda om sidan och försök igen."))


def too_many() -> Response:
    return _page(429, message="För många försök. Vänta en minut och försök igen.")
