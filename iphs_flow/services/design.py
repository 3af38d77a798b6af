"""Designing processes in the browser: a shared draft per process, checked, then deployed.

Designers edit a working copy (the draft) of a process: its BPMN/DMN files and the forms
its user tasks use. The draft starts as a copy of the newest deployed version, is saved
with an optimistic lock (designers collaborate on one draft, and a save based on an
older copy is refused rather than silently overwriting a colleague), is checked with the
same rules as a deploy from the command line, and becomes a new version when deployed.
Running cases keep their version; nothing in a draft runs until it is deployed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy.exc import IntegrityError

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine import model_checks
from iphs_flow.engine.model_checks import Problem
from iphs_flow.engine.xml_safety import MAX_MODEL_BYTES
from iphs_flow.store.tables import DesignDraft

from .errors import Conflict, Forbidden, InvalidInput, InvalidProcess, NotFound
from .permissions import ADMINISTRATOR, PROCESS_DESIGNER, Actor
from .processes import MODEL_SUFFIXES, check_form, check_models, store_versions, with_warnings
from .staffing import empty_group_warnings
from .versions import VersionInfo, list_versions
from .views import DeployOutcome

__all__ = ["DraftView", "Problem", "DraftInvalid", "DraftConflict", "ProcessDesign", "get_draft", "save_draft_file",
           "save_draft_form", "validate_draft", "deploy_draft", "discard_draft", "import_file", "export_bpmn",
           "list_designs", "main_bpmn"]

_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,99}$")
MAX_FORM_CHARS = 512 * 1024


@dataclass(frozen=True)
class DraftView:
    """A designer's working copy of a process, as the pages and the API show it."""

    key: str
    files: dict[str, str]  # .bpmn/.dmn file name -> XML text
    forms: dict[str, dict[str, Any]]  # form key -> {"schema": ..., "ui": ...}
    version: int  # counts saves; a save must name the version it started from
    base_version: int | None  # the deployed version the draft was copied from
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class ProcessDesign:
    """A process on the designers' start page: its versions and whether someone is editing it."""

    key: str
    name: str
    versions: list[VersionInfo]
    draft_by: str | None
    draft_at: datetime | None


