"""Bearer tokens and rate limits for /api/: how integrations, not browsers, call the API.

`Authorization: Bearer iphs_...` is a personal API token (services/api_tokens.py).
`Authorization: Bearer <JWT>` is an access or ID token from the city's identity provider
(IPHS_OIDC_ISSUER): its signature is checked against the provider's JWKS (only the
algorithms its discovery document lists), and its issuer, audience (IPHS_OIDC_API_AUDIENCE,
by default the client id), expiry and not-before; the person is created or updated on
first use exactly as at a web login (oidc.provision).

A token that does not let anyone in is a 401 problem with `WWW-Authenticate: Bearer
error="invalid_token"`; a `read` token on a write is a 403. Token requests never get a
session cookie and never need a CSRF token (nothing ambient to abuse). Every /api/ route
shares one limit, IPHS_API_RATE, counted per person (per address when anonymous or when
the token is refused); a 429 says in `Retry-After` how many seconds to wait.

JSON Web Tokens are checked with joserfc, the library Authlib's own OpenID client uses
(Authlib's older `authlib.jose` is deprecated in its favour).
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from flask import Flask, Response, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter.util import get_remote_address
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet

from iphs_flow.services import accounts, api_tokens
from iphs_flow.services.errors import ServiceError
from iphs_flow.services.permissions import Actor

from . import oidc
from .context import app_context, is_api_request, remote_addr
from .identity import current_actor
from .problems import problem
from .protection import limiter
from .unavailable import DATABASE_DOWN, note_outage

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LEEWAY_SECONDS = 60
# A token with an unknown key id makes us fetch the JWKS again (the provider rotated its
# keys), but at most this often, so forged tokens cannot make us hammer the provider.
JWKS_REFETCH_SECONDS = 300
VERIFIED_JWTS_KEPT = 2048
# Symmetric and unsigned algorithms never verify a provider's token: an HS256 token "signed"
# with the provider's public key is the classic forgery.
REFUSED_ALGORITHMS = frozenset({"none", "HS256", "HS384", "HS512"})


@dataclass(frozen=True)
class Refusal:
    """Why a presented token lets nobody in: status, message and the RFC 6750 error code."""

    status: int
    detail: str
    error: str | None = "invalid_token"


# ---------------------------------------------------------------- who the token is


def _credentials() -> str | None:
    """The bearer token of an API request; "" for another scheme; None without an Authorization header."""
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def authenticate_request() -> None:
    """Check the request's bearer token once; sets g.bearer_actor or g.bearer_refusal.

    Called by the rate limit's key function (which runs first) and by the gate below,
    so the token is looked up once per request, whichever asks first.
    """
    if "bearer_checked" in g:
        return
    g.bearer_checked = True
    if not is_api_request():
        return
    token = _credentials()
    if token is None:
        return
    g.bearer_presented = True
    if not token:
        g.bearer_refusal = Refusal(401, "send the token as `Authorization: Bearer <token>`", "invalid_request")
        return
    try:
        if api_tokens.looks_like_token(token):
            grant = api_tokens.authenticate_token(app_context(), token, remote_addr=remote_addr())
            actor, scopes = grant.actor, grant.scopes
        else:
            actor = _jwt_actor(token)
            scopes = frozenset(api_tokens.SCOPES)
    except api_tokens.InvalidToken as err:
        g.bearer_refusal = Refusal(401, err.message)
        return
    except _Unavailable as err:
        g.bearer_refusal = Refusal(503, str(err), None)
        return
    except DATABASE_DOWN as err:  # a valid token must not read as "sign in first" while the database is down
        note_outage(err)
        g.bearer_retry_after = str(app_context().settings.retry_after_seconds)
        g.bearer_refusal = Refusal(503, "the database is unavailable; try again in a moment", None)
        return
    g.bearer_actor = actor
    g.bearer_scopes = scopes
    g.pop("iphs_signed_in", None)  # whoever asked before the token was checked must ask again


class _Unavailable(Exception):
    """The identity provider cannot be reached to check a JWT (and its keys are not cached)."""


def _verified_jwts(app: Flask) -> dict[str, tuple[str, float]]:
    return app.extensions.setdefault("iphs_verified_jwts", {})


def _jwt_actor(token: str) -> Actor:
    """The person behind a JWT from the city's provider; InvalidToken when any check fails."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ctx = app_context()
    if not oidc.is_configured(app):
        raise api_tokens.InvalidToken("not an IPHS token, and no identity provider is configured")
    key = hashlib.sha256(token.encode("utf-8")).hexdigest()
    verified = _verified_jwts(app)
    seen = verified.get(key)
    if seen is not None and seen[1] > time.time():
        # Verified before: no signature check and no database write, but the person is
        # re-read, so a deactivation applies at once.
        found = accounts.signed_in(ctx, seen[0])
        if found is None:
            accounts.log_access(ctx, "login_failed", seen[0], {"method": "oidc_bearer", "reason": "deactivated"},
                                remote_addr())
            raise api_tokens.InvalidToken("deactivated")
        return found.actor
    try:
        claims, issuer = _verify_jwt(app, token)
        actor = oidc.provision(ctx, claims, issuer, remote_addr(), method="oidc_bearer")
    except (requests.RequestException, RuntimeError) as err:  # RuntimeError: Authlib found no jwks_uri
        log.warning("the identity provider cannot be reached to check an API token: %s", err)
        raise _Unavailable("the identity provider cannot be reached to check the token; try again shortly") from err
    except (*oidc.REFUSED, ServiceError) as err:
        reason = getattr(err, "description", None) or getattr(err, "message", None) or str(err) or ""
        accounts.log_access(ctx, "login_failed", None, {
            "method": "oidc_bearer", "reason": f"{type(err).__name__}: {reason}"[:500]}, remote_addr())
        raise api_tokens.InvalidToken(type(err).__name__) from err
    with _LOCK:
        if len(verified) >= VERIFIED_JWTS_KEPT:
            at = time.time()
            for old in [k for k, (_, exp) in verified.items() if exp <= at] or list(verified)[:VERIFIED_JWTS_KEPT // 4]:
                verified.pop(old, None)
        verified[key] = (actor.username, float(claims["exp"]))
    return actor


_LOCK = threading.Lock()


def _verify_jwt(app: Flask, token: str) -> tuple[dict[str, Any], str]:
    """Signature (against the provider's JWKS), iss, aud, exp, nbf and sub; the claims and issuer."""
    settings = app.extensions["iphs"].settings
    client = oidc.oauth_client(app)
    metadata = client.load_server_metadata()
    issuer = metadata.get("issuer", "")
    if issuer != settings.oidc_issuer:
        raise ValueError(f"the provider calls itself {issuer!r}, not {settings.oidc_issuer!r}")
    algorithms = [a for a in metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
                  if a not in REFUSED_ALGORITHMS]
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(client.fetch_jwk_set()), algorithms=algorithms)
    except InvalidKeyIdError:
        state = app.extensions.setdefault("iphs_jwks_refetched", [0.0])
        if time.time() - state[0] < JWKS_REFETCH_SECONDS:
            raise
        state[0] = time.time()
        decoded = jwt.decode(token, KeySet.import_key_set(client.fetch_jwk_set(force=True)), algorithms=algorithms)
    audience = settings.oidc_api_audience or settings.oidc_client_id
    jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": settings.oidc_issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        sub={"essential": True},
    ).validate(decoded.claims)
    return dict(decoded.claims), issuer


