"""Following through the pages (plain forms, no JavaScript) and the API: the button, the "Följer"
page, the updates form, the settings, the digest preview; refusals are 404, 403 and 422."""

from __future__ import annotations

from datetime import datetime

import pytest

from iphs_flow.engine import clock
from iphs_flow.engine.calendar import STOCKHOLM
from iphs_flow.services import following
from tests.integration.process_driver import Walk
from tests.integration.web_world import app_for, client_for, post_form, shipped_web_context
from tests.people import ANNA, LEAD


@pytest.fixture
def site(db_url):
    clock.freeze(datetime(2026, 11, 10, 9, 0, tzinfo=STOCKHOLM))
    ctx = shipped_web_context(db_url, login_rate="1000/minute", api_rate="100000/minute")
    walk = Walk.to_g1(ctx)
    yield ctx, app_for(ctx), walk
    ctx.close()


def text(response) -> str:
    return response.get_data(as_text=True)


def test_the_follow_button_follows_and_stops_following_without_javascript(site) -> None:
    ctx, app, walk = site
    anna = client_for(app, "anna")
    page = text(anna.get(f"/cases/{walk.case_id}"))
    assert 'name="action" value="follow"' in page and "0 personer följer ärendet." in page

    answer = post_form(anna, f"/cases/{walk.case_id}/follow", {"action": "follow"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/cases/{walk.case_id}#following")
    page = text(anna.get(f"/cases/{walk.case_id}"))
    assert "Sluta följa ärendet" in page and "1 person följer ärendet." in page
    assert "Du följer nu ärendet." in page

    listing = text(anna.get("/foljer"))
    assert walk.number in listing and "Tryggare skolvägar" in listing and "Behov inlämnat" in listing
    answer = post_form(anna, f"/cases/{walk.case_id}/follow", {"action": "unfollow", "next": "following"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/foljer")
    assert "Du följer inga ärenden." in text(anna.get("/foljer"))


def test_a_case_one_may_not_see_cannot_be_followed_from_the_pages(site) -> None:
    ctx, app, walk = site
    erik = client_for(app, "erik")
    assert post_form(erik, f"/cases/{walk.case_id}/follow", {"action": "follow"}).status_code == 404
    assert post_form(erik, "/cases/999999/follow", {"action": "follow"}).status_code == 404
    assert post_form(erik, f"/cases/{walk.case_id}/updates", {"body": "Hej"}).status_code == 404
    assert walk.number not in text(erik.get("/foljer"))


def test_an_innovation_lead_writes_an_update_and_bad_input_gets_field_messages(site) -> None:
    ctx, app, walk = site
    lena = client_for(app, "lena")
    page = text(lena.get(f"/cases/{walk.case_id}"))
    assert 'id="update-body"' in page and "Inga uppdateringar ännu." in page

    empty = post_form(lena, f"/cases/{walk.case_id}/updates", {"body": "   "})
    assert empty.status_code == 422
    assert "Skriv en uppdatering innan du skickar." in text(empty) and 'aria-invalid="true"' in text(empty)
    long = post_form(lena, f"/cases/{walk.case_id}/updates", {"body": "å" * 1001})
    assert long.status_code == 422 and "högst 1000 tecken" in text(long)
    assert "å" * 1001 in text(long)  # what was written is kept for correcting

    sent = post_form(lena, f"/cases/{walk.case_id}/updates", {"body": "Vi träffar rektorerna <i>på fredag</i>."})
    assert sent.status_code == 302
    page = text(lena.get(f"/cases/{walk.case_id}"))
    assert "Vi träffar rektorerna &lt;i&gt;på fredag&lt;/i&gt;." in page  # plain text, never markup
    assert "Uppdateringen är skickad till ärendets följare." in page
    again = post_form(lena, f"/cases/{walk.case_id}/updates", {"body": "Vi träffar rektorerna <i>på fredag</i>."})
    assert again.status_code == 302 and "redan skickad" in text(lena.get(f"/cases/{walk.case_id}"))

    anna = client_for(app, "anna")
    assert 'id="update-body"' not in text(anna.get(f"/cases/{walk.case_id}"))
    assert "Vi träffar rektorerna" in text(anna.get(f"/cases/{walk.case_id}"))  # shown to all who see the case
    assert post_form(anna, f"/cases/{walk.case_id}/updates", {"body": "Hej"}).status_code == 403
    assert len(following.list_updates(ctx, walk.case_id, LEAD)) == 1


def test_a_person_chooses_how_to_hear_of_followed_cases_and_the_monthly_digest(site) -> None:
    ctx, app, walk = site
    anna = client_for(app, "anna")
    page = text(anna.get("/notifications"))
    assert 'id="case-mail-same" name="case_mail" value="same" checked' in page
    assert 'id="monthly-digest" name="monthly_digest" value="yes" aria-describedby="monthly-digest-hint" >' in page
    answer = post_form(anna, "/notifications/following", {"case_mail": "none", "monthly_digest": "yes"})
    assert answer.status_code == 302
    assert following.get_settings(ctx, ANNA) == following.FollowSettings("none", True)
    page = text(anna.get("/notifications?saved=1"))
    assert 'value="none" checked' in page and 'aria-describedby="monthly-digest-hint" checked' in page
    assert post_form(anna, "/notifications/following", {"case_mail": "hourly"}).status_code == 422


def test_the_digest_preview_page_shows_last_months_mail(site) -> None:
    ctx, app, walk = site
    lena = client_for(app, "lena")
    page = text(lena.get("/nytt-i-portfoljen?month=2026-11"))
    assert "Nytt i portföljen november 2026" in page and walk.number in page
    bad = lena.get("/nytt-i-portfoljen?month=2026-13")
    assert bad.status_code == 422 and "till exempel 2026-11" in text(bad)
    assert "Inget nytt den månaden" in text(lena.get("/nytt-i-portfoljen?month=2026-09"))


def api(client, method: str, path: str, **kwargs):
    token = client.get("/api/v1/session").json["csrf_token"]
    return client.open(path, method=method, headers={"X-CSRFToken": token}, **kwargs)


def test_the_api_follows_lists_and_stops_following(site) -> None:
    ctx, app, walk = site
    anna = client_for(app, "anna")
    put = api(anna, "PUT", f"/api/v1/cases/{walk.case_id}/following")
    assert put.status_code == 200 and put.json["number"] == walk.number
    assert api(anna, "PUT", f"/api/v1/cases/{walk.number}/following").status_code == 200  # again: no change
    assert [c["case_id"] for c in anna.get("/api/v1/me/following").json] == [walk.case_id]
    assert api(anna, "DELETE", f"/api/v1/cases/{walk.case_id}/following").status_code == 204
    assert anna.get("/api/v1/me/following").json == []

    erik = client_for(app, "erik")
    hidden = api(erik, "PUT", f"/api/v1/cases/{walk.case_id}/following")
    assert hidden.status_code == 404 and hidden.content_type.startswith("application/problem+json")
    assert api(erik, "DELETE", f"/api/v1/cases/{walk.case_id}/following").status_code == 404
    assert api(erik, "PUT", "/api/v1/cases/123456789/following").status_code == 404


def test_the_api_sends_updates_and_refuses_bad_ones_with_field_messages(site) -> None:
    ctx, app, walk = site
    lena = client_for(app, "lena")
    sent = api(lena, "POST", f"/api/v1/cases/{walk.case_id}/updates", json={"body": "Piloten är bokad."})
    assert sent.status_code == 201 and sent.json["body"] == "Piloten är bokad."
    too_long = api(lena, "POST", f"/api/v1/cases/{walk.case_id}/updates", json={"body": "x" * 1001})
    assert too_long.status_code == 422 and "body" in str(too_long.json)
    missing = api(lena, "POST", f"/api/v1/cases/{walk.case_id}/updates", json={})
    assert missing.status_code == 422
    blank = api(lena, "POST", f"/api/v1/cases/{walk.case_id}/updates", json={"body": "  "})
    assert blank.status_code == 422 and "body" in str(blank.json)
    twice = api(lena, "POST", f"/api/v1/cases/{walk.case_id}/updates", json={"body": "Piloten är bokad."})
    assert twice.status_code == 409
    anna = client_for(app, "anna")
    assert api(anna, "POST", f"/api/v1/cases/{walk.case_id}/updates", json={"body": "Hej"}).status_code == 403
    assert [u["body"] for u in anna.get(f"/api/v1/cases/{walk.case_id}/updates").json] == ["Piloten är bokad."]
    bad = api(anna, "PUT", "/api/v1/me/follow-settings", json={"case_mail": "hourly", "monthly_digest": "ja"})
    assert bad.status_code == 422 and "case_mail" in str(bad.json) and "monthly_digest" in str(bad.json)
    good = api(anna, "PUT", "/api/v1/me/follow-settings", json={"case_mail": "daily", "monthly_digest": True})
    assert good.status_code == 200 and anna.get("/api/v1/me/follow-settings").json == {
        "case_mail": "daily", "monthly_digest": True}
