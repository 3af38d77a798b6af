"""Start cases, complete their tasks, read them."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import FormatChecker
from sqlalchemy.orm.exc import StaleDataError

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.calendar import format_swedish
from iphs_flow.engine.clock import now
from iphs_flow.engine.errors import ScriptError, TaskNotReady
from iphs_flow.engine.numbers import coerce_numbers
from iphs_flow.store.tables import Case, HumanTask

from . import json_safety
from .case_sync import ENGINE, STEP_ATTEMPTS, apply_step, case_view, engine_ref, group_to_staff, version_forms
from .errors import Conflict, InvalidInput, NotFound
from .form_patterns import FormValidator
from .idempotency import IdempotentRequest
from .idempotency import claim as idempotency_claim
from .idempotency import settle as idempotency_settle
from .people_fields import check_people
from .permissions import ADMINISTRATOR, IDEA_OWNER, Actor, require_role, require_task_access
from .read_log import record_read
from .records import record_completion
from .registration import withheld_from
from .search_index import index_new_case
from .search_index import refresh_after_completion as refresh_search_after
from .task_notices import FALLBACK_GROUP
from .views import CaseDetail, CaseView, EventView
from .visibility import find_case, visible_case, visible_task, visible_task_for_step

MAX_DATA_BYTES = 256 * 1024


def _require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInput("the data must be a JSON object, like {\"field\": \"value\"}",
                           {"data": ["must be a JSON object"]})
    json_safety.check(data, "data")
    size = len(json.dumps(data, ensure_ascii=False, default=str).encode())
    if size > MAX_DATA_BYTES:
        raise InvalidInput(f"the data is {size} bytes; at most {MAX_DATA_BYTES} are accepted",
                           {"data": ["too large"]})
    return data


def validate_form(form: dict[str, Any] | None, data: dict[str, Any]) -> None:
    """Check `data` against the task's JSON Schema; raise InvalidInput with messages per field."""
    if not form:
        return
    validator = FormValidator(form["schema"], format_checker=FormatChecker())
    fields: dict[str, list[str]] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path = f"{path}/{missing}".strip("/")
        fields.setdefault(path or "(form)", []).append(error.message)
    if fields:
        raise InvalidInput("some fields need attention", fields)


def case_number(fmt: str, year: int, seq: int) -> str:
    """The case's number as the city writes it (settings: case_number_format), for every way a case starts."""
    return fmt.format(year=year, seq=seq)


def start_case(ctx: AppContext, process_key: str, data: Any, actor: Actor,
               title: str | None = None, idempotency: IdempotentRequest | None = None) -> CaseView:
    """Start a case of the newest version of `process_key` with the need's data.

    With `idempotency`, the client's key and the response are recorded in this same
    transaction (KeyInUse if a concurrent request holds the key), so a retry never starts
    a second case.
    """
    require_role(actor, IDEA_OWNER, "start a case")
    data = _require_object(data)
    if title is not None:
        json_safety.check(title, "title")
    # The engine step runs in a worker outside the write transaction: on SQLite a write
    # transaction locks the whole database, and a step may take up to its wall-clock limit.
    # The read needs no snapshot: it is of one version, which never changes once deployed.
    with ctx.uow.read(snapshot=False) as tx:
        found = tx.processes.latest_for_start(process_key)
        if found is None:
            raise NotFound(f"no process '{process_key}' is deployed")
        version, files_length = found
        ref, process_name = engine_ref(version, files_length), version.name
        tx.session.expunge(version)  # it goes on, as read, to the write below (a version never changes)
    try:
        result = ctx.engine.start(ref, data, ctx.settings.script_time_limit)
    except ScriptError as err:
        raise InvalidInput(str(err), {"data": [str(err)]}) from None
    with ctx.uow.write() as tx:
        key_row = idempotency_claim(tx, idempotency) if idempotency else None
        tx.session.add(version)
        at = now()
        year = at.year
        seq = tx.cases.next_number(ctx.settings.case_number_format, year)
        case_title = (title or str(data.get("title") or "") or process_name).strip()[:300]
        # The row goes in with what the step made of it (apply_step then finds nothing to UPDATE,
        # but the stage: its change is history of its own).
        stepped = {} if result.unchanged else {
            "state": result.state_json(), "status": result.status, "incident": result.incident,
            "next_timer_at": result.next_timer_at}
        case = tx.cases.add(Case(**{
            "number": case_number(ctx.settings.case_number_format, year, seq), "title": case_title,
            "process_version_id": version.id, "process_version": version, "process_key": process_key,
            "status": "running", "owner": actor.username, "state": "{}", "stage": None, "created_at": at,
            "updated_at": at, **stepped}))
        tx.events.add(case.id, actor.username, "case_started",
                      data={"process": process_key, "version": version.version, "data": data})
        # A new case has no open tasks, waits nor documents yet: nothing to read back.
        open_rows = apply_step(tx, case, result, ctx.settings.lane_groups, actor.username,
                               open_before=[], waits=False, at=at)
        index_new_case(tx, case.id, case.title, data)  # flushes
        view = case_view(case, open_rows)
        if key_row is not None and idempotency is not None:
            idempotency_settle(key_row, idempotency, view)
        tx.commit()
    return view


