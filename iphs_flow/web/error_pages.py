"""The site's own error pages for HTTP errors outside the API (the API answers problem+json)."""

from __future__ import annotations

from flask import Response, render_template
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException


def html_error(error: HTTPException) -> Response:
    """Pages get the site's own error page in the reader's language, not Werkzeug's English one."""
    messages = {
        404: _("Sidan finns inte. Kontrollera adressen eller gå tillbaka till översikten."),
        405: _("Sidan kan inte användas på det sättet."),
        413: _("Det du skickade är för stort."),
        429: _("För många försök på kort tid. Vänta en stund och försök igen."),
    }
    code = error.code or 500
    message = messages.get(code, _("Begäran kunde inte behandlas."))
    return Response(render_template("error.html", message=message), status=code, mimetype="text/html")
