"""What goes over the wire: request bodies are validated here, responses dumped from read models."""

from __future__ import annotations

import marshmallow as ma
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
    case = fields.String(load_default=None)
    everyone = fields.Boolean(load_default=False)


class DeployOutcomeSchema(ma.Schema):
    key = fields.String()
    name = fields.String()
    version = fields.Integer()
    created = fields.Boolean()


class SessionSchema(ma.Schema):
    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.String())
    groups = fields.List(fields.String())
    csrf_token = fields.String(metadata={"description": "send as the X-CSRFToken header with cookie sessions"})
