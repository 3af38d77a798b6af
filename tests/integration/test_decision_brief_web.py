"""A gate task shows its decision brief, and each outcome's fields only with that outcome (issue 16.2)."""

from __future__ import annotations

import re

from iphs_flow.services import attachments
from iphs_flow.services.queries.records import case_records
from tests.conftest import ADMIN
from tests.integration.process_driver import CONCEPT, G1_APPROVE, UNDERSTAND, Actor
from tests.integration.test_web_pages import html, open_task, submit, to_g1
from tests.integration.test_web_pages import web as web  # noqa: F401 - the fixture
from tests.integration.web_world import client_for

NUMBER = "IPHS 2026/0001"


def visible(page: str, field: str) -> bool:
    """Whether the element around `field`, which says which outcomes it belongs to, is shown."""
    pattern = r'<div class="outcome-field" id="outcome-' + re.escape(field) + r'" data-outcomes="[^"]*"( hidden)?>'
    found = re.search(pattern, page)
    assert found, f"no outcome wrapper around {field}"
    return found.group(1) is None


def test_the_g2_brief_shows_need_concept_budget_supplement_reply_earlier_decisions_and_attachments(web) -> None:
    ctx, app = web
    anna, lena, g1 = to_g1(ctx, app)
    assert submit(lena, g1.id, G1_APPROVE).status_code == 302
    assert submit(anna, open_task(ctx, NUMBER, "understand").id, UNDERSTAND).status_code == 302
    assert submit(anna, open_task(ctx, NUMBER, "concept").id, CONCEPT).status_code == 302
    bo = client_for(app, "bo")
    g2 = open_task(ctx, NUMBER, "G2_decide")
    asked = submit(bo, g2.id, {"decision": "more_info", "info_request": "Vem betalar driften efter piloten?"})
    assert asked.status_code == 302
    assert submit(anna, open_task(ctx, NUMBER, "G2_supplement").id,
                  {"supplement_reply": "Trafikkontoret tar över driften"}).status_code == 302
    import io
    attachments.add_attachment(ctx, NUMBER, "kalkyl.csv", io.BytesIO(b"post;belopp\nlampor;250000\n"),
                               Actor("anna", frozenset({"idea_owner"})))

    page = html(bo.get(f"/tasks/{open_task(ctx, NUMBER, 'G2_decide').id}"))
    brief = page[page.index('id="h-brief"'):page.index("</section>", page.index('id="h-brief"'))]
    assert "Barn känner sig otrygga på väg till skolan i Skärholmen." in brief  # the need
    assert "Skolchef Eva Ek" in brief  # the need owner the G1 criteria asked for
    assert "Smart belysning vid passager" in brief and "Tre passager under höstterminen" in brief  # concept, plan
    assert "300\u00a0000" in brief  # the budget, written as Swedes write it
    assert "Andel elever som känner sig trygga" in brief  # the benefit indicator
    assert "Vem betalar driften efter piloten?" in brief and "Trafikkontoret tar över driften" in brief
    assert "Omgång 1" in brief and "Begär komplettering" in brief  # the earlier decision at this gate
    assert "kalkyl.csv" in brief
    assert "Behovsprövning" not in brief  # another gate's decision is not this gate's history


def test_each_outcome_shows_its_own_fields_and_without_javascript_after_choosing_it(web) -> None:
    ctx, app = web
    _, lena, gate = to_g1(ctx, app)
    first = html(lena.get(f"/tasks/{gate.id}"))
    assert 'src="/static/gate_form.js"' in first and "<script>" not in first  # no inline script (CSP)
    for field in ("reason", "within_remit", "resume_date", "info_request", "refer_to", "recycle_to_stage",
                  "reply_deadline"):
        assert not visible(first, field), field  # nothing is chosen yet
    assert 'value="choose"' in first

    rejected = submit(lena, gate.id, {"decision": "rejected"}, "choose")
    assert rejected.status_code == 200 and "Det finns problem" not in html(rejected)
    assert visible(html(rejected), "reason") and not visible(html(rejected), "within_remit")
    assert not visible(html(rejected), "resume_date")
    held = html(submit(lena, gate.id, {"decision": "on_hold"}, "choose"))
    assert visible(held, "reason") and visible(held, "resume_date") and not visible(held, "refer_to")
    more = html(submit(lena, gate.id, {"decision": "more_info"}, "choose"))
    assert visible(more, "info_request") and visible(more, "reply_deadline") and not visible(more, "reason")
    approved = html(submit(lena, gate.id, {"decision": "approved"}, "choose"))
    assert visible(approved, "within_remit") and not visible(approved, "conditions")


def test_what_was_typed_for_another_outcome_is_not_kept(web) -> None:
    ctx, app = web
    _, lena, gate = to_g1(ctx, app)
    done = submit(lena, gate.id, dict(G1_APPROVE, reason="skrevs för ett avslag", refer_to="Trafikkontoret"))
    assert done.status_code == 302
    [decision] = case_records(ctx, NUMBER, ADMIN).decisions
    assert decision.outcome == "approved" and decision.reason is None
    assert "refer_to" not in decision.data and "reason" not in decision.data
    assert decision.data["within_remit"] is True


def test_the_condition_task_page_shows_the_condition_with_its_labels(web) -> None:
    ctx, app = web
    anna, lena, gate = to_g1(ctx, app)
    assert submit(lena, gate.id, dict(G1_APPROVE, decision="approved_with_conditions", conditions=[
        {"text": "Förankra med rektorerna", "due_date": "2026-04-30"}])).status_code == 302
    page = html(anna.get(f"/tasks/{open_task(ctx, NUMBER, 'fulfil_conditions').id}"))
    shown = page[page.index("Villkoret"):page.index('name="fulfilled"')]
    assert "<dt>Villkor</dt><dd><span class=\"pre\">Förankra med rektorerna</span></dd>" in shown
    assert "<dt>Förfallodag</dt><dd><span class=\"pre\">2026-04-30</span></dd>" in shown
