"""The site's front door: people who are signed in go to their tasks; the public page shows counts."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, redirect, render_template, url_for

from iphs_flow.engine.clock import now
from iphs_flow.http.identity import current_actor
from iphs_flow.services import processes as process_service
from iphs_flow.services.queries import case_lists


def index() -> Any:
    # Signed-in people start from their tasks; until people sign in, the public page
    # shows counts, never case titles or data.
    if current_actor() is not None:
        return redirect(url_for("pages.inbox"))
    context = current_app.extensions["iphs"]
    return render_template(
        "index.html",
        processes=process_service.list_processes(context),
        counts=case_lists.count_cases(context),
        now=now(),
    )


def init_home(app: Flask) -> None:
    app.add_url_rule("/", "index", index, methods=["GET"])
