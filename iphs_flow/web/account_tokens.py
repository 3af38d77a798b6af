"""The page "API-nycklar" (/account/tokens): a person's own API tokens, created and revoked.

A new token is shown once, in the response to the form that created it: never in a
redirect URL, a flash message or the session, so it is not left behind anywhere.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.services import api_tokens
from iphs_flow.services.errors import Conflict, InvalidInput
from iphs_flow.web.auth import login_required, remote_addr, require_login_actor

bp = Blueprint("account_tokens", __name__)
EXPIRY_CHOICES = ("30", "90", "365", "")
SCOPE_CHOICES = ("read", "write")


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def _page(status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("errors", {})
    context.setdefault("general_errors", [])
    context.setdefault("values", {"name": "", "scope": "read", "expires_in_days": "90"})
    context.setdefault("new_token", None)
    tokens = api_tokens.list_tokens(_ctx(), require_login_actor())
    return render_template("account_tokens.html", tokens=tokens, expiry_choices=EXPIRY_CHOICES,
                           max_name=api_tokens.MAX_NAME, **context), status


def _name_error() -> str:
    return _("Skriv ett namn på högst %(n)s tecken, så att du vet vad nyckeln används till.", n=api_tokens.MAX_NAME)


@bp.get("/account/tokens")
@login_required
def index() -> tuple[str, int]:
    return _page(revoked=request.args.get("revoked"))


@bp.post("/account/tokens")
@login_required
def create() -> tuple[str, int]:
    actor = require_login_actor()
    values = {"name": request.form.get("name", ""), "scope": request.form.get("scope", ""),
              "expires_in_days": request.form.get("expires_in_days", "")}
    errors: dict[str, str] = {}
    general: list[str] = []
    if values["scope"] not in SCOPE_CHOICES:
        errors["token-scope-read"] = _("Välj vad nyckeln får göra.")
    if values["expires_in_days"] not in EXPIRY_CHOICES:
        errors["token-expiry"] = _("Välj hur länge nyckeln ska gälla.")
    if not errors:
        try:
            made = api_tokens.create_token(_ctx(), actor, values["name"], [values["scope"]],
                                           int(values["expires_in_days"]) if values["expires_in_days"] else None,
                                           remote_addr=remote_addr())
            return _page(201, new_token=made)
        except InvalidInput as err:
            if "name" in err.fields:
                errors["token-name"] = _name_error()
            if "scopes" in err.fields:
                errors["token-scope-read"] = _("Välj vad nyckeln får göra.")
            if "expires_in_days" in err.fields:
                errors["token-expiry"] = _("Välj hur länge nyckeln ska gälla.")
        except Conflict:
            general.append(_("Du har redan %(n)s giltiga nycklar. Återkalla någon innan du skapar en ny.",
                             n=api_tokens.MAX_USABLE_TOKENS))
    if not values["name"].strip() and "token-name" not in errors:
        errors["token-name"] = _name_error()
    return _page(422, errors=errors, general_errors=general, values=values)


@bp.post(f"/account/tokens/<int(min=1, max={api_tokens.MAX_ID}):token_id>/revoke")
@login_required
def revoke(token_id: int) -> Any:
    api_tokens.revoke_token(_ctx(), token_id, require_login_actor(), remote_addr=remote_addr())
    return redirect(url_for("account_tokens.index", revoked=1))
