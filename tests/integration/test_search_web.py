"""/sok, similar cases on the need form and the G1 decision, duplicates: through the real pages."""

from __future__ import annotations

import re

import pytest

from iphs_flow.services import accounts
from iphs_flow.services.queries import tasks as task_queries
from tests.integration.web_world import app_for, client_for, post_form, shipped_web_context, start_case

NEED_FORM = {"title": "Ensamhet bland äldre", "need": "Äldre i Tensta är ensamma på helgerna.",
             "target_group": "Äldre som bor hemma", "need_owner": "Enhetschef Eva"}


@pytest.fixture
def app(sqlite_url):
    ctx = shipped_web_context(sqlite_url)
    yield app_for(ctx)
    ctx.close()


def describe(client, **fields) -> tuple[int, int]:
    """Start a case and submit its need form; returns (case id, task id)."""
    task_id, _ = start_case(client)
    response = post_form(client, f"/tasks/{task_id}", {**NEED_FORM, **fields, "_action": "submit"})
    assert response.status_code == 302, response.get_data(as_text=True)
    case_id = int(re.search(r"/cases/(\d+)", response.headers["Location"]).group(1))
    return case_id, task_id


def test_the_search_page_finds_a_case_by_another_form_of_a_word_and_marks_it(app) -> None:
    anna = client_for(app, "anna")
    case_id, _ = describe(anna, need="Skollokalerna i Rinkeby räcker inte <script>x</script>.")
    page = anna.get("/sok?q=skollokal").get_data(as_text=True)
    assert f'href="/cases/{case_id}"' in page
    assert "<mark>Skollokalerna</mark>" in page
    assert "<script>x" not in page
    assert "1 ärende hittades" in page


def test_a_case_you_may_not_see_is_not_found_nor_counted_on_the_page(app) -> None:
    anna = client_for(app, "anna")
    describe(anna, need="Snöröjningen av cykelbanor i Farsta är för sen.")
    erik = client_for(app, "erik")
    page = erik.get("/sok?q=snöröjningen").get_data(as_text=True)
    assert "Inga ärenden hittades" in page and "Farsta" not in page
    lena = client_for(app, "lena")
    assert "1 ärende hittades" in lena.get("/sok?q=snöröjning").get_data(as_text=True)


def test_the_search_page_in_english_and_its_refusals(app) -> None:
    anna = client_for(app, "anna")
    describe(anna)
    post_form(anna, "/lang", {"lang": "en", "next": "/sok"})
    page = anna.get("/sok?q=ensamma").get_data(as_text=True)
    assert "Search cases" in page and "1 case found" in page
    empty = anna.get("/sok?q=%21%21%21")
    assert empty.status_code == 200 and "Write at least one word" in empty.get_data(as_text=True)
    assert anna.get("/sok?q=a&status=nonsense").status_code == 422
    assert anna.get("/sok?q=" + "a" * 501).status_code == 422
    assert anna.get("/sok").status_code == 200


def test_the_search_page_needs_a_sign_in(app) -> None:
    response = app.test_client().get("/sok?q=x")
    assert response.status_code in (302, 401)


def test_similar_cases_on_the_need_form_keep_what_was_typed_without_javascript(app) -> None:
    lena = client_for(app, "lena")
    earlier, _ = describe(lena)
    anna = client_for(app, "anna")
    task_id, _ = start_case(anna)
    typed = {"title": "Isolerade seniorer", "need": "Många äldre är ensamma i hemmet på helgerna.",
             "target_group": "Pensionärer", "need_owner": ""}
    response = post_form(anna, f"/tasks/{task_id}", {**typed, "_action": "similar"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Liknande ärenden" in page
    # Anna may not see Lena's case: the list says nothing was found, rather than leaking it.
    assert f'href="/cases/{earlier}"' not in page and "Inga liknande ärenden hittades." in page
    assert "Många äldre är ensamma i hemmet på helgerna." in page and 'value="Isolerade seniorer"' in page
    assert task_queries.list_tasks(app.extensions["iphs"], accounts.actor_for(app.extensions["iphs"], "anna"))[0].id \
        == task_id  # nothing was submitted
    mine, _ = describe(anna)
    task2, _ = start_case(anna)
    page = post_form(anna, f"/tasks/{task2}", {**typed, "_action": "similar"}).get_data(as_text=True)
    assert f'href="/cases/{mine}"' in page and "<mark>" in page
    assert 'src="/static/similar.js"' in page


def test_the_fragment_the_script_asks_for_is_the_same_list(app) -> None:
    anna = client_for(app, "anna")
    mine, _ = describe(anna)
    fragment = anna.get("/sok/liknande?text=äldre+ensamma+helgerna").get_data(as_text=True)
    assert f'href="/cases/{mine}"' in fragment and "<html" not in fragment
    assert f'href="/cases/{mine}"' not in anna.get(f"/sok/liknande?text=äldre+ensamma&case={mine}").get_data(
        as_text=True)


def test_the_g1_decider_sees_similar_cases_and_marks_a_duplicate_both_pages_link(app) -> None:
    anna = client_for(app, "anna")
    original, _ = describe(anna)
    again, _ = describe(anna, title="Ensamma äldre i Tensta", need="Äldre är ensamma på helgerna i Tensta.")
    lena = client_for(app, "lena")
    ctx = app.extensions["iphs"]
    lead = accounts.actor_for(ctx, "lena")
    assign = next(t for t in task_queries.list_tasks(ctx, lead, str(again)) if t.task_key == "assign_lead")
    post_form(lena, f"/tasks/{assign.id}", {"innovation_lead": "lena", "_action": "submit"})
    g1 = next(t for t in task_queries.list_tasks(ctx, lead, str(again)) if t.task_key == "G1_decide")
    page = lena.get(f"/tasks/{g1.id}").get_data(as_text=True)
    assert "Liknande ärenden" in page and f'href="/cases/{original}"' in page
    response = post_form(lena, f"/cases/{again}/duplicate", {"original": str(original), "next": f"/tasks/{g1.id}"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/tasks/{g1.id}")
    dup_page = lena.get(f"/cases/{again}").get_data(as_text=True)
    assert "Det här ärendet är en dubblett av" in dup_page and f'href="/cases/{original}"' in dup_page
    orig_page = anna.get(f"/cases/{original}").get_data(as_text=True)
    assert "Dubbletter av det här ärendet" in orig_page and f'href="/cases/{again}"' in orig_page
    again_twice = post_form(lena, f"/cases/{again}/duplicate", {"original": str(original)})
    assert again_twice.status_code == 302
    assert "redan markerat" in lena.get(f"/cases/{again}").get_data(as_text=True)


def test_only_a_decider_may_mark_a_duplicate(app) -> None:
    anna = client_for(app, "anna")
    original, _ = describe(anna)
    again, _ = describe(anna)
    response = post_form(anna, f"/cases/{again}/duplicate", {"original": str(original)})
    assert response.status_code == 403
    erik = client_for(app, "erik")
    assert post_form(erik, f"/cases/{again}/duplicate", {"original": str(original)}).status_code == 404
