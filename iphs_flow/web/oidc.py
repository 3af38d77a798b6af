"""City single sign-on in the browser: OpenID Connect (authorization code flow with PKCE).

Configured by environment: IPHS_OIDC_ISSUER, IPHS_OIDC_CLIENT_ID, IPHS_OIDC_CLIENT_SECRET,
IPHS_OIDC_SCOPES, IPHS_OIDC_GROUPS_CLAIM (default `groups`) and IPHS_OIDC_ROLE_MAP (see
iphs_flow/http/oidc.py, which holds the provider's client and maps its groups to ours).

The id_token is checked in full before anyone is signed in: signature against the
provider's JWKS (only the algorithms its discovery document lists), issuer, audience,
expiry, and the nonce of this browser's login. Users are created on first login. When
the provider cannot be reached the login page says so, and local accounts (the
break-glass administrator) keep working.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from flask import Blueprint, Flask, abort, current_app, redirect, request, session, url_for

from iphs_flow.bootstrap import AppContext
from iphs_flow.config import Settings
from iphs_flow.http.context import remote_addr
from iphs_flow.http.identity import start_session
from iphs_flow.http.oidc import REFUSED, check_role_map, is_configured, map_groups, oauth_client, provision
from iphs_flow.services import accounts
from iphs_flow.services.errors import ServiceError
from iphs_flow.web.redirects import safe_next

bp = Blueprint("oidc", __name__)
log = logging.getLogger(__name__)

LEEWAY_SECONDS = 60


def _settings() -> Settings:
    ctx: AppContext = current_app.extensions["iphs"]
    return ctx.settings


def _client() -> Any:
    if not is_configured(current_app):
        abort(404)
    return oauth_client(current_app)


def _back_to_login(reason: str) -> Any:
    target = session.get("sso_next")
    return redirect(url_for("auth.login", sso_error=reason,
                            next=safe_next(target) if target else None))


def _redirect_uri() -> str:
    base = _settings().base_url.rstrip("/")
    return f"{base}{url_for('oidc.callback')}" if base else url_for("oidc.callback", _external=True)


@bp.get("/login/sso")
def start() -> Any:
    """Send the browser to the city's identity provider."""
    client = _client()
    session["sso_next"] = safe_next(request.args.get("next"))
    try:
        return client.authorize_redirect(_redirect_uri())
    except (requests.RequestException, *REFUSED) as err:
        log.warning("the identity provider cannot be reached: %s", err)
        accounts.log_access(current_app.extensions["iphs"], "sso_unavailable", None,
                            {"error": str(err)[:300]}, remote_addr())
        return _back_to_login("unreachable")


@bp.get("/auth/callback")
def callback() -> Any:
    """Check what the provider sent back; sign the person in only if every check passes."""
    ctx: AppContext = current_app.extensions["iphs"]
    settings = ctx.settings
    client = _client()
    try:
        token = client.authorize_access_token(
            claims_options={"iss": {"essential": True, "values": [settings.oidc_issuer]},
                            # Authlib alone accepts another audience when azp names us; the spec does not.
                            "aud": {"essential": True, "value": settings.oidc_client_id},
                            "sub": {"essential": True}},
            leeway=LEEWAY_SECONDS)
        claims = token.get("userinfo")
        if not claims:
            raise ValueError("the provider sent no id_token")
        issuer = client.load_server_metadata().get("issuer", "")
        if issuer != settings.oidc_issuer:
            raise ValueError(f"the provider calls itself {issuer!r}, not {settings.oidc_issuer!r}")
        actor = provision(ctx, dict(claims), issuer, remote_addr())
    except requests.RequestException as err:
        log.warning("the identity provider cannot be reached: %s", err)
        accounts.log_access(ctx, "sso_unavailable", None, {"error": str(err)[:300]}, remote_addr())
        return _back_to_login("unreachable")
    except (*REFUSED, ServiceError) as err:
        reason = getattr(err, "description", None) or getattr(err, "message", None) or str(err) or type(err).__name__
        log.warning("an SSO login was refused: %s", reason)
        accounts.log_access(ctx, "login_failed", None,
                            {"method": "oidc", "reason": f"{type(err).__name__}: {reason}"[:500]}, remote_addr())
        return _back_to_login("refused")
    target = safe_next(session.get("sso_next"))
    start_session(actor.username)
    session["via"] = "oidc"
    return redirect(target)


def init_oidc(app: Flask) -> None:
    """The SSO routes; the provider's client is registered by iphs_flow.http.oidc.init_provider."""
    app.register_blueprint(bp)


__all__ = ["bp", "init_oidc", "is_configured", "map_groups", "provision", "check_role_map", "REFUSED"]