# ---------------------------------------------------------------- the gate before every API view


def _bearer_gate() -> Response | None:
    """Refuse a bad token with 401 (or a read token's write with 403) before any view runs."""
    authenticate_request()
    refusal: Refusal | None = g.get("bearer_refusal")
    if refusal is not None:
        if refusal.status == 503:
            return problem(503, "Service Unavailable", refusal.detail,
                           headers={"Retry-After": g.get("bearer_retry_after", "30"), "Cache-Control": "no-store"})
        challenge = 'Bearer realm="iphs-flow"' + (f', error="{refusal.error}"' if refusal.error else "")
        return problem(401, "Unauthorized", refusal.detail, headers={"WWW-Authenticate": challenge})
    if g.get("bearer_actor") is not None and request.method not in SAFE_METHODS \
            and api_tokens.WRITE not in g.get("bearer_scopes", frozenset()):
        accounts.log_access(app_context(), "access_denied", g.bearer_actor.username, {
            "method": request.method, "path": request.path[:300], "reason": "the token has only the read scope"},
            remote_addr())
        challenge = 'Bearer realm="iphs-flow", error="insufficient_scope", scope="write"'
        return problem(403, "Forbidden", "this token may only read; create one with the write scope to change things",
                       headers={"WWW-Authenticate": challenge})
    return None