def complete_task(ctx: AppContext, task_id: int, data: Any, actor: Actor,
                  expected_version: int | None = None, idempotency: IdempotentRequest | None = None,
                  discard_draft: bool = False) -> CaseView:
    """Complete an open human task with form data.

    With `discard_draft` (the web form), the actor's saved draft of the task goes in the
    same transaction: it was what they just submitted.

    Exactly one of two concurrent completions wins: the loser gets Conflict, because the
    case row's version no longer matches (or, on SQLite, the task is no longer open).
    With `idempotency`, the key and the response are recorded in the same transaction.
    """
    data = _require_object(data)
    for _attempt in range(STEP_ATTEMPTS):
        # Read and check, run the step in a worker with no transaction open, then store it if
        # the case is still as it was read (else read and run again). The write does not read
        # the rows again: it takes them as read, and two compare-and-sets decide whether they
        # are still so - the task's (still open, held by the same person or group) and the
        # case row's version (CaseRepository.save: UPDATE ... WHERE version = the one read). So the
        # read needs no snapshot of its own: the task, its case and their open tasks come in one
        # statement, and the forms and people it checks against are as good a moment later.
        with ctx.uow.read(snapshot=False) as tx:
            found = visible_task_for_step(tx, task_id, actor)
            row, case = found.task, found.case
            if row.state == "open":
                require_task_access(actor, row.assignee, row.candidate_group)
            _check_open(row, case, expected_version)
            forms = version_forms(tx, case.process_version, found.forms_length) if row.form_key else {}
            form = forms.get(row.form_key) if row.form_key else None
            if form:
                data = coerce_numbers(form["schema"], data)  # "250 000" and "1,5" where a number is asked
            validate_form(form, data)
            check_people(tx, form, data)
            state = case.state  # the stored JSON text goes to the engine as it is (runtime.State)
            ref = engine_ref(case.process_version, found.files_length)
            tx.session.expunge_all()  # the rows go on, as read, to the write below
        try:
            result = ctx.engine.complete(ref, state, row.spiff_task_id, data, ctx.settings.script_time_limit,
                                         clear=_fields_left_empty(form, data))
        except TaskNotReady as err:
            raise Conflict(f"the task can no longer be completed: {err}") from None
        with ctx.uow.write() as tx:
            key_row = idempotency_claim(tx, idempotency) if idempotency else None
            # The case row is written by tx.cases.save (one compare-and-set UPDATE), so the case stays
            # out of the session: the ORM has nothing of it to track or to flush.
            tx.session.add_all([row, *found.open_tasks])
            # A step that did not run (its worker went over a limit) leaves the task open.
            closing = not result.unchanged and row.spiff_task_id not in {t.id for t in result.open_tasks}
            open_before = [r for r in found.open_tasks if not (closing and r.id == row.id)]
            group = group_to_staff(case, result, open_before, ctx.settings.lane_groups)
            taken = tx.tasks.take_for_completion(row, actor.username, now(), closing,
                                                 draft_of=actor.username if discard_draft else None,
                                                 staffing=(group, FALLBACK_GROUP) if group else None)
            if taken is None:  # completed, cancelled, claimed or handed on meanwhile: read again
                tx.session.rollback()
                continue
            tx.know(case.id, **taken.case_facts)
            tx.know_staffed(taken.staffed)
            title_before = case.title
            try:
                with tx.session.no_autoflush:
                    if not result.unchanged:
                        record_completion(tx, case, row, form, result.completed_data, actor.username,
                                          history={"task_id": row.id, "data": result.completed_data})
                        new_title = data.get("title")
                        if isinstance(new_title, str) and new_title.strip():
                            case.title = new_title.strip()[:300]  # the need form names the case
                    open_rows = apply_step(tx, case, result, ctx.settings.lane_groups, actor.username,
                                           open_before=open_before, waits=found.waits)
                tx.cases.save(case)  # one UPDATE, if the case still has the version read (else StaleDataError)
                tx.session.flush()  # the history rows of the step wait for the commit: one INSERT
            except StaleDataError:  # the case was saved by someone else since it was read
                tx.session.rollback()
                continue
            if not result.unchanged:
                refresh_search_after(tx, case, result.completed_data, title_before)
            view = case_view(case, open_rows)
            if taken.has_draft:
                tx.drafts.delete(task_id, actor.username)
            if key_row is not None and idempotency is not None:
                idempotency_settle(key_row, idempotency, view)
            tx.commit()
        return view
    raise Conflict("the case was changed by someone else at the same time; reload and try again")