class DraftInvalid(InvalidProcess):
    """A deploy refused because the draft has problems; carries all of them, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        count = len(problems)
        message = first.message if count == 1 else f"{first.message} (and {count - 1} more problems)"
        super().__init__(message, file_name=first.file_name, element_id=first.element_id, line=first.line)
        self.problems = problems
        for problem in problems[1:]:
            self.fields.setdefault(problem.element_id or problem.file_name or "model", []).append(problem.message)


class DraftConflict(Conflict):
    """Somebody saved the draft since the caller loaded it."""

    def __init__(self, message: str, current_version: int, updated_by: str | None) -> None:
        super().__init__(message)
        self.current_version = current_version
        self.updated_by = updated_by


def _require_designer(actor: Actor, action: str) -> None:
    if not (actor.has(PROCESS_DESIGNER) or actor.has(ADMINISTRATOR)):
        raise Forbidden(f"you may not {action} (needs the role {PROCESS_DESIGNER} or {ADMINISTRATOR})")


def _view(draft: DesignDraft) -> DraftView:
    return DraftView(key=draft.process_key, files=dict(draft.files), forms=dict(draft.forms), version=draft.version,
                     base_version=draft.base_version, updated_by=draft.updated_by, updated_at=draft.updated_at)


def _check_key(key: str) -> None:
    if not _KEY.match(key or ""):
        raise NotFound(f"there is no process '{key}'")


def get_draft(ctx: AppContext, key: str, actor: Actor) -> DraftView:
    """The shared draft of process `key`, copied from its newest version the first time it is asked for."""
    _require_designer(actor, "design processes")
    _check_key(key)
    with ctx.uow.read() as tx:
        found = tx.design_drafts.get(key)
        if found is not None:
            return _view(found)
    try:
        with ctx.uow.write() as tx:
            found = tx.design_drafts.get(key)
            if found is None:
                latest = tx.processes.latest(key)
                if latest is None:
                    raise NotFound(f"no process '{key}' is deployed; import a BPMN file to start one")
                found = tx.design_drafts.add(DesignDraft(
                    process_key=key, files=dict(latest.files), forms=dict(latest.forms), version=1,
                    base_version=latest.version, updated_by=actor.username))
            view = _view(found)
            tx.commit()
            return view
    except IntegrityError:
        # another designer opened the same process at the same moment: theirs is the draft
        with ctx.uow.read() as tx:
            found = tx.design_drafts.get(key)
            if found is None:
                raise
            return _view(found)


def _check_file_name(name: str) -> None:
    if (not _FILE_NAME.match(name or "") or PurePosixPath(name).name != name
            or not name.lower().endswith(MODEL_SUFFIXES)):
        raise InvalidInput(f"the file name '{name}' is not allowed: use letters, digits, '-', '_' and the "
                           "ending .bpmn or .dmn", {"name": ["invalid file name"]})


def _refuse_unsafe(name: str, content: str) -> None:
    """Unsafe XML and untrusted code that the sandbox refuses never enter a draft."""
    data = content.encode("utf-8")
    if len(data) > MAX_MODEL_BYTES:
        raise InvalidInput(f"{name}: the file is larger than {MAX_MODEL_BYTES // 1024 // 1024} MB",
                           {"content": ["too large"]})
    problems = model_checks.refused_problems({name: data})  # compiled in an engine worker
    if problems:
        first = problems[0]
        raise InvalidProcess(first.message, file_name=name, element_id=first.element_id, line=first.line)


def _conflict(tx: Any, key: str, expected: int) -> DraftConflict:
    current = tx.design_drafts.get(key)
    if current is None:
        return DraftConflict(f"the draft of '{key}' was deployed or discarded since you opened it; "
                             "open it again", 0, None)
    return DraftConflict(
        f"{current.updated_by} saved the draft of '{key}' since you opened it (now version {current.version}, "
        f"you had version {expected}); your changes are not saved; open the draft again", current.version,
        current.updated_by)


def _save(ctx: AppContext, key: str, actor: Actor, expected_version: int, **changes: Any) -> DraftView:
    get_draft(ctx, key, actor)  # the draft exists from here on
    with ctx.uow.write() as tx:
        current = tx.design_drafts.get(key)
        if current is None or current.version != expected_version:
            raise _conflict(tx, key, expected_version)
        values = {"updated_by": actor.username}
        if "file" in changes:
            name, content = changes["file"]
            values["files"] = {**current.files, name: content}
        if "form" in changes:
            form_key, form = changes["form"]
            values["forms"] = {**current.forms, form_key: form}
        if not tx.design_drafts.save(key, expected_version, **values):
            raise _conflict(tx, key, expected_version)
        tx.session.expire_all()
        view = _view(tx.design_drafts.get(key))
        tx.commit()
        return view


def save_draft_file(ctx: AppContext, key: str, name: str, content: str, actor: Actor,
                    expected_version: int) -> DraftView:
    """Store one BPMN/DMN file in the draft; refused if unsafe, or if someone saved in between (409)."""
    _require_designer(actor, "design processes")
    _check_key(key)
    _check_file_name(name)
    if not isinstance(content, str) or not content.strip():
        raise InvalidInput("the file is empty", {"content": ["empty"]})
    _refuse_unsafe(name, content)
    return _save(ctx, key, actor, expected_version, file=(name, content))


def save_draft_form(ctx: AppContext, key: str, form_key: str, schema: dict[str, Any], ui: dict[str, Any],
                    actor: Actor, expected_version: int) -> DraftView:
    """Store one form in the draft: a Draft 2020-12 object schema with field names scripts may use."""
    _require_designer(actor, "design processes")
    _check_key(key)
    if not isinstance(form_key, str) or not _KEY.match(form_key):
        raise InvalidInput(f"the form name '{form_key}' is not allowed: use letters, digits, '-' and '_'",
                           {"form_key": ["invalid form name"]})
    form = check_form(form_key, schema, ui)
    if len(json.dumps(form)) > MAX_FORM_CHARS:
        raise InvalidInput(f"the form '{form_key}' is too large", {"schema": ["too large"]})
    return _save(ctx, key, actor, expected_version, form=(form_key, form))


def _problems(ctx: AppContext, draft: DraftView) -> list[Problem]:
    files = {name: text.encode("utf-8") for name, text in draft.files.items()}
    review = model_checks.review_files(files, ctx.settings.lane_groups)  # compiled in an engine worker
    problems = list(review.problems)
    if review.files_read and draft.key not in review.process_ids:
        problems.append(Problem(None, main_bpmn(draft), None,
                                f"no file holds the executable process '{draft.key}' (a bpmn:process with "
                                f"id=\"{draft.key}\" and isExecutable=\"true\")"))
    for form_key, uses in review.form_uses.items():
        use = uses[0]
        if form_key in draft.forms:
            try:
                check_form(form_key, draft.forms[form_key].get("schema"), draft.forms[form_key].get("ui"))
            except InvalidProcess as err:
                problems.append(Problem(use.element_id, use.file_name, use.line, err.message))
        elif not (ctx.settings.forms_dir / f"{form_key}.schema.json").is_file():
            problems.append(Problem(use.element_id, use.file_name, use.line,
                                    f"the user task '{use.name or use.element_id}' uses the form "
                                    f"'{form_key}', which does not exist; create it in the form editor"))
    if not [p for p in problems if p.severity == model_checks.ERROR]:
        # the parser's own checks (BPMN schema, DMN tables, called processes) on a model that passed ours
        try:
            check_models(ctx, files, draft.forms)
        except InvalidProcess as err:
            problems.append(Problem(err.element_id, err.file_name, err.line, err.message))
    return problems + empty_group_warnings(ctx, files)


def validate_draft(ctx: AppContext, key: str, actor: Actor) -> list[Problem]:
    """Every problem that would stop the draft from deploying, each pointing at element and line."""
    return _problems(ctx, get_draft(ctx, key, actor))


def deploy_draft(ctx: AppContext, key: str, actor: Actor) -> list[DeployOutcome]:
    """Check the draft and deploy it with its forms as new versions; the draft is then done and removed."""
    draft = get_draft(ctx, key, actor)
    errors = [p for p in _problems(ctx, draft) if p.severity == model_checks.ERROR]
    if errors:
        raise DraftInvalid(errors)
    files = {name: text.encode("utf-8") for name, text in draft.files.items()}
    checked = check_models(ctx, files, draft.forms)
    with ctx.uow.write() as tx:
        current = tx.design_drafts.get(key)
        if current is None or current.version != draft.version:
            raise _conflict(tx, key, draft.version)
        outcomes = store_versions(tx, checked, actor)
        tx.design_drafts.delete(key)
        tx.commit()
    return with_warnings(ctx, outcomes, files)


def discard_draft(ctx: AppContext, key: str, actor: Actor) -> bool:
    """Throw the draft away; the next designer to open the process starts from the newest version."""
    _require_designer(actor, "design processes")
    _check_key(key)
    with ctx.uow.write() as tx:
        removed = tx.design_drafts.delete(key)
        tx.commit()
    return removed


def import_file(ctx: AppContext, name: str, content: bytes, actor: Actor, key: str | None = None) -> DraftView:
    """Upload a BPMN or DMN file into a draft (of `key`, or of the process the BPMN file holds).

    Uploads are untrusted: DOCTYPE/entity declarations and scripts the sandbox refuses are
    rejected with the reason, and nothing is stored. A new process gets a new draft.
    """
    _require_designer(actor, "design processes")
    _check_file_name(name)
    if len(content) > MAX_MODEL_BYTES:
        raise InvalidInput(f"{name}: the file is larger than {MAX_MODEL_BYTES // 1024 // 1024} MB",
                           {"file": ["too large"]})
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name}: the file is not UTF-8 text", {"file": ["not utf-8"]}) from None
    if not text.strip():
        raise InvalidInput(f"{name}: the file is empty", {"file": ["empty"]})
    _refuse_unsafe(name, text)
    if not key:
        trees, _ = model_checks.parse_files({name: content})
        ids = model_checks.process_ids(trees)
        if len(ids) != 1:
            raise InvalidInput(f"{name}: choose the process this file belongs to (it holds "
                               f"{len(ids)} executable processes)", {"key": ["choose a process"]})
        key = ids[0]
    _check_key(key)
    with ctx.uow.read() as tx:
        exists = tx.design_drafts.get(key) is not None or tx.processes.latest(key) is not None
    if not exists:
        try:
            with ctx.uow.write() as tx:
                tx.design_drafts.add(DesignDraft(process_key=key, files={name: text}, forms={}, version=1,
                                                 base_version=None, updated_by=actor.username))
                tx.commit()
        except IntegrityError:
            raise Conflict(f"someone started a draft of '{key}' at the same time; try again") from None
        return get_draft(ctx, key, actor)
    draft = get_draft(ctx, key, actor)
    return save_draft_file(ctx, key, name, text, actor, draft.version)


def main_bpmn(draft: DraftView) -> str | None:
    """The BPMN file of the draft that holds the process itself (not only called processes)."""
    bpmn = sorted(n for n in draft.files if n.lower().endswith(".bpmn"))
    for name in bpmn:
        if re.search(rf'<(\w+:)?process\b[^>]*\bid="{re.escape(draft.key)}"', draft.files[name]):
            return name
    return bpmn[0] if bpmn else None


def export_bpmn(ctx: AppContext, key: str, actor: Actor, source: str = "draft") -> tuple[str, str]:
    """(file name, XML) of the process's BPMN file: from the draft if there is one, else the newest version."""
    _require_designer(actor, "export processes")
    _check_key(key)
    with ctx.uow.read() as tx:
        draft = tx.design_drafts.get(key) if source == "draft" else None
        if draft is not None:
            view = _view(draft)
        else:
            latest = tx.processes.latest(key)
            if latest is None:
                raise NotFound(f"no process '{key}' is deployed")
            view = DraftView(key, dict(latest.files), dict(latest.forms), 0, latest.version, latest.deployed_by,
                             latest.deployed_at)
    name = main_bpmn(view)
    if name is None:
        raise NotFound(f"process '{key}' has no BPMN file")
    return name, view.files[name]


