"""/api/v1/register: the register (diariet) and public-records requests; a case's registration and secrecy."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from iphs_flow.services import registration
from iphs_flow.services.queries import register

from .common import ID, ctx, make_blueprint, require_login_actor

bp = make_blueprint("api_register", "Registration: the register (diarium), secrecy markings, records requests")


class RegisterQuerySchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    number = fields.String(load_default="", validate=validate.Length(max=200),
                           metadata={"description": "part of a diarienummer"})
    date_from = fields.String(load_default="", data_key="from", validate=validate.Length(max=10),
                              metadata={"description": "registered on or after (2026-12-01)"})
    date_to = fields.String(load_default="", data_key="to", validate=validate.Length(max=10),
                            metadata={"description": "registered on or before (2026-12-31)"})
    classification = fields.String(load_default="", validate=validate.Length(max=200),
                                   metadata={"description": "a klassificeringsstruktur code (and its sub-codes)"})
    unit = fields.String(load_default="", validate=validate.Length(max=200))
    q = fields.String(load_default="", validate=validate.Length(max=200),
                      metadata={"description": "words of a description"})
    party = fields.String(load_default="", validate=validate.Length(max=200),
                          metadata={"description": "a sender or recipient of a registered document"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))


class RegistrationSchema(ma.Schema):
    case_id = fields.Integer()
    number = fields.String(metadata={"description": "the diarienummer"})
    registered_on = fields.Date()
    classification = fields.String(allow_none=True)
    classification_name = fields.String(allow_none=True)
    description = fields.String()
    unit = fields.String(allow_none=True)
    version = fields.Integer(metadata={"description": "send it back with a change (409 if it moved on)"})


class DocumentSchema(ma.Schema):
    full_number = fields.String(data_key="number")
    registered_at = fields.AwareDateTime()
    direction = fields.String()
    kind = fields.String()
    counterpart = fields.String(metadata={"description": "sender (incoming) or recipient (outgoing)"})
    description = fields.String()
    secret = fields.String(allow_none=True, metadata={"description": "the OSL provision, when marked secret"})


class RegisterRowSchema(ma.Schema):
    registration = fields.Nested(RegistrationSchema)
    documents = fields.List(fields.Nested(DocumentSchema))


class RegisterPageSchema(ma.Schema):
    total = fields.Integer()
    page = fields.Integer()
    pages = fields.Integer()
    rows = fields.List(fields.Nested(RegisterRowSchema))


class RegistrationChange(ma.Schema):
    version = fields.Integer(required=True, validate=validate.Range(min=0, max=2**31 - 1))
    classification = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    unit = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    registered_on = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=10),
                                  metadata={"description": "registrars only"})


class MarkingRequest(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(("field", "attachment")))
    target = fields.String(required=True, validate=validate.Length(min=1, max=200),
                           metadata={"description": "the field's key, or the attachment's id"})
    provision = fields.String(required=True, validate=validate.Length(min=1, max=100))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=registration.MAX_REASON))


class LiftRequest(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=registration.MAX_REASON))


class MarkingSchema(ma.Schema):
    id = fields.Integer()
    target_kind = fields.String()
    target = fields.String()
    label = fields.String()
    provision = fields.String()
    reason = fields.String(allow_none=True)
    marked_by = fields.String()
    marked_at = fields.AwareDateTime()


@bp.route("/register")
@bp.arguments(RegisterQuerySchema, location="query")
@bp.response(200, RegisterPageSchema)
def search_register(query: dict[str, Any]) -> Any:
    """The register's cases matching every filter, newest first, 25 a page (registrars and administrators)."""
    args = {"number": query["number"], "from": query["date_from"], "to": query["date_to"],
            "classification": query["classification"], "unit": query["unit"], "q": query["q"],
            "party": query["party"], "page": str(query["page"])}
    return register.search_register(ctx(), register.parse_query(args), require_login_actor())


@bp.route("/register/<path:case_ref>")
@bp.response(200)
def records_request(case_ref: str) -> Any:
    """A public-records request for one case: its documents, what is secret (and why), what may be released."""
    return register.records_request(ctx(), case_ref, require_login_actor()).as_json()


@bp.route("/cases/<path:case_ref>/registration")
@bp.response(200, RegistrationSchema)
def get_registration(case_ref: str) -> Any:
    """The case's registration data: diarienummer, date, classification, public description, unit."""
    return registration.get_registration(ctx(), case_ref, require_login_actor())


@bp.route("/cases/<path:case_ref>/registration", methods=["PUT"])
@bp.arguments(RegistrationChange)
@bp.response(200, RegistrationSchema)
def change_registration(body: dict[str, Any], case_ref: str) -> Any:
    """Change the registration data (innovation leads and registrars; the date only registrars). In the history."""
    return registration.update_registration(ctx(), case_ref, require_login_actor(), **body)


@bp.route("/cases/<path:case_ref>/secrecy", methods=["POST"])
@bp.arguments(MarkingRequest)
@bp.response(201, MarkingSchema)
def mark_secret(body: dict[str, Any], case_ref: str) -> Any:
    """Mark a field or attachment secret under an OSL provision (innovation leads and registrars); 409 if marked."""
    return registration.mark_secret(ctx(), case_ref, require_login_actor(), **body)


@bp.route(f"/cases/<path:case_ref>/secrecy/<{ID}:marking_id>/lift", methods=["POST"])
@bp.arguments(LiftRequest)
@bp.response(204)
def lift_secrecy(body: dict[str, Any], case_ref: str, marking_id: int) -> Any:
    """Lift a secrecy marking, with the reason; recorded in the case history."""
    registration.lift_secrecy(ctx(), case_ref, marking_id, require_login_actor(), reason=body["reason"])
    return None
