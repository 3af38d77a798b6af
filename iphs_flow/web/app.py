"""The Flask application factory."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, render_template

from iphs_flow.bootstrap import AppContext, build
from iphs_flow.config import Settings
from iphs_flow.engine.calendar import format_swedish
from iphs_flow.engine.clock import now
from iphs_flow.services import cases as case_service
from iphs_flow.services import processes as process_service
from iphs_flow.services.errors import ServiceError
from iphs_flow.web.i18n import init_i18n


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

    from iphs_flow.cli import cli

    for name, command in cli.commands.items():
        app.cli.add_command(command, name)

    @app.get("/")
    def index() -> str:
        # Until people sign in, the public page shows counts, never case titles or data.
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
        return render_template("error.html", message=err.message), err.status

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'")
        return response

    return app