def list_designs(ctx: AppContext, actor: Actor) -> list[ProcessDesign]:
    """Every deployed process with its versions, plus drafts of processes not deployed yet."""
    _require_designer(actor, "design processes")
    with ctx.uow.read() as tx:
        latest = {v.process_key: v.name for v in tx.processes.latest_versions()}
        drafts = {d.process_key: (d.updated_by, d.updated_at) for d in tx.design_drafts.all()}
    designs = []
    for key in sorted(set(latest) | set(drafts)):
        draft_by, draft_at = drafts.get(key, (None, None))
        listed = list_versions(ctx, key, actor) if key in latest else []
        designs.append(ProcessDesign(key, latest.get(key, key), listed, draft_by, draft_at))
    return designs


@dataclass(frozen=True)
class OpenCase:
    """A case still running on some version: a candidate for migration."""

    id: int
    number: str
    title: str
    status: str
    version: int
    owner: str


def open_cases(ctx: AppContext, key: str, actor: Actor) -> dict[int, list[OpenCase]]:
    """Open cases of a process by the version they run on (for the versions page)."""
    _require_designer(actor, "see process versions")
    with ctx.uow.read() as tx:
        found: dict[int, list[OpenCase]] = {}
        for case in tx.cases.open_on_process(key):
            number = case.process_version.version
            found.setdefault(number, []).append(OpenCase(case.id, case.number, case.title, case.status, number,
                                                         case.owner))
        return found
