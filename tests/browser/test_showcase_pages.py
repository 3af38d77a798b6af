"""The public showcase in a real browser: axe-core clean pages and the keyboard alone.

Pages (templates) covered: publication_form (with and without errors), showcase_case as the
lead's preview, showcase_list (with a filter, in Swedish and English), showcase_case,
contact_consent, index (the anonymous home page); the public pages all extend public_base.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import axe_violations, sign_in
from tests.integration.process_driver import NEED, Walk


@pytest.fixture(scope="module")
def a_case(served):
    base, ctx = served
    walk = Walk.start(ctx)
    walk.complete("need", {**NEED, "title": "Interna rubriken", "agenda2030_goals": [11]})
    walk.complete("assign_lead", {"innovation_lead": "lena"})
    return base, walk


def clean(page) -> None:
    assert page.locator("h1").count() == 1, page.url
    violations = axe_violations(page)
    assert violations == [], (page.url, violations)


def test_a_lead_publishes_with_the_keyboard_and_the_public_finds_the_case(browser, a_case) -> None:
    base, walk = a_case
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    sign_in(page, base, "lena")
    page.goto(f"{base}/cases/{walk.case_id}/publicering")
    clean(page)
    assert page.input_value("#title") == "Interna rubriken"  # a suggestion the lead edits
    assert page.is_checked("#goal-11")
    # Publishing an empty summary is refused next to the field.
    page.get_by_role("button", name="Publicera", exact=True).focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#summary[aria-invalid='true']").count() == 1
    clean(page)
    page.focus("#title")
    page.keyboard.press("Control+A")
    page.keyboard.type("Trygg väg till skolan")
    page.keyboard.press("Tab")
    page.keyboard.type("Staden prövar belysning vid mörka passager.")
    page.focus("#goal-3")
    page.keyboard.press("Space")
    page.focus("#unit")
    page.keyboard.type("Utbildningsförvaltningen")
    page.keyboard.press("Tab")
    page.keyboard.type("innovation@stad.se")
    page.get_by_role("button", name="Publicera", exact=True).focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Publicerat" in page.locator("#publication-state").inner_text()
    clean(page)
    page.get_by_role("link", name="Förhandsgranska den öppna sidan").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#public-case h1").inner_text() == "Trygg väg till skolan"
    clean(page)
    page.goto(f"{base}/konto/kontaktsamtycke")
    clean(page)
    context.close()

    public = browser.new_context(bypass_csp=True)
    visitor = public.new_page()
    visitor.goto(f"{base}/")
    clean(visitor)
    assert visitor.get_by_role("link", name="Trygg väg till skolan").count() == 1
    visitor.goto(f"{base}/stadens-innovationer")
    assert visitor.locator("script").count() == 0  # the public pages need no JavaScript
    clean(visitor)
    visitor.focus("#filter-goal")
    visitor.select_option("#filter-goal", "3")
    visitor.get_by_role("button", name="Visa ärenden").focus()
    with visitor.expect_navigation():
        visitor.keyboard.press("Enter")
    assert "mal=3" in visitor.url
    clean(visitor)
    visitor.get_by_role("link", name="Trygg väg till skolan").focus()
    with visitor.expect_navigation():
        visitor.keyboard.press("Enter")
    assert re.search(r"/stadens-innovationer/\d+$", visitor.url)
    assert visitor.locator("#public-stage").inner_text() == "Förstå behovet" or visitor.locator(
        "#public-stage").inner_text() == "Behov inlämnat"
    clean(visitor)
    visitor.get_by_role("link", name="English").focus()
    with visitor.expect_navigation():
        visitor.keyboard.press("Enter")
    assert visitor.locator("html").get_attribute("lang") == "en" and "lang=en" in visitor.url
    clean(visitor)
    visitor.goto(f"{base}/stadens-innovationer?lang=en")
    clean(visitor)
    public.close()
