"""The administrators' security page and the "database unavailable" page pass axe-core
(WCAG 2.1 A/AA), and "sign out everywhere" works with the keyboard alone.

Pages (templates) covered: admin_security, unavailable.
"""

from __future__ import annotations

import threading

import pytest
import requests
from werkzeug.serving import make_server

from iphs_flow.app import create_app
from iphs_flow.bootstrap import build
from iphs_flow.config import Settings
from iphs_flow.services import accounts
from tests.browser.conftest import axe_violations, sign_in
from tests.integration.web_session import PASSWORD


@pytest.fixture(scope="module")
def admin_site(served):
    base, ctx = served
    accounts.add_user(ctx, "adam", "Adam Admin", password=PASSWORD, roles={"administrator"})
    for _ in range(4):  # a slowed account and refused attempts to show
        session = requests.Session()
        page = session.get(base + "/login").text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        session.post(base + "/login", data={"username": "erik", "password": "inte rätt lösenord",
                                             "csrf_token": token})
    return base


def test_the_security_page_has_no_axe_violations_and_signs_out_with_the_keyboard(browser, admin_site):
    context = browser.new_context(bypass_csp=True)
    other = browser.new_context(bypass_csp=True)
    anna, adam = other.new_page(), context.new_page()
    sign_in(anna, admin_site, "anna")
    sign_in(adam, admin_site, "adam")
    adam.goto(admin_site + "/admin/security")
    assert adam.locator("h1").count() == 1
    assert "erik" in adam.content()
    assert axe_violations(adam) == []
    button = adam.get_by_role("button", name="Logga ut anna överallt")
    for _ in range(60):  # Tab until the button has focus
        adam.keyboard.press("Tab")
        if button.evaluate("b => b === document.activeElement"):
            break
    else:
        raise AssertionError("the sign-out button is not reachable with Tab")
    with adam.expect_navigation():
        adam.keyboard.press("Enter")
    adam.wait_for_load_state("load")
    assert "anna är utloggad överallt" in adam.content()
    assert axe_violations(adam) == []
    anna.goto(admin_site + "/inbox")
    assert "/login" in anna.url
    context.close()
    other.close()


def test_the_database_unavailable_page_has_no_axe_violations(browser, tmp_path):
    folder = tmp_path / "not-a-database"
    folder.mkdir()
    down = build(Settings(database_url=f"sqlite:///{folder}"))  # a folder: SQLite cannot open it
    broken = create_app(context=down)
    httpd = make_server("127.0.0.1", 0, broken, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        page = browser.new_page(bypass_csp=True)
        response = page.goto(f"http://127.0.0.1:{httpd.server_port}/")
        assert response.status == 503
        assert page.locator("h1").inner_text() == "Tjänsten är tillfälligt otillgänglig"
        assert axe_violations(page) == []
        page.close()
    finally:
        httpd.shutdown()
        down.close()
