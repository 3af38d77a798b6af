"""A signed-in web app over the shipped processes (bpmn/, forms/), for page tests."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from iphs_flow.app import create_app
from iphs_flow.services import accounts, processes
from tests.conftest import ROOT, prepared_context
from tests.integration.web_session import login
from tests.people import DESIGNER, PASSWORD, SHIPPED_PROCESS_PEOPLE

PEOPLE = SHIPPED_PROCESS_PEOPLE
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _deploy_shipped_with_people(ctx) -> None:
    processes.deploy_process(ctx, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
    for username, (name, roles, groups) in PEOPLE.items():
        accounts.add_user(ctx, username, name, password=PASSWORD, roles=roles, groups=groups)


def shipped_web_context(url: str, **settings: Any):
    """A context over the shipped processes, deployed, with their people able to sign in."""
    return prepared_context(url, _deploy_shipped_with_people, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn",
                            **settings)


def client_for(app, username: str) -> FlaskClient:
    client = app.test_client()
    response = login(client, username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def token(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    found = _TOKEN.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def post_form(client: FlaskClient, path: str, data: dict[str, Any], **kw: Any) -> Any:
    """POST like a browser: with the session's CSRF token (taken from the inbox page)."""
    return client.post(path, data={"csrf_token": token(client, "/inbox"), **data}, **kw)


def start_case(client: FlaskClient, key: str = "innovation") -> tuple[int, str]:
    """Start a case through /start; returns (task id of the first form, the redirect target)."""
    response = post_form(client, "/start", {"process": key})
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    found = re.search(r"/tasks/(\d+)", location)
    assert found, location
    return int(found.group(1)), location


def app_for(ctx):
    return create_app(context=ctx)
