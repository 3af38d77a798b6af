"""The innovation lead's side of the showcase: write a case's public texts, preview, publish, unpublish.

One form per case (/cases/<id>/publicering) with plain POSTs that work without
JavaScript. The lead's texts are saved as a draft or published; the preview renders the
public page's own template from the saved record, so what the lead sees is what the
public will. Refusals come back on the form with a message next to each field (422), a
form opened before someone else saved is refused (409); a case one may not see is 404 and
a person who is not a lead is refused (403). A person's consent to have their own
address shown as a contact is given and withdrawn on /konto/kontaktsamtycke.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.services import showcase
from iphs_flow.services.errors import Conflict, InvalidInput
from iphs_flow.services.queries import showcase as public
from iphs_flow.services.showcase_image import MAX_BYTES
from iphs_flow.web import showcase as public_pages
from iphs_flow.web.auth import login_required, require_login_actor

bp = Blueprint("publishing", __name__)


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


FIELD_ORDER = ("title", "summary", "goals", "unit", "contact_email", "image", "image_alt")


def _message(field: str, text: str) -> str:
    """The service's reason, in the lead's words."""
    if text == "required":
        return {"title": _("Skriv en rubrik för allmänheten."),
                "summary": _("Skriv en sammanfattning på lättbegriplig svenska."),
                "unit": _("Ange vilken enhet som ansvarar."),
                "contact_email": _("Ange enhetens e-postadress.")}.get(field, _("Fyll i fältet."))
    if text.startswith("at most"):
        return _("Skriv högst %(n)s tecken.", n=text.split()[2])
    if text == "not an e-mail address":
        return _("Ange en e-postadress, till exempel innovation@stad.se.")
    if text.startswith("the address is a person's"):
        return _("Adressen tillhör en person som inte har samtyckt till att visas som kontakt. Ange enhetens "
                 "gemensamma adress, eller be personen ge sitt samtycke under Kontaktsamtycke.")
    if text in ("unknown goal", "a goal is chosen twice"):
        return _("Välj mål ur listan.")
    if text == "required for a picture":
        return _("Beskriv bilden med en alternativtext.")
    if "only PNG" in text:
        return _("Bilden måste vara PNG, JPEG eller WebP.")
    if "larger than" in text:
        return _("Bilden får vara högst %(n)s MB.", n=3)
    if "too many pixels" in text:
        return _("Bilden har för många bildpunkter.")
    if "empty" in text:
        return _("Filen är tom.")
    return _("Filen kunde inte läsas som en bild (PNG, JPEG eller WebP).")


def _goals_from_form() -> tuple[int, ...]:
    return tuple(int(g) for g in request.form.getlist("goals") if g.isascii() and g.isdigit() and len(g) <= 3)


def _version() -> int | None:
    raw = request.form.get("version", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


def _page(case_id: int, *, status: int = 200, values: dict[str, Any] | None = None,
          errors: dict[str, str] | None = None, problem: str | None = None,
          unpublish_reason: str = "") -> tuple[str, int]:
    actor = require_login_actor()
    found = public.publish_form(_ctx(), case_id, actor)
    record = found.record
    if values is None:
        values = {"title": record.title if record else found.suggested_title,
                  "summary": record.summary if record else "",
                  "goals": record.goals if record else found.suggested_goals,
                  "unit": record.unit if record else "",
                  "contact_email": (record.contact_email or "") if record else "",
                  "image_alt": (record.image_alt or "") if record else ""}
    ordered = {k: errors[k] for k in (*FIELD_ORDER, "reason") if errors and k in errors}
    return render_template("publication_form.html", f=found, r=record, v=values, errors=ordered, problem=problem,
                           goals=public_pages.goals(), unpublish_reason=unpublish_reason,
                           stage_label=public_pages.stage_label), status


@bp.get("/cases/<int:case_id>/publicering")
@login_required
def form(case_id: int) -> tuple[str, int]:
    return _page(case_id)


@bp.post("/cases/<int:case_id>/publicering")
@login_required
def save(case_id: int) -> Any:
    actor = require_login_actor()
    values = {"title": request.form.get("title", ""), "summary": request.form.get("summary", ""),
              "goals": _goals_from_form(), "unit": request.form.get("unit", ""),
              "contact_email": request.form.get("contact_email", ""), "image_alt": request.form.get("image_alt", "")}
    upload = request.files.get("image")
    raw = upload.read(showcase_image_limit() + 1) if upload and upload.filename else None
    publish = request.form.get("action") == "publish"
    try:
        view = showcase.save_publication(
            _ctx(), case_id, showcase.PublicationInput(values["title"], values["summary"], values["goals"],
                                                        values["unit"], values["contact_email"], values["image_alt"]),
            actor, publish=publish, expected_version=_version(), image=raw,
            remove_image=request.form.get("remove_image") == "1")
    except InvalidInput as err:
        errors = {k: _message(k, v[0]) for k, v in err.fields.items() if v}
        return _page(case_id, status=422, values=values, errors=errors,
                     problem=_("Publiceringen kunde inte sparas. Rätta det som står vid fälten."))
    except Conflict:
        return _page(case_id, status=409, values=values,
                     problem=_("Någon annan har ändrat publiceringen under tiden. "
                               "Ladda om sidan och gör om ändringen."))
    if view.state == showcase.PUBLISHED:
        flash(_("Ärendet är publicerat. Ändringarna syns på den öppna sidan."))
    else:
        flash(_("Utkastet är sparat. Förhandsgranska det innan du publicerar."))
    return redirect(url_for("publishing.form", case_id=case_id))


def showcase_image_limit() -> int:
    return MAX_BYTES


@bp.post("/cases/<int:case_id>/publicering/avpublicera")
@login_required
def take_down(case_id: int) -> Any:
    actor = require_login_actor()
    reason = request.form.get("reason", "")
    try:
        showcase.unpublish(_ctx(), case_id, reason, actor, expected_version=_version())
    except InvalidInput as err:
        text = err.fields.get("reason", ["required"])[0]
        message = _("Ange varför ärendet avpubliceras.") if text == "required" else _message("reason", text)
        return _page(case_id, status=422, errors={"reason": message}, unpublish_reason=reason,
                     problem=_("Ärendet kunde inte avpubliceras."))
    except Conflict:
        return _page(case_id, status=409, unpublish_reason=reason,
                     problem=_("Ärendet är inte publicerat nu, eller så har någon annan ändrat publiceringen. "
                               "Ladda om sidan."))
    flash(_("Ärendet är avpublicerat och syns inte längre för allmänheten."))
    return redirect(url_for("publishing.form", case_id=case_id))


@bp.get("/cases/<int:case_id>/publicering/forhandsgranska")
@login_required
def preview(case_id: int) -> Any:
    actor = require_login_actor()
    with force_locale(public_pages.lang()):
        found = public.preview(_ctx(), case_id, actor)
        record = showcase.publication_of(_ctx(), case_id, actor)
        image = (url_for("publishing.preview_image", case_id=case_id, v=found.image_hash[:12])
                 if found.image_hash else None)
        response = Response(public_pages.render_case_page(found, image, preview=True, preview_case_id=case_id,
                                                          preview_state=record.state if record else None))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/cases/<int:case_id>/publicering/bild")
@login_required
def preview_image(case_id: int) -> Response:
    data, media_type, _digest = public.preview_image(_ctx(), case_id, require_login_actor())
    response = Response(data, mimetype=media_type)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# ---------------------------------------------------------------- a person's consent


@bp.get("/konto/kontaktsamtycke")
@login_required
def consent() -> tuple[str, int]:
    return render_template("contact_consent.html", consent=showcase.consent_of(_ctx(), require_login_actor())), 200


@bp.post("/konto/kontaktsamtycke")
@login_required
def consent_post() -> Any:
    actor = require_login_actor()
    try:
        if request.form.get("consent") == "give":
            showcase.give_contact_consent(_ctx(), actor)
            flash(_("Ditt samtycke är sparat. Din e-postadress får anges som kontakt på stadens öppna sidor."))
        else:
            _view, removed = showcase.withdraw_contact_consent(_ctx(), actor)
            flash(_("Ditt samtycke är återkallat. Adressen togs bort från %(n)s publicerade sidor.", n=removed))
    except InvalidInput:
        return render_template("contact_consent.html", consent=showcase.consent_of(_ctx(), actor),
                               problem=_("Ditt konto har ingen e-postadress.")), 422
    except Conflict:
        return render_template("contact_consent.html", consent=showcase.consent_of(_ctx(), actor),
                               problem=_("Du har inget samtycke att återkalla.")), 409
    return redirect(url_for("publishing.consent"))
