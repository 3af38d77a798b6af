"""People, processes and cases for tests that go through the real HTTP endpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from iphs_flow.app import create_app
from iphs_flow.bootstrap import AppContext
from iphs_flow.services import accounts, cases, processes
from iphs_flow.services.permissions import Actor
from tests.conftest import fixture_files, prepared_context
from tests.integration.web_session import login
from tests.people import PASSWORD, PEOPLE


def _people_and_fixture_processes(ctx: AppContext) -> None:
    for username, (name, roles, groups) in PEOPLE.items():
        accounts.add_user(ctx, username, name, password=PASSWORD, roles=roles, groups=groups)
    processes.deploy_process(ctx, fixture_files("gate_decision.bpmn", "scripted.bpmn"), Actor.system())


def build_world(url: str) -> tuple[AppContext, Flask]:
    ctx = prepared_context(url, _people_and_fixture_processes, login_rate="10000/minute")
    return ctx, create_app(context=ctx)


def build_api_world(url: str, files: Path) -> tuple[AppContext, Flask]:
    """build_world with files under `files` and rate limits out of the way of long API test modules."""
    ctx = prepared_context(url, _people_and_fixture_processes, login_rate="10000/minute", api_rate="100000/minute",
                           attachments_dir=files)
    return ctx, create_app(context=ctx)


def actor(ctx: AppContext, username: str) -> Actor:
    return accounts.actor_for(ctx, username)


def case_at_need(ctx: AppContext, owner: str = "anna", title: str = "Tryggare skolvägar") -> Any:
    return cases.start_case(ctx, "gate_decision", {"title": title}, actor(ctx, owner))


def case_at_gate(ctx: AppContext, owner: str = "anna", title: str = "Tryggare skolvägar") -> Any:
    view = case_at_need(ctx, owner, title)
    view = cases.complete_task(ctx, view.open_tasks[0].id, {"text": "Barn går längs en 70-väg"}, actor(ctx, owner))
    lead = actor(ctx, "lena")
    return cases.complete_task(ctx, view.open_tasks[0].id, {"text": "Beredd"}, lead)


def case_in_incident(ctx: AppContext, owner: str = "anna") -> Any:
    view = cases.start_case(ctx, "scripted", {}, actor(ctx, owner))
    return cases.complete_task(ctx, view.open_tasks[0].id, {"divisor": 0}, actor(ctx, owner))


class Browser:
    """A signed-in client that sends the CSRF header with every write, as our pages' scripts do."""

    def __init__(self, app: Flask, username: str | None) -> None:
        self.client: FlaskClient = app.test_client()
        self.token = ""
        if username is not None:
            response = login(self.client, username)
            assert response.status_code == 302, response.get_data(as_text=True)
            self.token = self.client.get("/api/v1/session").json["csrf_token"]

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        headers = {"X-CSRFToken": self.token, **kwargs.pop("headers", {})}
        return self.client.post(path, json=json, headers=headers, **kwargs)
