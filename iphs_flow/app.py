"""The Flask application factory: the one place the app is put together.

`create_app(config)` builds the context (settings, database, model cache), then the
shared HTTP layer (iphs_flow/http: language, sessions, CSRF and rate limits, bearer
tokens, security headers, error handlers), then the two entrypoints that serve people
and programs: the web pages (iphs_flow/web) and the REST API (iphs_flow/api).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from iphs_flow.api import init_api
from iphs_flow.bootstrap import AppContext, build
from iphs_flow.config import Settings
from iphs_flow.engine.calendar import format_swedish
from iphs_flow.http import bearer
from iphs_flow.http.body_guard import init_body_guard
from iphs_flow.http.errors import init_errors
from iphs_flow.http.headers import init_headers
from iphs_flow.http.i18n import init_i18n
from iphs_flow.http.identity import init_sessions
from iphs_flow.http.oidc import init_provider
from iphs_flow.http.one_connection import init_one_connection
from iphs_flow.http.protection import init_protection
from iphs_flow.http.unavailable import init_unavailable
from iphs_flow.web import error_pages
from iphs_flow.web.account_tokens import bp as account_tokens_bp
from iphs_flow.web.audit import bp as audit_bp
from iphs_flow.web.auth import init_auth
from iphs_flow.web.case_admin import bp as case_admin_bp
from iphs_flow.web.design_tables import bp as design_tables_bp
from iphs_flow.web.designer import init_designer
from iphs_flow.web.following import init_following
from iphs_flow.web.home import init_home
from iphs_flow.web.lessons import init_lessons
from iphs_flow.web.notices import bp as notices_bp
from iphs_flow.web.pages import init_pages
from iphs_flow.web.people_admin import bp as people_admin_bp
from iphs_flow.web.personal_data import bp as personal_data_bp
from iphs_flow.web.portfolio import init_portfolio
from iphs_flow.web.publishing import bp as publishing_bp
from iphs_flow.web.registration import init_registration
from iphs_flow.web.research import bp as research_bp
from iphs_flow.web.retention import bp as retention_bp
from iphs_flow.web.search import init_search
from iphs_flow.web.security_admin import bp as security_admin_bp
from iphs_flow.web.showcase import bp as showcase_bp
from iphs_flow.web.task_assignment import init_task_assignment

# Templates, static files and translations are the web pages' (iphs_flow/web/...).
WEB_ROOT = Path(__file__).parent / "web"


def create_app(config: dict[str, Any] | None = None, context: AppContext | None = None) -> Flask:
    """Build the app; `config` may override settings (tests), `context` reuses a built one."""
    app = Flask(__name__, root_path=str(WEB_ROOT))
    if context is None:
        overrides = {k.lower(): v for k, v in (config or {}).items() if k.lower() in Settings.__dataclass_fields__}
        context = build(Settings.from_env(**overrides))
    app.config["SECRET_KEY"] = context.settings.secret_key or secrets.token_hex(32)
    app.extensions["iphs"] = context
    app.jinja_env.filters["datum"] = format_swedish

    # The HTTP layer both entrypoints stand on.
    init_i18n(app)
    init_unavailable(app)
    init_body_guard(app)
    init_sessions(app)
    init_protection(app)
    init_errors(app, error_pages)
    init_provider(app)
    bearer.init_bearer(app)  # after the limiter is set up: refused tokens still count against the limit
    init_headers(app)
    init_one_connection(app)  # every request's transactions share one pooled connection

    # People: the web pages.  Programs: the REST API.
    init_home(app)
    init_auth(app)
    init_api(app)
    app.register_blueprint(notices_bp)
    app.register_blueprint(account_tokens_bp)
    init_pages(app)
    init_task_assignment(app)
    init_search(app)
    init_lessons(app)
    init_designer(app)
    app.register_blueprint(case_admin_bp)
    app.register_blueprint(people_admin_bp)
    app.register_blueprint(design_tables_bp)
    app.register_blueprint(personal_data_bp)
    app.register_blueprint(retention_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(security_admin_bp)
    init_following(app)
    app.register_blueprint(showcase_bp)
    app.register_blueprint(publishing_bp)
    init_registration(app)
    init_portfolio(app)
    app.register_blueprint(research_bp)

    @app.get("/healthz")
    def health() -> tuple[dict[str, str], int]:
        return {"status": "ok"}, 200

    return app
