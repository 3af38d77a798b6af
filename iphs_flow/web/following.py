"""Pages for following cases: the follow button and updates on the case page, the "Följer" page,
the follow settings beside the mail setting, and the preview of the monthly digest.

Plain forms that work without JavaScript; the case page and the settings page include
small templates (_following.html, _follow_settings.html) that ask this module's template
helpers, so the case page's own view stays as it is.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.http.identity import current_actor
from iphs_flow.services import following, portfolio_news
from iphs_flow.services.errors import Conflict, InvalidInput
from iphs_flow.services.following import FollowState
from iphs_flow.web.auth import login_required, require_login_actor
from iphs_flow.web.stage_names import stage_name

bp = Blueprint("following", __name__)


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def _case_page(case_id: int, anchor: str = "following") -> Any:
    return redirect(url_for("pages.case", case_id=case_id) + f"#{anchor}")


@bp.post("/cases/<int:case_id>/follow")
@login_required
def follow(case_id: int) -> Any:
    actor = require_login_actor()
    if request.form.get("action") == "unfollow":
        following.unfollow(_ctx(), case_id, actor)
        flash(_("Du följer inte längre ärendet."))
    else:
        following.follow(_ctx(), case_id, actor)
        flash(_("Du följer nu ärendet. Du får veta när det går vidare, när beslut fattas och när "
                "innovationsledaren skriver en uppdatering."))
    if request.form.get("next") == "following":
        return redirect(url_for("following.mine"))
    return _case_page(case_id)


@bp.get("/foljer")
@login_required
def mine() -> str:
    actor = require_login_actor()
    return render_template("following.html", cases=following.list_following(_ctx(), actor), stage_name=stage_name)


def _update_errors(err: InvalidInput) -> list[str]:
    problem = " ".join(err.fields.get("body") or [])
    if problem.startswith("too long"):
        return [_("Uppdateringen får vara högst %(n)s tecken.", n=following.MAX_UPDATE)]
    return [_("Skriv en uppdatering innan du skickar.")]


@bp.get("/cases/<int:case_id>/updates/new")
@login_required
def new_update(case_id: int) -> Any:
    state = following.follow_state(_ctx(), case_id, require_login_actor())
    return render_template("following_update.html", state=state, case_id=case_id, body="", errors=[])


@bp.post("/cases/<int:case_id>/updates")
@login_required
def send_update(case_id: int) -> Any:
    actor = require_login_actor()
    body = request.form.get("body", "")
    try:
        following.send_update(_ctx(), case_id, body, actor)
    except InvalidInput as err:
        state = following.follow_state(_ctx(), case_id, actor)
        return render_template("following_update.html", state=state, case_id=case_id, body=body,
                               errors=_update_errors(err)), 422
    except Conflict:
        flash(_("Uppdateringen är redan skickad."))
        return _case_page(case_id, "updates")
    flash(_("Uppdateringen är skickad till ärendets följare."))
    return _case_page(case_id, "updates")


@bp.post("/notifications/following")
@login_required
def choose_settings() -> Any:
    actor = require_login_actor()
    following.set_settings(_ctx(), actor, request.form.get("case_mail", ""),
                           request.form.get("monthly_digest") == "yes")
    return redirect(url_for("notices.inbox", saved=1) + "#h-follow")


@bp.get("/nytt-i-portfoljen")
@login_required
def digest_preview() -> Any:
    actor = require_login_actor()
    month = request.args.get("month") or portfolio_news.last_month()
    try:
        shown = portfolio_news.preview(_ctx(), actor.username, month, actor)
    except InvalidInput:
        shown = portfolio_news.preview(_ctx(), actor.username, portfolio_news.last_month(), actor)
        return render_template("digest_preview.html", shown=shown, month_error=True, asked=month), 422
    return render_template("digest_preview.html", shown=shown, month_error=False, asked=month)


def _follow_panel(case_id: int) -> FollowState | None:
    actor = current_actor()
    return following.follow_state(_ctx(), case_id, actor) if actor is not None else None


def _follow_settings() -> following.FollowSettings | None:
    actor = current_actor()
    return following.get_settings(_ctx(), actor) if actor is not None else None


def init_following(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _following_helpers() -> dict[str, Any]:
        return {"follow_panel": _follow_panel, "follow_settings": _follow_settings,
                "update_limit": following.MAX_UPDATE}
