"""Administrators manage people, roles and groups in the web; every change is in the access log."""

from __future__ import annotations

import pytest

from iphs_flow.services import accounts, people_admin
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput
from tests.conftest import ADMIN
from tests.integration.api_world import build_world
from tests.integration.web_session import PASSWORD, login
from tests.integration.web_world import post_form


@pytest.fixture
def world(db_url):
    ctx, app = build_world(db_url)
    yield ctx, app
    ctx.close()


def signed_in(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def page(response) -> str:
    return response.get_data(as_text=True)


def events(ctx, username):
    return [(e.event, e.detail.get("by")) for e in accounts.access_log(ctx, ADMIN, username=username)]


def test_an_administrator_lists_and_searches_people(world) -> None:
    _, app = world
    adam = signed_in(app, "adam")
    html = page(adam.get("/admin/people"))
    assert "Antal personer: 7" in html and 'href="/admin/people/lena"' in html and "Innovationsledare" in html
    found = page(adam.get("/admin/people?q=lind"))
    assert 'href="/admin/people/lena"' in found and 'href="/admin/people/bo"' not in found
    assert "Ingen person matchar sökningen." in page(adam.get("/admin/people?q=zzz"))
    assert 'href="/admin/people" aria-current="page">Personer</a>' in html  # in the menu for administrators


def test_only_administrators_reach_the_people_pages(world) -> None:
    _, app = world
    lena = signed_in(app, "lena")
    for path in ("/admin/people", "/admin/people/new", "/admin/people/bo", "/admin/groups"):
        assert lena.get(path).status_code == 403, path
    assert post_form(lena, "/admin/people/bo/roles", {"roles": ["administrator"]}).status_code == 403
    assert post_form(lena, "/admin/people/bo/groups/add", {"group": "innovation-leads"}).status_code == 403
    assert post_form(lena, "/admin/people/bo/active", {"active": "no"}).status_code == 403
    assert post_form(lena, "/admin/people/new", {"username": "x", "display_name": "X"}).status_code == 403
    assert 'href="/admin/people"' not in page(lena.get("/inbox"))
    assert app.test_client().get("/admin/people").status_code == 302  # sign in first


def test_an_administrator_creates_a_local_user_who_can_sign_in(world) -> None:
    ctx, app = world
    adam = signed_in(app, "adam")
    assert adam.post("/admin/people/new", data={"username": "dagny", "display_name": "D"}).status_code == 400  # CSRF
    response = post_form(adam, "/admin/people/new", {
        "username": "dagny", "display_name": "Dagny Dal", "email": "dagny@example.se", "password": PASSWORD,
        "roles": ["approver"], "groups": ["gate-deciders"], "new_groups": "department-management", "language": "en"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/people/dagny")
    info = accounts.get_user(ctx, "dagny")
    assert info.roles == {"idea_owner", "approver"} and info.groups == {"gate-deciders", "department-management"}
    assert info.language == "en" and info.email == "dagny@example.se"
    assert ("user_created", "adam") in events(ctx, "dagny")
    assert login(app.test_client(), "dagny").status_code == 302


def test_bad_input_for_a_new_user_is_shown_at_each_field_and_nothing_is_created(world) -> None:
    ctx, app = world
    adam = signed_in(app, "adam")
    response = post_form(adam, "/admin/people/new", {"username": "ny person", "display_name": "Ny",
                                                     "password": "kort", "email": "inte-en-adress"})
    assert response.status_code == 422
    html = page(response)
    assert 'id="p-email-error"' in html and "Ange en giltig e-postadress" in html
    assert 'value="ny person"' in html  # what was typed stays
    response = post_form(adam, "/admin/people/new", {"username": "ny", "display_name": "Ny", "password": "kort"})
    assert response.status_code == 422 and "minst 12 tecken" in page(response)
    assert [p.username for p in people_admin.search_people(ctx, ADMIN, "ny").people] == []
    taken = post_form(adam, "/admin/people/new", {"username": "lena", "display_name": "Lena 2"})
    assert taken.status_code == 409 and "Användarnamnet lena finns redan" in page(taken)
    bad_group = post_form(adam, "/admin/people/new",
                          {"username": "ny", "display_name": "Ny", "new_groups": "Fel Grupp"})
    assert bad_group.status_code == 422 and 'id="p-groups-error"' in page(bad_group)


def test_roles_and_groups_change_take_effect_at_once_and_are_logged(world) -> None:
    ctx, app = world
    adam = signed_in(app, "adam")
    bo = signed_in(app, "bo")
    assert bo.get("/overview").status_code == 403
    assert post_form(adam, "/admin/people/bo/roles", {"roles": ["approver", "innovation_lead"]}).status_code == 302
    assert bo.get("/overview").status_code == 200  # the next request sees the new role
    assert accounts.get_user(ctx, "bo").roles == {"idea_owner", "approver", "innovation_lead"}

    assert post_form(adam, "/admin/people/bo/groups/add", {"group": "city-executive-office"}).status_code == 302
    again = post_form(adam, "/admin/people/bo/groups/add", {"group": "city-executive-office"})
    assert again.status_code == 409 and "redan med i gruppen" in page(again)
    wrong = post_form(adam, "/admin/people/bo/groups/add", {"group": "<script>"})
    assert wrong.status_code == 422 and 'id="g-new-error"' in page(wrong)
    assert post_form(adam, "/admin/people/bo/groups/remove", {"group": "gate-deciders"}).status_code == 302
    assert accounts.get_user(ctx, "bo").groups == {"city-executive-office"}
    assert {"role_changed", "group_added", "group_removed"} <= {e for e, by in events(ctx, "bo") if by == "adam"}


def test_a_deactivated_person_is_signed_out_and_can_be_reactivated(world) -> None:
    ctx, app = world
    adam = signed_in(app, "adam")
    anna = signed_in(app, "anna")
    assert post_form(adam, "/admin/people/anna/active", {"active": "no"}).status_code == 302
    assert anna.get("/inbox").status_code == 302  # back to the login page
    assert login(app.test_client(), "anna").status_code != 302
    assert "Avaktiverad" in page(adam.get("/admin/people?q=anna"))
    assert post_form(adam, "/admin/people/anna/active", {"active": "yes"}).status_code == 302
    assert login(app.test_client(), "anna").status_code == 302
    assert [e for e, _ in events(ctx, "anna") if e.startswith("user_")] == ["user_activated", "user_deactivated",
                                                                           "user_created"]


def test_an_administrator_cannot_lock_themselves_out(world) -> None:
    ctx, app = world
    adam = signed_in(app, "adam")
    response = post_form(adam, "/admin/people/adam/roles", {"roles": ["approver"]})
    assert response.status_code == 422 and "din egen administratörsroll" in page(response)
    assert "administrator" in accounts.get_user(ctx, "adam").roles
    assert post_form(adam, "/admin/people/adam/active", {"active": "no"}).status_code == 409
    assert "Du kan inte avaktivera ditt eget konto." in page(adam.get("/admin/people/adam"))
    assert adam.get("/admin/people/nobody").status_code == 404


def test_the_groups_page_shows_members_and_marks_groups_the_processes_route_to_with_nobody(world) -> None:
    ctx, app = world
    adam = signed_in(app, "adam")
    html = page(adam.get("/admin/groups"))
    row = html.split("<th scope=\"row\">gate-deciders")[1].split("</tr>")[0]
    assert "Bo Beslut (bo)" in row and "Behov till grindbeslut" in row and "Saknar medlemmar" not in row
    accounts.set_active(ctx, "bo", False, ADMIN)
    html = page(adam.get("/admin/groups"))
    row = html.split("<th scope=\"row\">gate-deciders")[1].split("</tr>")[0]
    assert "Saknar medlemmar" in row and "avaktiverad" in row


def test_the_service_refuses_the_same_things_for_every_entrypoint(world) -> None:
    ctx, _ = world
    lena = accounts.actor_for(ctx, "lena")
    with pytest.raises(Forbidden):
        people_admin.search_people(ctx, lena)
    with pytest.raises(Forbidden):
        people_admin.add_to_group(ctx, lena, "bo", "innovation-leads")
    with pytest.raises(InvalidInput):
        people_admin.add_to_group(ctx, ADMIN, "bo", "")
    with pytest.raises(Conflict):
        people_admin.remove_from_group(ctx, ADMIN, "bo", "innovation-leads")


def test_every_role_has_a_name_in_both_languages(world) -> None:
    from iphs_flow.services.permissions import ROLES
    from iphs_flow.web.people_admin import role_names

    _ctx, app = world
    for language in ("sv", "en"):
        with app.test_request_context(f"/?lang={language}"):
            names = role_names()
            assert set(names) == set(ROLES) and all(names.values()), names
