"""A real browser (Debian's Chromium driven by Playwright) against the app served on 127.0.0.1."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from iphs_flow.app import create_app
from tests.conftest import ROOT
from tests.integration.web_session import PASSWORD
from tests.integration.web_world import shipped_web_context

CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """The app on a free port over a real SQLite file, with the shipped processes and people."""
    db = tmp_path_factory.mktemp("browser") / "iphs.db"
    ctx = shipped_web_context(f"sqlite:///{db}")
    app = create_app(context=ctx)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", ctx
    httpd.shutdown()
    ctx.close()


@pytest.fixture(scope="module")
def server(served: tuple[str, object]) -> str:
    return served[0]


def _missing(message: str) -> None:
    """Locally a skip; in CI (where `make test` installs both) a failure, so the checks cannot vanish."""
    if os.environ.get("CI") or os.environ.get("IPHS_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """One Chromium (and one Playwright driver) for the whole session: starting them costs seconds."""
    if not CHROMIUM.exists():
        _missing("Chromium is not installed (make test installs it with apt-get)")
    if not AXE.exists():
        _missing("node_modules/axe-core is missing (make install runs npm ci)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def browser(chromium) -> Iterator[object]:
    """The session's Chromium for one test module; the contexts and pages the module opened are
    closed at its end, as if the browser had been started for it alone."""
    yield chromium
    for context in list(chromium.contexts):
        context.close()


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_load_state("load")
    assert "/login" not in page.url, page.content()[:500]


def axe_violations(page) -> list[dict]:
    """axe-core's WCAG 2.1 A and AA rules on the page as it is now.

    Every rule runs on every element; only the violations are written out in full (resultTypes),
    which halves the time of a check: the passes were never looked at.
    """
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""() => axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']})""")
    return [{"id": v["id"], "help": v["help"], "nodes": [n["html"][:200] for n in v["nodes"][:3]]}
            for v in result["violations"]]
