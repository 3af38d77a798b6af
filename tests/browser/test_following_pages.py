"""Following in a real browser: the follow button, the "Följer" page, the follow settings and the
update form pass axe-core with zero violations, in Swedish and English, and work with the keyboard alone.

Pages (templates) covered: _following (on the case page), following, _follow_settings (on the
notifications page), digest_preview (/nytt-i-portfoljen, with and without an error),
following_update (/cases/<id>/updates/new, with its errors).
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import axe_violations, sign_in
from tests.integration.process_driver import Walk


@pytest.fixture(scope="module")
def world(browser, served):
    server, ctx = served
    walk = Walk.to_g1(ctx)
    contexts, pages = [], {}
    for username in ("anna", "lena"):
        context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script
        page = context.new_page()
        sign_in(page, server, username)
        contexts.append(context)
        pages[username] = page
    yield {"server": server, "case": walk.case_id, "number": walk.number, **pages}
    for each in contexts:
        each.close()


def tab_until(page, script: str, limit: int = 80) -> None:
    """Press Tab from the top of the page until `script` (about document.activeElement) is true."""
    page.locator("body").focus()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const e = document.activeElement; return !!(e && ({script})); }})()"):
            return
    pytest.fail(f"Tab never reached {script}")


def test_the_follow_button_works_with_the_keyboard_and_the_case_page_stays_clean(world) -> None:
    anna = world["anna"]
    anna.goto(f"{world['server']}/cases/{world['case']}")
    assert axe_violations(anna) == []
    tab_until(anna, "e.tagName === 'BUTTON' && e.value === 'follow'")
    with anna.expect_navigation():
        anna.keyboard.press("Enter")
    assert anna.url.endswith(f"/cases/{world['case']}#following")
    assert anna.get_by_role("button", name="Sluta följa ärendet").count() == 1
    assert "Du följer nu ärendet." in anna.content()
    assert axe_violations(anna) == []


def test_the_following_page_lists_the_case_and_stops_following_with_the_keyboard(world) -> None:
    anna = world["anna"]
    anna.goto(f"{world['server']}/cases/{world['case']}")
    if anna.get_by_role("button", name="Följ ärendet").count():
        with anna.expect_navigation():
            anna.get_by_role("button", name="Följ ärendet").click()
    anna.goto(f"{world['server']}/foljer")
    assert world["number"] in anna.content()
    assert axe_violations(anna) == []
    tab_until(anna, "e.tagName === 'BUTTON' && e.value === 'unfollow'")
    with anna.expect_navigation():
        anna.keyboard.press("Enter")
    assert anna.url.endswith("/foljer")
    assert "Du följer inga ärenden." in anna.content()
    assert axe_violations(anna) == []
    with anna.expect_navigation():
        anna.get_by_role("button", name="English").click()
    assert "You follow no cases." in anna.content()
    assert axe_violations(anna) == []
    with anna.expect_navigation():
        anna.get_by_role("button", name="Svenska").click()


def test_the_follow_settings_are_chosen_with_the_keyboard(world) -> None:
    anna = world["anna"]
    anna.goto(f"{world['server']}/notifications")
    assert axe_violations(anna) == []
    tab_until(anna, "e.id === 'monthly-digest'")
    anna.keyboard.press("Space")
    assert anna.evaluate("document.getElementById('monthly-digest').checked") is True
    tab_until(anna, "e.id === 'case-mail-same'")
    anna.keyboard.press("ArrowDown")  # radio buttons move with the arrow keys
    assert anna.evaluate("document.getElementById('case-mail-immediate').checked") is True
    with anna.expect_navigation():
        anna.keyboard.press("Enter")  # Enter in a form field sends its form
    assert "Ditt val är sparat." in anna.content()
    assert anna.evaluate("document.getElementById('case-mail-immediate').checked") is True
    assert anna.evaluate("document.getElementById('monthly-digest').checked") is True
    anna.goto(f"{world['server']}/nytt-i-portfoljen?month=2026-13")
    assert anna.locator("#error-summary").count() == 1 and axe_violations(anna) == []
    anna.goto(f"{world['server']}/nytt-i-portfoljen")
    assert axe_violations(anna) == []


def test_the_update_form_is_written_and_sent_with_the_keyboard_and_its_errors_are_accessible(world) -> None:
    lena = world["lena"]
    lena.goto(f"{world['server']}/cases/{world['case']}")
    assert axe_violations(lena) == []
    tab_until(lena, "e.id === 'update-body'")
    lena.keyboard.press("Tab")  # on to the send button with an empty update
    with lena.expect_navigation():
        lena.keyboard.press("Enter")
    assert lena.locator("#error-summary").count() == 1
    assert lena.locator("#update-body[aria-invalid='true']").count() == 1
    assert axe_violations(lena) == []
    tab_until(lena, "e.id === 'update-body'")
    lena.keyboard.type("Piloten startar i januari.")
    lena.keyboard.press("Tab")
    with lena.expect_navigation():
        lena.keyboard.press("Enter")
    lena.wait_for_url(re.compile(rf"/cases/{world['case']}#updates"))
    assert "Piloten startar i januari." in lena.content()
    assert axe_violations(lena) == []
    lena.goto(f"{world['server']}/cases/{world['case']}/updates/new")
    assert axe_violations(lena) == []
