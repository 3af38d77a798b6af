"""The administrators' pages for people, roles and groups (/admin/people, /admin/groups).

What `iphs-flow users …` does, in the browser: find people, create a local account,
change roles, add to and remove from groups, deactivate and reactivate, and see every
group with its members (a group a process sends tasks to but nobody is in is marked).
The checks and the access log are in services/people_admin.py; every form carries the
CSRF token.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.services import people_admin
from iphs_flow.services.errors import Conflict, InvalidInput
from iphs_flow.services.permissions import ROLES
from iphs_flow.web.auth import login_required, remote_addr, require_login_actor

bp = Blueprint("people_admin", __name__)


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def role_names() -> dict[str, str]:
    return {"idea_owner": _("Idéägare"), "approver": _("Beslutsfattare"), "innovation_lead": _("Innovationsledare"),
            "process_designer": _("Processdesigner"), "administrator": _("Administratör"),
            "registrar": _("Registrator"), "researcher": _("Forskare")}


def _int_arg(name: str) -> int:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else 0


@bp.get("/admin/people")
@login_required
def index() -> str:
    actor = require_login_actor()
    q = (request.args.get("q") or "").strip()
    page = people_admin.search_people(_ctx(), actor, q, offset=_int_arg("offset"))
    return render_template("admin_people.html", page=page, q=q, role_names=role_names())


# ------------------------------------------------------------------ a new local account

CREATE_MESSAGES = {
    "username": lambda: _("Ange ett användarnamn utan mellanslag (högst 200 tecken)."),
    "password": lambda: _("Lösenordet måste ha minst 12 tecken. Lämna det tomt för inloggning bara via stadens "
                          "inloggning (SSO)."),
    "display_name": lambda: _("Ange personens namn."),
    "email": lambda: _("Ange en giltig e-postadress, eller lämna fältet tomt."),
    "groups": lambda: _("Gruppnamn skrivs med små bokstäver, siffror och - . _"),
    "roles": lambda: _("Välj bland rollerna i listan."),
    "language": lambda: _("Välj svenska eller engelska."),
}
FIELD_IDS = {"username": "p-username", "password": "p-password", "display_name": "p-name", "email": "p-email",
             "groups": "p-groups", "roles": "p-role-idea_owner", "language": "p-language"}


def _new_page(status: int = 200, errors: dict[str, str] | None = None,
              values: dict[str, Any] | None = None) -> tuple[str, int]:
    actor = require_login_actor()
    return render_template("admin_person_new.html", errors=errors or {}, roles=ROLES, role_names=role_names(),
                           groups=people_admin.known_groups(_ctx(), actor),
                           values=values or {"roles": [], "groups": [], "language": "sv"}), status


@bp.get("/admin/people/new")
@login_required
def new() -> tuple[str, int]:
    people_admin.search_people(_ctx(), require_login_actor(), limit=1)  # administrators only
    return _new_page()


@bp.post("/admin/people/new")
@login_required
def create() -> Any:
    actor = require_login_actor()
    form = request.form
    values = {"username": form.get("username", "").strip(), "display_name": form.get("display_name", ""),
              "email": form.get("email", ""), "roles": form.getlist("roles"), "groups": form.getlist("groups"),
              "language": form.get("language", "sv")}
    extra = [g.strip() for g in request.form.get("new_groups", "").split(",") if g.strip()]
    values["new_groups"] = request.form.get("new_groups", "")
    try:
        info = people_admin.create_person(
            _ctx(), actor, username=values["username"], display_name=values["display_name"], email=values["email"],
            password=request.form.get("password") or None, roles=set(values["roles"]),
            groups=set(values["groups"]) | set(extra), language=values["language"])
    except InvalidInput as err:
        errors = {FIELD_IDS.get(k, "p-username"): (CREATE_MESSAGES[k]() if k in CREATE_MESSAGES else err.message)
                  for k in err.fields}
        return _new_page(422, errors, values)
    except Conflict:
        return _new_page(409, {"p-username": _("Användarnamnet %(name)s finns redan. Välj ett annat.",
                                               name=values["username"])}, values)
    flash(_("Användaren %(name)s är skapad.", name=info.username))
    return redirect(url_for("people_admin.person", username=info.username))


# ------------------------------------------------------------------ one person


def _person_page(username: str, status: int = 200, errors: dict[str, str] | None = None,
                 values: dict[str, Any] | None = None) -> tuple[str, int]:
    actor = require_login_actor()
    found = people_admin.get_person(_ctx(), actor, username)
    return render_template("admin_person.html", person=found, roles=ROLES, role_names=role_names(),
                           groups=people_admin.known_groups(_ctx(), actor), errors=errors or {},
                           values=values or {}, is_me=found.username == actor.username), status


@bp.get("/admin/people/<username>")
@login_required
def person(username: str) -> tuple[str, int]:
    return _person_page(username)


@bp.post("/admin/people/<username>/roles")
@login_required
def roles(username: str) -> Any:
    chosen = set(request.form.getlist("roles"))
    try:
        people_admin.change_roles(_ctx(), require_login_actor(), username, chosen, remote_addr())
    except InvalidInput as err:
        message = (_("Du kan inte ta bort din egen administratörsroll. Be en annan administratör.")
                   if "own administrator" in err.message else _("Välj bland rollerna i listan."))
        return _person_page(username, 422, {"r-administrator": message})
    flash(_("Rollerna är ändrade."))
    return redirect(url_for("people_admin.person", username=username))


@bp.post("/admin/people/<username>/groups/add")
@login_required
def add_group(username: str) -> Any:
    group = request.form.get("group", "").strip()
    try:
        people_admin.add_to_group(_ctx(), require_login_actor(), username, group, remote_addr())
    except InvalidInput:
        return _person_page(username, 422, {"g-new": CREATE_MESSAGES["groups"]()}, {"group": group})
    except Conflict:
        return _person_page(username, 409, {"g-new": _("%(name)s är redan med i gruppen %(group)s.",
                                                       name=username, group=group)}, {"group": group})
    flash(_("%(name)s är nu med i gruppen %(group)s.", name=username, group=group))
    return redirect(url_for("people_admin.person", username=username))


@bp.post("/admin/people/<username>/groups/remove")
@login_required
def remove_group(username: str) -> Any:
    group = request.form.get("group", "").strip()
    people_admin.remove_from_group(_ctx(), require_login_actor(), username, group, remote_addr())
    flash(_("%(name)s är inte längre med i gruppen %(group)s.", name=username, group=group))
    return redirect(url_for("people_admin.person", username=username))


@bp.post("/admin/people/<username>/active")
@login_required
def active(username: str) -> Any:
    wanted = request.form.get("active") == "yes"
    people_admin.set_active(_ctx(), require_login_actor(), username, wanted)
    flash(_("Kontot är aktivt igen.") if wanted else _("Kontot är avaktiverat. Personen kan inte logga in."))
    return redirect(url_for("people_admin.person", username=username))


# ------------------------------------------------------------------ groups


@bp.get("/admin/groups")
@login_required
def groups() -> str:
    found = people_admin.list_groups(_ctx(), require_login_actor())
    return render_template("admin_groups.html", groups=found)