class _NoCookieForTokens(SecureCookieSessionInterface):
    """A request that presented a bearer token leaves with no session cookie, whatever the view did."""

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if g.get("bearer_presented"):
            return
        super().save_session(app, session, response)


# ---------------------------------------------------------------- rate limits


def _api_rate() -> str:
    return current_app.config["IPHS_API_RATE"]


def _api_rate_key() -> str:
    """Per person when the request says who it is (token or session), else per address."""
    authenticate_request()
    actor = current_actor()
    return f"user:{actor.username}" if actor is not None else f"addr:{get_remote_address()}"


def _api_limit() -> Any:
    global _API_LIMIT
    if _API_LIMIT is None:
        # One object for every app: the limiter keeps blueprint limits in a set, so registering
        # it again (each app a test builds) does not count a request twice.
        _API_LIMIT = limiter.shared_limit(_api_rate, scope="api", key_func=_api_rate_key)
    return _API_LIMIT


_API_LIMIT: Any = None


def limit_api(app: Flask) -> None:
    """Put every blueprint served under /api/ (registered so far) under the shared API limit."""
    limit = _api_limit()
    for blueprint in app.blueprints.values():
        if (blueprint.url_prefix or "").startswith("/api/"):
            limit(blueprint)


def too_many(err: Any) -> Response:
    """A 429 problem with Retry-After in seconds, until the limit's window has room again."""
    current = limiter.current_limit
    wait = max(1, math.ceil(current.reset_at - time.time())) if current is not None else 60
    actor = g.get("bearer_actor")
    log.warning("API rate limit %s reached by %s", getattr(err, "description", ""),
                actor.username if isinstance(actor, Actor) else get_remote_address())
    return problem(429, "Too Many Requests", f"too many requests ({getattr(err, 'description', '')}); "
                    f"wait {wait} seconds and try again", headers={"Retry-After": str(wait)})


def _tidy_retry_after(response: Response) -> Response:
    """Retry-After only where it means something (429, 503), and never 0 seconds.

    Flask-Limiter puts the window's end in Retry-After on every response it counts, rounded
    down to whole seconds (0 in the window's last second); on a 200 it would tell a client
    to wait for nothing. Registered first, so it runs last, after the limiter's own hook.
    """
    if not is_api_request() or "Retry-After" not in response.headers:
        return response
    if response.status_code not in (429, 503):
        del response.headers["Retry-After"]
        return response
    value = response.headers["Retry-After"].strip()
    if value.lstrip("-").isdigit() and int(value) < 1:
        response.headers["Retry-After"] = "1"
    return response


def init_bearer(app: Flask) -> None:
    """Token authentication for /api/; call after the limiter is set up, so it counts refused tokens too."""
    app.config["IPHS_API_RATE"] = app.extensions["iphs"].settings.api_rate
    app.session_interface = _NoCookieForTokens()
    app.before_request(_bearer_gate)
    app.after_request_funcs.setdefault(None, []).insert(0, _tidy_retry_after)
