"""The city's identity provider (OpenID Connect, via Authlib): the client, and who its tokens name.

The browser login (web/oidc.py) and API calls with the provider's JWT (http/bearer.py)
both use it, so the same person gets the same roles either way.

Configured by environment: IPHS_OIDC_ISSUER, IPHS_OIDC_CLIENT_ID, IPHS_OIDC_CLIENT_SECRET,
IPHS_OIDC_SCOPES, IPHS_OIDC_GROUPS_CLAIM (default `groups`) and IPHS_OIDC_ROLE_MAP, a JSON
object from the provider's group names to ours, e.g.

    {"IPHS-Innovationsledare": {"roles": ["innovation_lead"], "groups": ["innovation-leads"]},
     "IPHS-Admin": "administrator", "IPHS-Granskare": ["approver", "gate-deciders"]}

(a plain name is a role when it is one of ours, otherwise a group). Provider groups that
are not in the map give nothing; everyone signed in may submit needs (idea_owner).

The id_token is checked in full before anyone is signed in: signature against the
provider's JWKS (only the algorithms its discovery document lists), issuer, audience,
expiry, and the nonce of this browser's login. Users are created on first login. When
the provider cannot be reached the login page says so, and local accounts (the
break-glass administrator) keep working.
"""

from __future__ import annotations

from typing import Any

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Flask
from joserfc.errors import JoseError

from iphs_flow.bootstrap import AppContext
from iphs_flow.config import Settings
from iphs_flow.services import accounts
from iphs_flow.services.permissions import ROLES, Actor

CLIENT = "city"
TIMEOUT_SECONDS = 5
# What a refused token or an unreachable provider raises, from Authlib, joserfc and requests.
REFUSED = (AuthlibBaseError, JoseError, ValueError, KeyError, TypeError)


def is_configured(app: Flask) -> bool:
    return bool(app.config.get("IPHS_OIDC_ENABLED"))


def map_groups(provider_groups: list[str], role_map: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(roles, groups) for the provider's groups, through IPHS_OIDC_ROLE_MAP."""
    roles: set[str] = set()
    groups: set[str] = set()

    def add(name: str) -> None:
        (roles if name in ROLES else groups).add(name)

    for provider_group in provider_groups:
        target = role_map.get(provider_group)
        if isinstance(target, str):
            add(target)
        elif isinstance(target, list):
            for name in target:
                add(str(name))
        elif isinstance(target, dict):
            roles.update(str(r) for r in target.get("roles", []))
            groups.update(str(g) for g in target.get("groups", []))
    return roles, groups


def _claim_groups(claims: dict[str, Any], claim: str) -> list[str]:
    value: Any = claims
    for part in claim.split("."):  # nested claims such as realm_access.roles
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _username(claims: dict[str, Any]) -> str:
    for key in ("preferred_username", "email", "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return "".join(value.split())[:200]
    raise ValueError("the id_token names nobody")


def provision(ctx: AppContext, claims: dict[str, Any], issuer: str, remote_addr: str | None,
              method: str = "oidc") -> Actor:
    """The user the provider's verified claims name, created or updated with roles from the group claim.

    One function for the web login and for API calls with the provider's JWT, so both give
    the same person the same roles.
    """
    settings = ctx.settings
    username = _username(claims)
    roles, groups = map_groups(_claim_groups(claims, settings.oidc_groups_claim), settings.oidc_role_map)
    email = claims.get("email")
    return accounts.sso_login(
        ctx, str(claims["sub"]), issuer=issuer, username=username,
        display_name=str(claims.get("name") or username), email=email if isinstance(email, str) else None,
        roles=roles, groups=groups, remote_addr=remote_addr, method=method)


def oauth_client(app: Flask) -> Any:
    """The registered Authlib client: it caches the provider's discovery document and JWKS."""
    return app.extensions["iphs_oauth"].create_client(CLIENT)


def check_role_map(role_map: Any) -> None:
    """Refuse a mistyped IPHS_OIDC_ROLE_MAP at start-up, not at somebody's first login."""
    if not isinstance(role_map, dict):
        raise ValueError("IPHS_OIDC_ROLE_MAP must be a JSON object: provider group -> role, group or both")
    for provider_group, target in role_map.items():
        if isinstance(target, dict):
            unknown = set(target) - {"roles", "groups"}
            bad_roles = {str(r) for r in target.get("roles", [])} - set(ROLES)
            if unknown or bad_roles or not all(isinstance(target.get(k, []), list) for k in ("roles", "groups")):
                raise ValueError(f"IPHS_OIDC_ROLE_MAP[{provider_group!r}]: use {{\"roles\": [...], \"groups\": [...]}} "
                                 f"with roles among {', '.join(ROLES)}")
        elif not isinstance(target, str | list):
            raise ValueError(f"IPHS_OIDC_ROLE_MAP[{provider_group!r}] must be a name, a list or an object")


def init_provider(app: Flask) -> None:
    """Register the provider's client when IPHS_OIDC_ISSUER and IPHS_OIDC_CLIENT_ID are set."""
    settings: Settings = app.extensions["iphs"].settings
    enabled = bool(settings.oidc_issuer and settings.oidc_client_id)
    check_role_map(settings.oidc_role_map)
    app.config["IPHS_OIDC_ENABLED"] = enabled
    if not enabled:
        return
    oauth = OAuth(app)
    oauth.register(
        CLIENT,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret or None,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256",
                       "default_timeout": TIMEOUT_SECONDS},
    )
    app.extensions["iphs_oauth"] = oauth
