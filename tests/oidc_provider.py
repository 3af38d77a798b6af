"""A real OpenID Connect provider for tests, built from Authlib's server components.

It serves discovery, JWKS, the authorization endpoint (which signs in `provider.user`
without a login form) and the token endpoint (authorization code grant with PKCE and
the OpenID Connect extension) over HTTP on 127.0.0.1, from a thread.

`provider.mode` makes it misbehave the way a broken or hostile provider would: the
id_token signed with a key that is not in its JWKS, for another audience, expired, from
another issuer, or with a nonce that is not the browser's.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core import grants as oidc_grants
from flask import Flask, jsonify
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

MODES = ("good", "bad_signature", "wrong_audience", "foreign_audience_with_azp", "expired", "wrong_issuer",
         "wrong_nonce")


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in ("openid", "profile", "email", "groups"))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict[str, Any]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None


class Provider:
    def __init__(self, client_id: str = "iphs-flow", client_secret: str = "s3cret-for-tests",
                 redirect_uri: str = "http://localhost/auth/callback") -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "city-1", "use": "sig", "alg": "RS256"})
        # Same key id, different key: a forger who copied the header but not the private key.
        self.forged_key = RSAKey.generate_key(2048, parameters={"kid": "city-1", "use": "sig", "alg": "RS256"})
        self.client = Client(client_id, client_secret, [redirect_uri])
        self.mode = "good"
        self.user: dict[str, Any] = {"sub": "u-1001", "preferred_username": "sara.stad", "name": "Sara Stad",
                                     "email": "sara.stad@stad.example", "groups": []}
        self.codes: dict[str, AuthorizationCode] = {}
        self.used_nonces: set[str] = set()
        self.token_requests = 0
        self.issuer = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.app = self._build_app()

    # ------------------------------------------------------------ the Authlib server

    def _build_app(self) -> Flask:
        provider = self
        app = Flask("test-oidc-provider")
        app.config["SECRET_KEY"] = secrets.token_hex(16)

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, request: Any) -> None:
                data = request.payload.data
                provider.codes[code] = AuthorizationCode(
                    code=code, client_id=request.client.get_client_id(), redirect_uri=request.payload.redirect_uri,
                    scope=request.scope, user=dict(request.user), nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"), code_challenge_method=data.get("code_challenge_method"))

            def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
                item = provider.codes.get(code)
                return item if item and item.client_id == client.get_client_id() else None

            def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: AuthorizationCode) -> dict[str, Any]:
                return authorization_code.user

        class OpenIDCode(oidc_grants.OpenIDCode):
            def exists_nonce(self, nonce: str, request: Any) -> bool:
                if nonce in provider.used_nonces:
                    return True
                provider.used_nonces.add(nonce)
                return False

            def resolve_client_private_key(self, client: Any) -> RSAKey:
                return provider.forged_key if provider.mode == "bad_signature" else provider.key

            def get_client_algorithm(self, client: Any) -> str:
                return "RS256"

            def get_encode_header(self, client: Any) -> dict[str, str]:
                return {"alg": "RS256", "kid": "city-1"}

            def get_client_claims(self, client: Any) -> dict[str, Any]:
                now = int(time.time())
                claims = {"iss": provider.issuer, "aud": [client.get_client_id()], "iat": now, "exp": now + 600}
                if provider.mode == "wrong_audience":
                    claims["aud"] = "some-other-app"
                elif provider.mode == "foreign_audience_with_azp":
                    claims.update(aud="some-other-app", azp=client.get_client_id())
                elif provider.mode == "expired":
                    claims.update(iat=now - 7200, exp=now - 3600, auth_time=now - 7200)
                elif provider.mode == "wrong_issuer":
                    claims["iss"] = "http://127.0.0.1:1/evil"
                return claims

            def get_authorization_code_claims(self, authorization_code: AuthorizationCode) -> dict[str, Any]:
                claims = super().get_authorization_code_claims(authorization_code)
                if provider.mode == "wrong_nonce":
                    claims["nonce"] = "a-nonce-from-another-login"
                return claims

            def generate_user_info(self, user: dict[str, Any], scope: str) -> UserInfo:
                return UserInfo(**user)

        server = AuthorizationServer(app, query_client=lambda cid: provider.client if cid == provider.client.client_id
                                     else None, save_token=lambda token, request: None)
        server.register_grant(CodeGrant, [OpenIDCode(require_nonce=True), CodeChallenge(required=True)])

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify({
                "issuer": provider.issuer,
                "authorization_endpoint": f"{provider.issuer}/authorize",
                "token_endpoint": f"{provider.issuer}/token",
                "jwks_uri": f"{provider.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "profile", "email", "groups"],
            })

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify({"keys": [provider.key.as_dict(private=False)]})

        @app.get("/authorize")
        def authorize() -> Any:
            return server.create_authorization_response(grant_user=dict(provider.user))

        @app.post("/token")
        def token() -> Any:
            provider.token_requests += 1
            return server.create_token_response()

        return app

    # ------------------------------------------------------------ running it

    def start(self) -> Provider:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