def _fields_left_empty(form: dict[str, Any] | None, data: dict[str, Any]) -> frozenset[str]:
    """Editable form fields not in the submission (read-only ones only show task data)."""
    if not form:
        return frozenset()
    properties = form["schema"].get("properties", {})
    return frozenset(name for name, spec in properties.items()
                     if name not in data and not (isinstance(spec, dict) and spec.get("readOnly")))


def _check_open(row: HumanTask, case: Case, expected_version: int | None) -> None:
    if row.state != "open":
        who = f" by {row.closed_by}" if row.closed_by else ""
        when = f" at {format_swedish(row.closed_at)}" if row.closed_at else ""
        word = "completed" if row.state == "completed" else "cancelled"
        raise Conflict(f"the task '{row.name}' was already {word}{who}{when}")
    if expected_version is not None and case.version != expected_version:
        raise Conflict(f"the case has changed since you loaded it (version {expected_version}, "
                       f"now {case.version}); reload and try again")
    if case.status != "running":
        raise Conflict(f"the case is {case.status}; its tasks cannot be completed now")


def retry_incident(ctx: AppContext, case_ref: str | int, actor: Actor) -> CaseView:
    """Run a case's failed step again, after the cause has been fixed."""
    require_role(actor, ADMINISTRATOR, "retry incidents")
    with ctx.uow.read() as tx:
        case = find_case(tx, case_ref)
        if case.status != "incident":
            raise Conflict(f"case {case.number} has no incident")
        case_id, seen_version = case.id, case.version
        ref, state = engine_ref(case.process_version), case.state
    result = ctx.engine.retry(ref, state, ctx.settings.script_time_limit)
    with ctx.uow.write() as tx:
        case = find_case(tx, case_id)
        if case.version != seen_version or case.status != "incident":
            raise Conflict("the case was changed at the same time; try again")
        tx.events.add(case.id, actor.username, "incident_retried", data={"previous": case.incident})
        open_rows = apply_step(tx, case, result, ctx.settings.lane_groups, actor.username)
        tx.flush()
        view = case_view(case, open_rows)
        tx.commit()
    return view


def get_case(ctx: AppContext, case_ref: str | int, actor: Actor) -> CaseDetail:
    """A case with its current data and full history, for those who may see it."""
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        data = ctx.engine.inspect(engine_ref(case.process_version), case.state).data \
            if case.state != "{}" else {}

        withheld = withheld_from(tx, actor, case)
        data = withheld.redact(data)
        history = [EventView(e.at, e.actor, e.kind, e.task_key, e.task_name,
                             withheld.redact_event(e.kind, e.data, e.actor))
                   for e in tx.events.for_case(case.id)]
        detail = CaseDetail(case=case_view(case, list(tx.tasks.open_for_case(case.id))), data=data,
                            history=history)
    record_read(ctx, detail.case.id, actor, "case")
    return detail


__all__ = ["start_case", "complete_task", "retry_incident", "get_case", "validate_form", "find_case",
           "visible_case", "visible_task", "ENGINE"]
