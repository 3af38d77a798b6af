"""The pages city staff use every day: start a case, inbox, my cases, case page, task forms.

Every page calls services only; permission checks happen there (a hidden button is a
convenience, the refusal is below it). Forms are plain HTML that work without
JavaScript, and a submission that arrives too late (the task was completed elsewhere
or cancelled by a timer) is kept as a draft and shown again with a clear message.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    send_from_directory,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.calendar import format_swedish
from iphs_flow.engine.clock import now
from iphs_flow.engine.numbers import format_number
from iphs_flow.engine.outcome_fields import OUTCOME_FIELD, fields_for_other_outcomes, outcome_fields
from iphs_flow.engine.vocabulary import (
    ELEMENT_KINDS,
    ENGINE_STEPS,
    EVENTS,
    NOTICES,
    OUTCOMES,
    STAGES,
    STATUSES,
    StatusWords,
    is_gate_form,
)
from iphs_flow.http.i18n import LANGUAGES
from iphs_flow.services import accounts, assignment, attachments, comments, drafts, registration
from iphs_flow.services import cases as case_service
from iphs_flow.services import processes as process_service
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from iphs_flow.services.permissions import IDEA_OWNER, PROCESS_DESIGNER
from iphs_flow.services.queries import case_lists, case_page, decision_brief, tasks
from iphs_flow.web import person_picker
from iphs_flow.web.auth import current_actor, login_required, require_login_actor
from iphs_flow.web.forms import FormSpec, add_row, read_only_values, remove_row
from iphs_flow.web.search import similar_panel
from iphs_flow.web.stage_names import stage_name

bp = Blueprint("pages", __name__)

def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def _lang() -> str:
    return str(get_locale() or "sv")


@lru_cache(maxsize=8)
def _load_translations(path: str, mtime: float) -> dict[str, Any]:
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def form_translations(lang: str) -> dict[str, Any]:
    """forms/translations/<lang>.json: labels and help texts of the forms in that language."""
    if lang == "sv":
        return {}
    path = Path(_ctx().settings.forms_dir) / "translations" / f"{lang}.json"
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    return _load_translations(str(path), mtime)


def spec_for(key: str, form: dict[str, Any]) -> FormSpec:
    lang = _lang()
    return FormSpec(key, form, lang, form_translations(lang), people=person_picker.choices)


# ------------------------------------------------------------------ language and statement


@bp.post("/lang")
def choose_language() -> Any:
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session["lang"] = lang
        actor = current_actor()
        if actor is not None:  # kept with the person, for every page and mail from now on
            accounts.set_language(_ctx(), actor, actor.username, lang)
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = url_for("index")
    return redirect(target)


@bp.get("/tillganglighet")
def accessibility() -> str:
    return render_template("accessibility.html")


# ------------------------------------------------------------------ start a case


@bp.get("/start")
@login_required
def start() -> str:
    actor = require_login_actor()
    return render_template("start.html", processes=process_service.list_processes(_ctx()),
                           may_start=actor.has(IDEA_OWNER))


@bp.post("/start")
@login_required
def start_post() -> Any:
    actor = require_login_actor()
    key = request.form.get("process", "")
    view = case_service.start_case(_ctx(), key, {}, actor)
    flash(_("Ärendet %(number)s är skapat. Fyll i formuläret för att lämna in det.", number=view.number))
    mine = [t for t in view.open_tasks if t.assignee == actor.username]
    if mine:
        return redirect(url_for("pages.task", task_id=mine[0].id))
    return redirect(url_for("pages.case", case_id=view.id))


# ------------------------------------------------------------------ inbox and lists

PAGE_SIZE = 50


def _int_arg(name: str) -> int:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else 0


@bp.get("/inbox")
@login_required
def inbox() -> str:
    actor = require_login_actor()
    show = request.args.get("show", "all")
    q = (request.args.get("q") or "").strip()
    sort = request.args.get("sort", "due")
    page = tasks.inbox(_ctx(), actor, show=show, q=q, sort=sort, offset=_int_arg("offset"), limit=PAGE_SIZE)
    return render_template("inbox.html", page=page, tasks=page.tasks, at=now(), show=show, q=q, sort=sort,
                           actor=actor, stage_name=stage_name)


@bp.post("/tasks/<int:task_id>/claim")
@login_required
def claim(task_id: int) -> Any:
    assignment.claim_task(_ctx(), task_id, require_login_actor())
    flash(_("Du har tagit uppgiften."))
    return redirect(_back())


@bp.post("/tasks/<int:task_id>/unclaim")
@login_required
def unclaim(task_id: int) -> Any:
    assignment.unclaim_task(_ctx(), task_id, require_login_actor())
    flash(_("Uppgiften är tillbaka hos gruppen."))
    return redirect(_back())


def _back() -> str:
    target = request.form.get("next") or ""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.inbox")


@bp.get("/cases")
@login_required
def my_cases() -> str:
    actor = require_login_actor()
    mine, total = case_lists.case_rows(_ctx(), actor, owner=actor.username, limit=500)
    return render_template("my_cases.html", cases=mine, total=total, stage_name=stage_name)


@bp.get("/overview")
@login_required
def overview() -> str:
    actor = require_login_actor()
    if not actor.sees_all_cases:
        raise Forbidden("only innovation leads and administrators see all cases")
    everything, total = case_lists.case_rows(_ctx(), actor, limit=1000)
    overdue = tasks.overdue_tasks(_ctx(), actor, limit=200)
    counts = case_lists.stage_counts(_ctx(), actor)
    board = {stage: [c for c in everything if c.stage == stage and c.status == "running"] for stage in STAGES}
    return render_template("overview.html", cases=everything, total=total, board=board, overdue=overdue,
                           counts=counts, stage_name=stage_name, stages=STAGES, at=now())


# ------------------------------------------------------------------ case page


@bp.get("/cases/<int:case_id>")
@login_required
def case(case_id: int) -> str:
    actor = require_login_actor()
    page = case_page.case_page(_ctx(), case_id, actor)
    steps = []
    for record in page.records.in_order():
        form = page.forms.get(record.form_key) if record.form_key else None
        spec = spec_for(record.form_key, form) if form else None
        fields = [f for f in spec.build(record.data).fields if f.kind != "readonly"] if spec else []
        if record.kind == "decision":  # only what the decider gave: the other outcomes' fields stay empty
            fields = [f for f in fields if f.name != "decision" and f.value not in (None, "", [], False)]
        steps.append((record, fields))
    picture = case_page.diagram(_ctx(), case_id, actor)
    full = actor.sees_all_cases or actor.has(PROCESS_DESIGNER)  # leads and designers see the whole model
    people_steps = picture.steps if full else [s for s in picture.steps if s.kind in case_page.PEOPLE_STEPS]
    history = page.detail.history if full else for_owner(page.detail.history)
    return render_template("case.html", page=page, detail=page.detail, steps=steps, at=now(), history=history,
                           diagram=picture, diagram_steps=people_steps, full_view=full,
                           viewer=full and vendor_available() and bool(picture.xml),
                           comments=comments.list_comments(_ctx(), case_id, actor), stages=STAGES,
                           files=attachments.list_attachments(_ctx(), case_id, actor),
                           stage_name=stage_name, registration=registration.registration_panel(_ctx(), case_id, actor))


@bp.get("/cases/<int:case_id>/diagram.bpmn")
@login_required
def diagram_xml(case_id: int) -> Any:
    found = case_page.diagram(_ctx(), case_id, require_login_actor())
    if not found.xml:
        raise NotFound("this case's process has no diagram")
    return Response(found.xml, mimetype="application/xml")


VENDOR = {  # what the pages load from node_modules (installed by `make install`, never committed)
    "bpmn-js/bpmn-viewer.js": "bpmn-js/dist/bpmn-navigated-viewer.production.min.js",
    "bpmn-js/diagram-js.css": "bpmn-js/dist/assets/diagram-js.css",
    "bpmn-js/bpmn-js.css": "bpmn-js/dist/assets/bpmn-js.css",
    # the decision table editor (web/design_tables.py); dmn.css loads its icon font from ../font/
    "dmn-js/dmn-modeler.js": "dmn-js/dist/dmn-modeler.production.min.js",
    **{f"dmn-js/{css}.css": f"dmn-js/dist/assets/{css}.css" for css in (
        "diagram-js", "dmn-js-shared", "dmn-js-drd", "dmn-js-decision-table", "dmn-js-decision-table-controls",
        "dmn-js-literal-expression")},
    **{f"dmn-js/dmn-font/{part}": f"dmn-js/dist/assets/dmn-font/{part}" for part in (
        "css/dmn.css", "font/dmn.woff2", "font/dmn.woff", "font/dmn.ttf")},
}
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"


def vendor_available() -> bool:
    return (NODE_MODULES / VENDOR["bpmn-js/bpmn-viewer.js"]).is_file()


@bp.get("/vendor/<path:name>")
def vendor(name: str) -> Any:
    if name not in VENDOR:
        raise NotFound(f"there is no file {name}")
    return send_from_directory(NODE_MODULES, VENDOR[name], max_age=3600)


@bp.post("/cases/<int:case_id>/attachments")
@login_required
def attach(case_id: int) -> Any:
    actor = require_login_actor()
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise InvalidInput("choose a file", {"file": ["empty"]})
        attachments.add_attachment(_ctx(), case_id, upload.filename, upload.stream, actor)
    except InvalidInput as err:
        flash(_("Filen kunde inte bifogas: %(why)s", why=_attachment_problem(err)), "error")
        return redirect(url_for("pages.case", case_id=case_id) + "#attachments")
    flash(_("Filen är bifogad."))
    return redirect(url_for("pages.case", case_id=case_id) + "#attachments")


def _attachment_problem(err: InvalidInput) -> str:
    problem = (err.fields.get("file") or [""])[0]
    return {
        "empty": _("välj en fil."),
        "too large": _("filen är större än %(mb)s MB.", mb=_ctx().settings.attachment_max_bytes // (1024 * 1024)),
        "type not allowed": _("den filtypen är inte tillåten (tillåtna: pdf, docx, xlsx, pptx, odt, ods, png, jpg, "
                              "txt, csv)."),
        "content does not match": _("filens innehåll stämmer inte med filändelsen."),
    }.get(problem, _("okänt fel."))


@bp.get("/attachments/<int:attachment_id>")
@login_required
def download(attachment_id: int) -> Any:
    view, path = attachments.open_attachment(_ctx(), attachment_id, require_login_actor())
    # Absolute: Flask resolves a relative path against the package folder, not the working directory.
    response = send_file(Path(path).resolve(), mimetype=view.content_type, as_attachment=True,
                         download_name=view.filename, max_age=0)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.post("/cases/<int:case_id>/comments")
@login_required
def comment(case_id: int) -> Any:
    actor = require_login_actor()
    try:
        comments.add_comment(_ctx(), case_id, request.form.get("body", ""), actor)
    except InvalidInput:
        flash(_("Skriv en kommentar (högst 4000 tecken) innan du skickar."), "error")
        return redirect(url_for("pages.case", case_id=case_id) + "#comments")
    flash(_("Kommentaren är sparad."))
    return redirect(url_for("pages.case", case_id=case_id) + "#comments")


# ------------------------------------------------------------------ task form


def _is_gate(spec: FormSpec | None) -> bool:
    return bool(spec and is_gate_form(spec.schema))


def _brief_fields(brief: decision_brief.DecisionBrief, forms: dict[str, Any]) -> list[tuple[Any, list[Any]]]:
    """Each fact of the brief with its fields rendered by the form that asked for them."""
    out = []
    for fact in brief.facts:
        form = forms.get(fact.record.form_key) if fact.record.form_key else None
        if form is None:
            out.append((fact.record, []))
            continue
        built = spec_for(fact.record.form_key or "", form).build(fact.record.data).fields
        wanted = set(fact.fields)
        out.append((fact.record, [f for f in built if f.name in wanted and f.kind != "readonly"]))
    return out


def _render_task(page: case_page.TaskPage, spec: FormSpec | None, values: dict[str, Any],
                 errors: dict[str, list[str]] | None = None, status: int = 200, notice: str | None = None,
                 conflict: str | None = None, saved_at: Any = None) -> tuple[str, int]:
    form = spec.build(values, errors) if spec else None
    general = (errors or {}).get("", [])
    is_gate = _is_gate(spec)
    brief = facts = None
    field_outcomes: dict[str, Any] = {}
    if is_gate and spec is not None:
        brief = decision_brief.decision_brief(_ctx(), page.task.id, require_login_actor())
        facts = _brief_fields(brief, brief.forms)
        field_outcomes = outcome_fields(spec.schema, spec.ui)
    return render_template("task.html", page=page, form=form, notice=notice, conflict=conflict,
                           general_errors=general, saved_at=saved_at, stage_name=stage_name,
                           similar=similar_panel(page, values, request.form.get("_action") == "similar"),
                           is_gate=is_gate, brief=brief, facts=facts, field_outcomes=field_outcomes,
                           chosen=values.get(OUTCOME_FIELD) if is_gate else None), status


@bp.get("/tasks/<int:task_id>")
@login_required
def task(task_id: int) -> Any:
    actor = require_login_actor()
    page = case_page.task_page(_ctx(), task_id, actor)
    spec = spec_for(page.task.form_key, page.form) if page.form and page.task.form_key else None
    values: dict[str, Any] = {}
    saved_at = None
    draft = drafts.load_draft(_ctx(), task_id, actor)
    if draft:
        values, saved_at = draft
    if spec:
        values = {**page.prefill, **read_only_values(spec.schema, page.case_data), **values}
    conflict = None
    if page.task.state != "open":
        conflict = _closed_message(page)
    return _render_task(page, spec, values, conflict=conflict, saved_at=saved_at)


def _closed_message(page: case_page.TaskPage) -> str:
    when = format_swedish(page.closed_at) if page.closed_at else ""
    if page.task.state == "completed":
        return _("Uppgiften är redan klar (av %(who)s, %(when)s). Det du skrev finns kvar nedan och är "
                 "sparat som utkast.", who=page.closed_by or "–", when=when)
    return _("Uppgiften behövs inte längre: den avbröts %(when)s (till exempel av en tidsfrist eller ett "
             "beslut). Det du skrev finns kvar nedan och är sparat som utkast.", when=when)


@bp.post("/tasks/<int:task_id>")
@login_required
def task_post(task_id: int) -> Any:
    actor = require_login_actor()
    ctx = _ctx()
    page = case_page.task_page(ctx, task_id, actor)
    spec = spec_for(page.task.form_key, page.form) if page.form and page.task.form_key else None
    action = request.form.get("_action", "submit")
    if spec:
        values, problems = spec.read(request.form)
    else:
        values, problems = {}, {}
    shown = {**read_only_values(spec.schema, page.case_data), **values} if spec else values

    if _is_gate(spec) and spec is not None and action != "draft":
        # Only the chosen outcome's fields count: what was typed for another outcome is not kept.
        for name in fields_for_other_outcomes(spec.schema, spec.ui, values.get(OUTCOME_FIELD)):
            values.pop(name, None)
            problems.pop(name, None)
        shown = {**read_only_values(spec.schema, page.case_data), **values}
    if action == "choose":  # without JavaScript: show the fields of the outcome just chosen
        return _render_task(page, spec, shown)
    if action.startswith("add:") and spec:
        add_row(values, action[4:], spec)
        return _render_task(page, spec, {**shown, **values})
    if action.startswith("remove:") and spec:
        _action, name, index = (action.split(":") + ["", ""])[:3]
        if index.isdigit():
            remove_row(values, name, int(index))
        return _render_task(page, spec, {**shown, **values})
    if action == "similar":  # "Sök liknande ärenden": the same form again, with the list, nothing saved
        return _render_task(page, spec, shown)
    if action == "draft":
        drafts.save_draft(ctx, task_id, values, actor)
        return _render_task(page, spec, shown, notice=_("Utkastet är sparat. Du kan fortsätta senare."),
                            saved_at=now())

    if page.task.state != "open":
        drafts.save_draft(ctx, task_id, values, actor)
        return _render_task(page, spec, shown, status=409, conflict=_closed_message(page))
    errors = {**person_picker.errors(spec, values), **(spec.validate(values) if spec else {})}
    for path, messages in problems.items():
        errors[path] = messages  # "could not read a number" says more than "wrong type"
    if errors:
        return _render_task(page, spec, shown, errors, status=422)
    try:
        view = case_service.complete_task(ctx, task_id, values, actor, discard_draft=True)
    except Conflict:
        drafts.save_draft(ctx, task_id, values, actor)
        fresh = case_page.task_page(ctx, task_id, actor)
        if fresh.task.state != "open":
            message = _closed_message(fresh)
        elif fresh.case.status != "running":
            message = _("Ärendet kan inte ändras just nu (%(status)s). Det du skrev är sparat som utkast.",
                        status=_named(STATUSES)(fresh.case.status))
        else:
            message = _("Ärendet ändrades av någon annan samtidigt. Det du skrev är sparat som utkast; försök igen.")
        return _render_task(fresh, spec, shown, status=409, conflict=message)
    except InvalidInput as err:
        return _render_task(page, spec, shown, {k if k != "(form)" else "": v for k, v in err.fields.items()},
                            status=422)
    flash(_("Klart! %(task)s är inskickad för %(number)s.", task=page.task.name, number=view.number))
    return redirect(url_for("pages.case", case_id=view.id))


# ------------------------------------------------------------------ wiring

def _named(table: dict[str, str]) -> Any:
    def name(value: Any) -> str:
        text = table.get(str(value))
        return _(text) if text else str(value)
    return name


def init_pages(app: Any) -> None:
    """The staff pages and the template helpers they share."""
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["tal"] = format_number
    settings = app.extensions["iphs"].settings
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask presets the key to None, so setdefault did nothing
        app.config["MAX_CONTENT_LENGTH"] = settings.attachment_max_bytes + 1024 * 1024

    @app.errorhandler(413)
    def _too_large(err: Any) -> Any:
        return render_template("error.html", message=_("Filen är för stor. Största tillåtna storlek är %(mb)s MB.",
                                                       mb=settings.attachment_max_bytes // (1024 * 1024))), 413

    app.register_blueprint(bp)

    @app.context_processor
    def _page_helpers() -> dict[str, Any]:
        return {"page_lang": _lang, "status_name": _named(STATUSES), "decision_name": _named(OUTCOMES),
                "event_name": _named(EVENTS), "status_text": status_text,
                "history_what": history_what}


def _element_name(event: Any) -> str | None:
    """The element's own name; None when the history only knows its id (SpiffWorkflow falls back to it)."""
    name = event.task_name
    return name if name and name != event.task_key else None


def history_what(event: Any) -> str:
    """What a history row says, in names and words, never element ids ("Steg avbrutet: en påminnelse")."""
    what = _named(EVENTS)(event.kind)
    name = _element_name(event)
    if event.kind == "notification":
        template = (event.data or {}).get("template")
        about = NOTICES.get(str(template)) if template else None
        return _("%(event)s: %(what)s", event=what, what=_(about)) if about else what
    if name:
        return _("%(event)s: %(what)s", event=what, what=name)
    if event.task_key:
        kind = ELEMENT_KINDS.get(str((event.data or {}).get("type") or ""), "ett steg i processen")
        return _("%(event)s: %(what)s", event=what, what=_(kind))
    return what


def for_owner(history: list[Any]) -> list[Any]:
    """The history without the engine's unnamed inner steps (gateways, reminders no longer needed)."""
    return [e for e in history if not (e.kind in ENGINE_STEPS and _element_name(e) is None)]


def status_text(words: StatusWords | None, fallback: str = "") -> str:
    """A case's plain status words in the page's language ("Vilande till 2027-02-15")."""
    if words is None:
        return _named(STATUSES)(fallback)
    return _(words.text, date=words.date) if words.date else _(words.text)
