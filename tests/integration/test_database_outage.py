"""A database that stops answering: 503 with Retry-After (never 401 or 500), logged once per
outage, `/readyz` tells the truth, and everything works again when the database is back."""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from iphs_flow.services import api_tokens
from iphs_flow.services.queries import case_lists
from iphs_flow.services.readiness import beat
from iphs_flow.store.database import PING_AFTER_IDLE_SECONDS
from tests.integration.api_world import actor, build_world
from tests.integration.web_session import login

pytestmark = pytest.mark.postgres


class Outage:
    """Refuse new connections to one database and end the open ones, then let them in again."""

    def __init__(self, admin_url: str, database_url: str) -> None:
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.name = make_url(database_url).database

    def begin(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": self.name})

    def end_connections(self) -> None:
        """What a server restart or a firewall's idle timeout does to the pool: its connections die."""
        with self.admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": self.name})

    def end(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))
        self.admin.dispose()


@pytest.fixture
def world(postgres_url, postgres_admin):
    ctx, app = build_world(postgres_url)
    outage = Outage(postgres_admin, postgres_url)
    yield ctx, app, outage
    outage.end()
    ctx.close()


def test_with_the_database_down_a_valid_token_gets_503_with_retry_after_and_a_page_gets_a_503_page(world, caplog):
    ctx, app, outage = world
    secret = api_tokens.create_token(ctx, actor(ctx, "anna"), "integration", "write").secret
    browser = app.test_client()
    assert login(browser, "anna").status_code == 302
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/cases", headers=bearer).status_code == 200

    outage.begin()
    with caplog.at_level(logging.WARNING, logger="iphs_flow.database"):
        for _ in range(3):
            refused = api.get("/api/v1/cases", headers=bearer)
            assert refused.status_code == 503
            assert refused.mimetype == "application/problem+json"
            assert int(refused.headers["Retry-After"]) > 0
            assert "database" in refused.json["detail"]
            page = browser.get("/inbox")
            assert page.status_code == 503 and int(page.headers["Retry-After"]) > 0
            assert "Tjänsten är tillfälligt otillgänglig" in page.get_data(as_text=True)
            posted = api.post("/api/v1/cases", json={"process": "gate_decision", "data": {}}, headers=bearer)
            assert posted.status_code == 503
        assert app.test_client().get("/healthz").status_code == 200  # alive, just not ready
        assert app.test_client().get("/readyz").status_code == 503
        down = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(down) == 1  # once per outage, not once per request

        outage.end()
        assert api.get("/api/v1/cases", headers=bearer).status_code == 200
        assert browser.get("/inbox").status_code == 200  # the session survived the outage
        back = [r for r in caplog.records if "reachable again" in r.getMessage()]
        assert len(back) == 1


def test_a_pooled_connection_that_died_while_idle_is_replaced_before_the_next_request_uses_it(world, caplog):
    ctx, app, outage = world
    secret = api_tokens.create_token(ctx, actor(ctx, "anna"), "integration", "write").secret
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/cases", headers=bearer).status_code == 200
    assert api.get("/api/v1/cases", headers=bearer).status_code == 200  # the same pooled connection again

    outage.end_connections()
    time.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
    with caplog.at_level(logging.WARNING, logger="iphs_flow.database"):
        for _ in range(3):
            assert api.get("/api/v1/cases", headers=bearer).status_code == 200
        posted = api.post("/api/v1/cases", json={"process": "gate_decision", "data": {}}, headers=bearer)
        assert posted.status_code == 201, posted.get_data(as_text=True)
    assert not [r for r in caplog.records if "unavailable" in r.getMessage()]  # nobody saw an outage


def test_readyz_reports_database_migrations_and_scheduler_heartbeat(world):
    ctx, app, outage = world
    client = app.test_client()
    waiting = client.get("/readyz")
    assert waiting.status_code == 503
    assert waiting.json["checks"]["database"]["ok"] and waiting.json["checks"]["migrations"]["ok"]
    assert waiting.json["checks"]["scheduler"]["ok"] is False  # no scheduler has ticked
    beat(ctx, "scheduler-1")
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "ready"
    with ctx.uow.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    behind = client.get("/readyz")
    assert behind.status_code == 503 and "db upgrade" in behind.json["checks"]["migrations"]["detail"]
    outage.begin()
    down = client.get("/readyz")
    assert down.status_code == 503 and down.json["checks"]["database"]["ok"] is False


def test_the_example_client_rides_out_a_short_database_outage(postgres_url, postgres_admin):
    """The outage starts before the client's first call and ends while it waits as Retry-After says."""
    import threading

    from werkzeug.serving import make_server

    from iphs_flow.app import create_app
    from tests.integration.test_example_client import run
    from tests.integration.web_world import shipped_web_context

    ctx = shipped_web_context(postgres_url, retry_after_seconds=2)
    httpd = make_server("127.0.0.1", 0, create_app(context=ctx), threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    owner = api_tokens.create_token(ctx, actor(ctx, "anna"), "Exempelklienten", ["write"])
    lead = api_tokens.create_token(ctx, actor(ctx, "lena"), "Exempelklienten", ["write"])
    outage = Outage(postgres_admin, postgres_url)
    outage.begin()
    ends = threading.Timer(3.0, outage.end)
    ends.start()
    try:
        done = run(f"http://127.0.0.1:{httpd.server_port}", "--lead-token", lead.secret, IPHS_TOKEN=owner.secret)
    finally:
        ends.join()
        outage.end()
        httpd.shutdown()
    assert done.returncode == 0, done.stdout + done.stderr
    [mine] = case_lists.search_cases(ctx, actor(ctx, "anna")).items  # one case: the retries did not start a second
    assert f"{mine.number} waits at gate G1" in done.stdout
    ctx.close()
