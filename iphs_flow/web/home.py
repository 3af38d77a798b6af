"""The site's front door: people who are signed in go to their tasks; everyone else sees what the city works on.

The anonymous page shows the newest published cases of the public showcase (web/showcase.py)
and how many cases there are per stage, in plain words — never an unpublished case's title,
and never the user names of the people who work in the system.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, redirect, render_template, url_for

from iphs_flow.http.identity import current_actor
from iphs_flow.services.queries import case_lists
from iphs_flow.services.queries import showcase as public
from iphs_flow.web import showcase as public_pages

LATEST = 5


def index() -> Any:
    if current_actor() is not None:
        return redirect(url_for("pages.inbox"))
    context = current_app.extensions["iphs"]
    latest = public.public_list(context, public.Filters(), 1, per_page=LATEST)
    return render_template("index.html", latest=latest, counts=case_lists.count_cases(context),
                           page_words=public_pages.page_words, phase_name=public_pages.phase_name,
                           stage_label=public_pages.stage_label)


def init_home(app: Flask) -> None:
    app.add_url_rule("/", "index", index, methods=["GET"])
