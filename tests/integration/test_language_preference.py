"""The language is kept per person: the switch saves it, and pages and mails follow it."""

from __future__ import annotations

import re

import pytest

from iphs_flow.scheduler import Scheduler
from iphs_flow.services import accounts, cases, jobs, notifications
from iphs_flow.services.errors import Forbidden, InvalidInput
from iphs_flow.services.permissions import Actor
from tests.conftest import ADMIN
from tests.integration.process_driver import NEED
from tests.integration.web_session import login
from tests.integration.web_world import app_for, client_for, post_form, shipped_web_context


@pytest.fixture
def web(sqlite_url):
    ctx = shipped_web_context(sqlite_url, login_rate="1000/minute")
    yield ctx, app_for(ctx)
    ctx.close()


def test_the_language_switch_saves_the_choice_with_the_person_for_their_next_sign_in(web) -> None:
    ctx, app = web
    anna = client_for(app, "anna")
    assert post_form(anna, "/lang", {"lang": "en", "next": "/inbox"}).status_code == 302
    assert accounts.get_user(ctx, "anna").language == "en"
    assert [e.event for e in accounts.access_log(ctx, ADMIN, username="anna", event="language_changed")] == [
        "language_changed"]

    elsewhere = client_for(app, "anna")  # another computer, a fresh session
    assert '<html lang="en">' in elsewhere.get("/inbox").get_data(as_text=True)


def test_a_choice_left_on_a_shared_computer_does_not_change_the_next_persons_language(web) -> None:
    ctx, app = web
    client = app.test_client()
    client.post("/lang", data={"lang": "en", "csrf_token": _login_token(client)})
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)  # the login page follows it
    assert login(client, "lena").status_code == 302
    assert '<html lang="sv">' in client.get("/inbox").get_data(as_text=True)  # Lena's own setting
    assert accounts.get_user(ctx, "lena").language == "sv"


def test_mails_follow_the_saved_language(web) -> None:
    ctx, app = web
    anna = client_for(app, "anna")
    post_form(anna, "/lang", {"lang": "en", "next": "/inbox"})
    lena = client_for(app, "lena")
    post_form(lena, "/lang", {"lang": "en", "next": "/inbox"})
    view = cases.start_case(ctx, "innovation", {}, accounts.actor_for(ctx, "anna"))
    [need] = view.open_tasks
    cases.complete_task(ctx, need.id, NEED, accounts.actor_for(ctx, "anna"))
    Scheduler(ctx, "test").run_once()
    [to_lena] = notifications.list_notifications(ctx, accounts.actor_for(ctx, "lena"))
    assert to_lena.subject.startswith("New task: ")
    assert [n.subject.split(" ")[0] for n in notifications.list_notifications(ctx, accounts.actor_for(ctx, "anna"))
            ] == ["We"]  # "We have received your case ..."
    assert jobs.list_outbox(ctx, ADMIN) == []  # nobody here has a mail address


def test_people_set_only_their_own_language_and_only_to_a_known_one(web) -> None:
    ctx, _ = web
    anna = accounts.actor_for(ctx, "anna")
    with pytest.raises(Forbidden):
        accounts.set_language(ctx, anna, "lena", "en")
    with pytest.raises(InvalidInput) as refused:
        accounts.set_language(ctx, anna, "anna", "de")
    assert refused.value.fields == {"language": ["sv or en"]}
    assert accounts.get_user(ctx, "anna").language == "sv"
    assert accounts.set_language(ctx, Actor.system(), "lena", "en") == "en"


def _login_token(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
