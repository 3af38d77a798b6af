"""Process versions: who deployed what when, what changed, and moving cases between them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.errors import StepKilled
from iphs_flow.engine.migration import MigrationPreview, migrate_stored, preview
from iphs_flow.engine.model_diff import ElementChange, diff_models

from .case_sync import apply_step, case_view
from .errors import Conflict, InvalidInput, NotFound
from .permissions import ADMINISTRATOR, PROCESS_DESIGNER, Actor, require_role
from .processes import model_for
from .views import CaseView
from .visibility import find_case


@dataclass(frozen=True)
class VersionInfo:
    key: str
    version: int
    name: str
    deployed_by: str
    deployed_at: datetime
    running_cases: int


def _require_designer(actor: Actor, action: str) -> None:
    if not (actor.has(PROCESS_DESIGNER) or actor.has(ADMINISTRATOR)):
        require_role(actor, PROCESS_DESIGNER, action)


def list_versions(ctx: AppContext, key: str, actor: Actor) -> list[VersionInfo]:
    _require_designer(actor, "see process versions")
    with ctx.uow.read() as tx:
        versions = tx.processes.versions(key)
        if not versions:
            raise NotFound(f"no process '{key}' is deployed")
        running = tx.cases.running_per_version(key)
        return [VersionInfo(v.process_key, v.version, v.name, v.deployed_by, v.deployed_at, running.get(v.id, 0))
                for v in versions]


def diff_versions(ctx: AppContext, key: str, old: int, new: int, actor: Actor) -> list[ElementChange]:
    """Elements added, removed and changed between two versions, including their forms."""
    _require_designer(actor, "compare process versions")
    with ctx.uow.read() as tx:
        by_number = {v.version: v for v in tx.processes.versions(key)}
        missing = [n for n in (old, new) if n not in by_number]
        if missing:
            raise NotFound(f"process '{key}' has no version {missing[0]}")
        before, after = by_number[old], by_number[new]
        changes = diff_models(before.files, after.files)
        for form in sorted(set(before.forms) | set(after.forms)):
            if form not in before.forms:
                changes.append(ElementChange(form, "form", form, "added"))
            elif form not in after.forms:
                changes.append(ElementChange(form, "form", form, "removed"))
            elif json.dumps(before.forms[form], sort_keys=True) != json.dumps(after.forms[form], sort_keys=True):
                changes.append(ElementChange(form, "form", form, "changed"))
        return changes


def _target(tx, case, version: int | None):  # noqa: ANN001, ANN202
    versions = {v.version: v for v in tx.processes.versions(case.process_key)}
    number = version if version is not None else max(versions)
    if number not in versions:
        raise NotFound(f"process '{case.process_key}' has no version {number}")
    if number == case.process_version.version:
        raise InvalidInput(f"case {case.number} already runs version {number}", {"version": ["same version"]})
    return versions[number]


def preview_migration(ctx: AppContext, case_ref: str | int, actor: Actor,
                      version: int | None = None) -> MigrationPreview:
    """What moving a case to `version` (default: the newest) would change."""
    require_role(actor, ADMINISTRATOR, "migrate cases")
    with ctx.uow.read() as tx:
        case = find_case(tx, case_ref)
        target = _target(tx, case, version)
        return preview(model_for(ctx, case.process_version), model_for(ctx, target), json.loads(case.state))


def migrate_case(ctx: AppContext, case_ref: str | int, actor: Actor, version: int | None = None) -> CaseView:
    """Move a running case to another version; recorded in the case history."""
    require_role(actor, ADMINISTRATOR, "migrate cases")
    with ctx.uow.write() as tx:
        case = find_case(tx, case_ref)
        if case.status not in ("running", "suspended", "incident"):
            raise Conflict(f"case {case.number} is {case.status}; only open cases can be migrated")
        target = _target(tx, case, version)
        source_version = case.process_version.version
        current = (case.process_version.process_key, dict(case.process_version.files))
        try:  # the case runs on in its new version: an engine step, in a worker
            outcome, answer = ctx.engine.call(migrate_stored, current, (target.process_key, dict(target.files)),
                                              json.loads(case.state), ctx.settings.script_time_limit)
        except StepKilled as err:
            raise Conflict(f"case {case.number} cannot move to version {target.version}: {err}") from None
        if outcome == "refused":
            raise Conflict(f"case {case.number} cannot move to version {target.version}: {answer}")
        result, plan = answer
        status = case.status
        case.process_version_id = target.id
        case.process_version = target
        tx.events.add(case.id, actor.username, "case_migrated", data={
            "from": source_version, "to": target.version, "changed": plan.changed, "reset": plan.reset})
        apply_step(tx, case, result, ctx.settings.lane_groups, actor.username)
        if status == "suspended" and case.status == "running":
            case.status = "suspended"
        tx.flush()
        view = case_view(case, list(tx.tasks.open_for_case(case.id)))
        tx.commit()
    return view


@dataclass(frozen=True)
class ModelFile:
    name: str
    content: str


def version_model(ctx: AppContext, key: str, version: int, actor: Actor) -> ModelFile:
    """The BPMN file of one deployed version (process designers and administrators)."""
    if not (actor.has(PROCESS_DESIGNER) or actor.has(ADMINISTRATOR)):
        require_role(actor, PROCESS_DESIGNER, "export process models")
    with ctx.uow.read() as tx:
        row = next((v for v in tx.processes.versions(key) if v.version == version), None)
        if row is None:
            raise NotFound(f"process '{key}' has no version {version}")
        files = dict(row.files)
    bpmn = sorted(name for name in files if name.endswith(".bpmn"))
    defining = [name for name in bpmn if f'id="{key}"' in files[name]] or bpmn
    if not defining:
        raise NotFound(f"version {version} of '{key}' has no BPMN file")
    return ModelFile(defining[0], files[defining[0]])
