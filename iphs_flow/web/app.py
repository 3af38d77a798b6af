"""The Flask application factory."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, redirect, render_template, url_for

from iphs_flow.api import init_api
from iphs_flow.bootstrap import AppContext, build
from iphs_flow.config import Settings
from iphs_flow.engine.calendar import format_swedish
from iphs_flow.engine.clock import now
from iphs_flow.services import cases as case_service
from iphs_flow.services import processes as process_service
from iphs_flow.services.errors import ServiceError
from iphs_flow.web.account_tokens import bp as account_tokens_bp
from iphs_flow.web.auth import current_actor, init_auth, note_refusal
from iphs_flow.web.case_admin import bp as case_admin_bp
from iphs_flow.web.design_tables import bp as design_tables_bp
from iphs_flow.web.designer import init_designer
from iphs_flow.web.i18n import init_i18n
from iphs_flow.web.notices import bp as notices_bp
from iphs_flow.web.pages import init_pages
from iphs_flow.web.people_admin import bp as people_admin_bp
from iphs_flow.web.task_assignment import init_task_assignment

# Scripts, styles and images from this site only: no inline scripts, no framing, forms post here.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def create_app(config: dict[str, Any] | None = None, context: AppContext | None = None) -> Flask:
    """Build the app; `config` may override settings (tests), `context` reuses a built one."""
    app = Flask(__name__)
    if context is None:
        overrides = {k.lower(): v for k, v in (config or {}).items() if k.lower() in Settings.__dataclass_fields__}
        context = build(Settings.from_env(**overrides))
    app.config["SECRET_KEY"] = context.settings.secret_key or secrets.token_hex(32)
    app.extensions["iphs"] = context
    app.jinja_env.filters["datum"] = format_swedish
    init_i18n(app)
    init_auth(app)
    init_api(app)
    app.register_blueprint(notices_bp)
    app.register_blueprint(account_tokens_bp)
    init_pages(app)
    init_task_assignment(app)
    init_designer(app)
    app.register_blueprint(case_admin_bp)
    app.register_blueprint(people_admin_bp)
    app.register_blueprint(design_tables_bp)

    from iphs_flow.cli import cli

    for name, command in cli.commands.items():
        app.cli.add_command(command, name)

    @app.get("/")
    def index() -> Any:
        # Signed-in people start from their tasks; until people sign in, the public page
        # shows counts, never case titles or data.
        if current_actor() is not None:
            return redirect(url_for("pages.inbox"))
        return render_template(
            "index.html",
            processes=process_service.list_processes(context),
            counts=case_service.count_cases(context),
            now=now(),
        )

    @app.get("/healthz")
    def health() -> tuple[dict[str, str], int]:
        return {"status": "ok"}, 200

    @app.errorhandler(ServiceError)
    def service_error(err: ServiceError) -> tuple[str, int]:
        note_refusal(err)
        return render_template("error.html", status=err.status, detail=err.message), err.status

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config.get("IPHS_HTTPS"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if "Set-Cookie" in response.headers or response.headers.get("Content-Type", "").startswith("text/html"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
