"""What goes over the wire: request bodies are validated here, responses dumped from read models."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate


class TaskSchema(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    case_number = fields.String()
    case_title = fields.String()
    name = fields.String()
    task_key = fields.String()
    lane = fields.String(allow_none=True)
    candidate_group = fields.String(allow_none=True)
    assignee = fields.String(allow_none=True)
    form_key = fields.String(allow_none=True)
    stage = fields.Integer(allow_none=True)
    due_at = fields.AwareDateTime(allow_none=True)
    state = fields.String()
    created_at = fields.AwareDateTime()


class CaseSchema(ma.Schema):
    id = fields.Integer()
    number = fields.String()
    title = fields.String()
    process_key = fields.String()
    process_version = fields.Integer()
    status = fields.String()
    stage = fields.Integer(allow_none=True)
    owner = fields.String()
    version = fields.Integer(metadata={"description": "send it back as `version` to detect concurrent edits"})
    incident = fields.String(allow_none=True)
    next_timer_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    open_tasks = fields.List(fields.Nested(TaskSchema))


class EventSchema(ma.Schema):
    at = fields.AwareDateTime()
    actor = fields.String()
    kind = fields.String()
    task_key = fields.String(allow_none=True)
    task_name = fields.String(allow_none=True)
    data = fields.Dict()


class CaseDetailSchema(ma.Schema):
    case = fields.Nested(CaseSchema)
    data = fields.Dict()
    history = fields.List(fields.Nested(EventSchema))


class StartCaseSchema(ma.Schema):
    process = fields.String(required=True, validate=validate.Length(min=1, max=100))
    data = fields.Dict(load_default=dict)
    title = fields.String(load_default=None, validate=validate.Length(max=300))


class CompleteTaskSchema(ma.Schema):
    data = fields.Dict(required=True)
    version = fields.Integer(load_default=None, strict=True,
                             metadata={"description": "the case version you saw; 409 if it changed"})


class AssignSchema(ma.Schema):
    to = fields.String(required=True, validate=validate.Length(min=1, max=200))
    rescope = fields.Boolean(load_default=False,
                             metadata={"description": "assign outside the task's candidate group, on purpose"})


class DelegateSchema(ma.Schema):
    to = fields.String(required=True, validate=validate.Length(min=1, max=200))


class TaskListQuery(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    case = fields.String(load_default=None, metadata={"description": "only this case's tasks (id or number)"})
    everyone = fields.Boolean(load_default=False,
                              metadata={"description": "every open task (innovation leads, administrators)"})
    show = fields.String(load_default="all", validate=validate.OneOf(["all", "mine", "group"]),
                         metadata={"description": "mine: assigned to you; group: your groups' unclaimed tasks"})


class DeployOutcomeSchema(ma.Schema):
    key = fields.String()
    name = fields.String()
    version = fields.Integer()
    created = fields.Boolean()
    warnings = fields.List(fields.String(), metadata={"description": "groups the models route to that nobody is in"})


class SessionSchema(ma.Schema):
    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.String())
    groups = fields.List(fields.String())
    csrf_token = fields.String(metadata={"description": "send as the X-CSRFToken header with cookie sessions"})


# ---------------------------------------------------------------- errors


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details; `errors` maps a field to its messages (422)."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


# ---------------------------------------------------------------- headers


class IdempotencyHeaders(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    idempotency_key = fields.String(
        data_key="Idempotency-Key", load_default=None, validate=validate.Length(min=1, max=200),
        metadata={"description": "any unique string (a UUID); a retry with the same key and body replays "
                                 "the first response with `Idempotent-Replayed: true`; kept 24 hours"})


class CompleteHeaders(IdempotencyHeaders):
    if_match = fields.String(
        data_key="If-Match", load_default=None, validate=validate.Length(min=1, max=100),
        metadata={"description": "the ETag of GET /cases/{ref} or GET /tasks/{id}; 409 if the case changed since"})


# ---------------------------------------------------------------- cases


class CaseListQuery(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    status = fields.String(load_default=None, validate=validate.OneOf(
        ["running", "suspended", "incident", "completed", "terminated"]))
    stage = fields.Integer(load_default=None, validate=validate.Range(min=0, max=1000))
    process = fields.String(load_default=None, validate=validate.Length(min=1, max=100),
                            metadata={"description": "process key"})
    owner = fields.String(load_default=None, validate=validate.Length(min=1, max=200),
                          metadata={"description": "someone else's cases: innovation leads and administrators only"})
    q = fields.String(load_default=None, validate=validate.Length(max=100),
                      metadata={"description": "words in the title or the case number"})
    updated_since = fields.AwareDateTime(load_default=None,
                                         metadata={"description": "changed at or after (ISO 8601 with zone)"})
    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=200),
                           metadata={"description": "`next_cursor` of the previous page"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class CasePageSchema(ma.Schema):
    items = fields.List(fields.Nested(CaseSchema))
    next_cursor = fields.String(allow_none=True, metadata={"description": "null on the last page"})


class GateDecisionSchema(ma.Schema):
    task_id = fields.Integer(allow_none=True)
    task_key = fields.String(allow_none=True)
    task_name = fields.String(allow_none=True)
    stage = fields.Integer(allow_none=True)
    outcome = fields.String(metadata={"description": "e.g. approved, approved_with_conditions, rejected, on_hold"})
    reason = fields.String(allow_none=True)
    decided_by = fields.String()
    decided_at = fields.AwareDateTime()
    data = fields.Dict(metadata={"description": "everything the decider submitted"})


class CommentSchema(ma.Schema):
    id = fields.Integer()
    author = fields.String()
    body = fields.String()
    created_at = fields.AwareDateTime()


class NewCommentSchema(ma.Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class AttachmentSchema(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    uploaded_by = fields.String()
    created_at = fields.AwareDateTime()


class UploadSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    file = Upload(required=True, metadata={"description": "pdf, docx, xlsx, pptx, odt, ods, png, jpg, txt or csv"})


# ---------------------------------------------------------------- tasks


class TaskDetailSchema(ma.Schema):
    task = fields.Nested(TaskSchema)
    case = fields.Nested(CaseSchema)
    case_version = fields.Integer(metadata={"description": "send as If-Match (or `version`) when completing"})
    form_schema = fields.Dict(allow_none=True, metadata={"description": "JSON Schema the data must meet"})
    ui_schema = fields.Dict(allow_none=True, metadata={"description": "field order, widgets, help texts"})
    data = fields.Dict(metadata={"description": "the case data the form shows (open tasks only)"})
    may_work = fields.Boolean(metadata={"description": "whether you may complete it now"})
    closed_by = fields.String(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)


# ---------------------------------------------------------------- processes


class ProcessSchema(ma.Schema):
    key = fields.String()
    name = fields.String()
    version = fields.Integer()
    deployed_at = fields.AwareDateTime()
    deployed_by = fields.String()
    form_keys = fields.List(fields.String())


class VersionSchema(ma.Schema):
    key = fields.String()
    version = fields.Integer()
    name = fields.String()
    deployed_by = fields.String()
    deployed_at = fields.AwareDateTime()
    running_cases = fields.Integer()


class DiffQuery(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    from_ = fields.Integer(data_key="from", required=True, validate=validate.Range(min=1, max=10**6))
    to = fields.Integer(required=True, validate=validate.Range(min=1, max=10**6))


class ChangeSchema(ma.Schema):
    element_id = fields.String()
    kind = fields.String()
    name = fields.String()
    change = fields.String(metadata={"description": "added, removed or changed"})


# ---------------------------------------------------------------- notifications


class NotificationSchema(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer(allow_none=True)
    template = fields.String()
    subject = fields.String()
    body = fields.String()
    link = fields.String()
    created_at = fields.AwareDateTime()
    read_at = fields.AwareDateTime(allow_none=True)


class NotificationQuery(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    unread = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class MarkReadSchema(ma.Schema):
    ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=2**63 - 1)),
                      load_default=None, allow_none=True,
                      validate=validate.Length(max=1000),
                      metadata={"description": "which to mark read; leave out for all of yours"})


class MarkedSchema(ma.Schema):
    marked = fields.Integer()


# ---------------------------------------------------------------- administration


class JobSchema(ma.Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.String()
    case_id = fields.Integer(allow_none=True)
    recipient = fields.String(allow_none=True)
    to = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    due_at = fields.AwareDateTime()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


class IncidentsSchema(ma.Schema):
    cases = fields.List(fields.Nested(CaseSchema), metadata={"description": "cases stopped by a failed step"})
    jobs = fields.List(fields.Nested(JobSchema), metadata={"description": "jobs that failed all their attempts"})


class SuspendSchema(ma.Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class TerminateSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    lessons_worked = fields.String(load_default=None, validate=validate.Length(max=8000),
                                   metadata={"description": "the lesson of the stop: what worked"})
    lessons_not_worked = fields.String(load_default=None, validate=validate.Length(max=8000),
                                       metadata={"description": "what did not work"})
    lessons_learned = fields.String(load_default=None, validate=validate.Length(max=8000),
                                    metadata={"description": "what others can reuse"})
