"""The API documentation page: made from the OpenAPI document, axe-clean, CSP-safe, usable by keyboard."""

from __future__ import annotations

from tests.browser.conftest import axe_violations, sign_in


def test_the_api_docs_page_has_no_axe_violations_for_visitors_and_signed_in_people(browser, server) -> None:
    for who in (None, "anna"):
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        if who:
            sign_in(page, server, who)
        page.goto(f"{server}/api/v1/docs")
        assert page.locator("h1").count() == 1
        assert page.get_by_text("GET /api/v1/cases/{case_ref}/decisions").count() == 1
        assert axe_violations(page) == []
        context.close()


def test_the_api_docs_page_runs_under_the_strict_csp_and_its_contents_work_by_keyboard(browser, server) -> None:
    page = browser.new_page()  # CSP enforced: the page must not need any inline script or style
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.goto(f"{server}/api/v1/docs")
    link = page.locator("nav[aria-labelledby='toc-heading'] a").nth(1)
    target = link.get_attribute("href")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.hash.length > 1")
    assert page.evaluate("location.hash") == target
    assert refused == []
    page.close()
