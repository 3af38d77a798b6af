"""What a research export's files hold: the Frictionless Data Package descriptor (datapackage.json).

One table schema per CSV file, each column with its type, an English description and a
Swedish title, primary keys, and foreign keys from every file to `cases`. Researchers
read this before the data; `frictionless validate datapackage.json` checks the files
against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LICENSE = {"name": "CC-BY-4.0", "title": "Creative Commons Attribution 4.0",
           "path": "https://creativecommons.org/licenses/by/4.0/"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Table Schema types: integer, number, string, datetime, date
    title: str  # Swedish
    description: str  # English
    required: bool = False


@dataclass(frozen=True)
class TableFile:
    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    to_cases: bool = True  # case_id refers to cases.case_id

    @property
    def path(self) -> str:
        return f"{self.name}.csv"

    @property
    def header(self) -> list[str]:
        return [c.name for c in self.columns]


def _c(name: str, type_: str, title: str, description: str, required: bool = False) -> Column:
    return Column(name, type_, title, description, required)


CASE_ID = _c("case_id", "integer", "Ärende", "The case this row belongs to (cases.case_id).", True)
STAGE = _c("stage", "integer", "Steg", "Stage number: 0 need submitted, 1 understand, 2 idea and concept, "
           "3 test and pilot, 4 evaluation, 5 implementation and scaling, 6 closed.")
STAGE_NAME = _c("stage_name", "string", "Stegets namn", "The stage's name in Swedish.")
PERSON = "A pseudonym (P-xxxxxxxx), the same for one person throughout this export and unrelated to any other export."
TEXT = ("Free text from a field the form's designer marked shareable, with e-mail addresses, phone numbers, "
        "personnummer and people's names replaced by markers or pseudonyms.")

CASES = TableFile("cases", "Ärenden", "One row per case in the export.", (
    _c("case_id", "integer", "Ärende", "The case's identifier within the platform.", True),
    _c("process_key", "string", "Process", "The process the case follows (e.g. innovation, improvement).", True),
    _c("process_version", "integer", "Processversion", "The deployed version of that process the case runs on."),
    _c("status", "string", "Status", "running, completed, on_hold, suspended, terminated, incident ...", True),
    STAGE, STAGE_NAME,
    _c("started_at", "datetime", "Startat", "When the case was started (UTC).", True),
    _c("closed_at", "datetime", "Avslutat", "When the case was closed (UTC); empty while open."),
    _c("lead_time_days", "number", "Ledtid (dagar)", "Calendar days from start to close; empty while open."),
    _c("lead_time_working_days", "integer", "Ledtid (arbetsdagar)",
       "Swedish working days from start to close (weekends and public holidays skipped)."),
    _c("owner", "string", "Idéägare", PERSON),
    _c("title", "string", "Rubrik", "The case's title when its form marks the title shareable; " + TEXT),
), ("case_id",), to_cases=False)

STAGE_TRANSITIONS = TableFile("stage_transitions", "Stegövergångar",
                              "Each visit of a case to a stage, from the history of its tasks: when it was entered "
                              "and left. Computed from what was recorded, so the same whatever the process version.", (
    CASE_ID,
    _c("visit", "integer", "Besök", "The visit's order within the case (1, 2 ...); a recycled case revisits stages.",
       True),
    _c("stage", "integer", "Steg", STAGE.description, True), STAGE_NAME,
    _c("from_stage", "integer", "Från steg", "The stage the case came from; empty for its first stage."),
    _c("entered_at", "datetime", "In i steget", "When the case entered the stage (UTC).", True),
    _c("left_at", "datetime", "Ut ur steget", "When the case left the stage (UTC); empty while it is there."),
    _c("days", "number", "Dagar", "Calendar days in the stage; empty while it is there."),
    _c("working_days", "integer", "Arbetsdagar", "Swedish working days in the stage."),
), ("case_id", "visit"))

GATE_DECISIONS = TableFile("gate_decisions", "Grindbeslut", "Every decision at a gate, each round kept.", (
    _c("decision_id", "integer", "Beslut", "The decision's identifier.", True), CASE_ID,
    _c("gate", "string", "Grind", "The gate's identifier in the process model (e.g. G2_decide).", True),
    _c("gate_name", "string", "Grindens namn", "The gate's name in the process model (Swedish)."),
    STAGE,
    _c("round", "integer", "Omgång", "1 for the first decision at this gate in the case, 2 for the next ...", True),
    _c("outcome", "string", "Utfall", "approved, approved_with_conditions, rejected, on_hold, recycle, more_info, "
       "referred ...", True),
    _c("outcome_name", "string", "Utfallets namn", "The outcome in Swedish."),
    _c("reason", "string", "Motivering", "The decision's reason. " + TEXT),
    _c("conditions", "integer", "Villkor", "How many conditions the decision set."),
    _c("resume_date", "date", "Återupptas", "For a decision to put the case on hold: the date to resume."),
    _c("decider", "string", "Beslutsfattare", PERSON),
    _c("decided_at", "datetime", "Beslutat", "When the decision was taken (UTC).", True),
), ("decision_id",))

TASKS = TableFile("tasks", "Uppgifter", "Every human task of the cases, with its waiting time.", (
    _c("task_id", "integer", "Uppgift", "The task's identifier.", True), CASE_ID,
    _c("task_key", "string", "Uppgiftens id", "The task's identifier in the process model.", True),
    _c("task_name", "string", "Uppgiftens namn", "The task's name in the process model (Swedish)."),
    STAGE,
    _c("candidate_group", "string", "Grupp", "The group the task went to (a role in the organisation, not a person)."),
    _c("state", "string", "Tillstånd", "open, completed or cancelled.", True),
    _c("created_at", "datetime", "Öppnad", "When the task opened (UTC).", True),
    _c("taken_at", "datetime", "Tagen", "When someone first claimed it or it was assigned or delegated (UTC)."),
    _c("closed_at", "datetime", "Stängd", "When it was completed or cancelled (UTC)."),
    _c("due_at", "datetime", "Förfallodag", "Its due date (UTC), if it had one."),
    _c("waiting_days", "number", "Väntetid (dagar)",
       "Calendar days from opening until someone took it on (or, if nobody did, until it closed)."),
    _c("waiting_working_days", "integer", "Väntetid (arbetsdagar)", "The waiting time in Swedish working days."),
    _c("open_days", "number", "Öppen (dagar)", "Calendar days from opening to closing."),
    _c("assignee", "string", "Handläggare", PERSON),
    _c("closed_by", "string", "Stängd av", PERSON),
), ("task_id",))

LESSONS = TableFile("lessons", "Lärdomar", "Lessons learned recorded in the cases (evaluation and closure).", (
    _c("lesson_id", "string", "Lärdom", "The lesson's identifier within this export.", True), CASE_ID, STAGE,
    _c("source", "string", "Källa", "The form (or gate) that recorded it.", True),
    _c("field", "string", "Fält", "The form field that held it."),
    _c("recorded_at", "datetime", "Registrerad", "When it was recorded (UTC).", True),
    _c("author", "string", "Skrivet av", PERSON),
    _c("text", "string", "Text", TEXT, True),
), ("lesson_id",))

GOALS = TableFile("goals", "Mål", "The Agenda 2030 goals each case names (its latest record of them).", (
    CASE_ID,
    _c("goal", "integer", "Mål", "The number of the Agenda 2030 goal (1-17).", True),
    _c("goal_name", "string", "Målets namn", "The goal's name in Swedish."),
), ("case_id", "goal"))

STAGE_TEXTS = TableFile("stage_texts", "Stegtexter",
                        "The shareable free text of each stage record: need, concept, results ...", (
    _c("text_id", "string", "Text", "The text's identifier within this export.", True), CASE_ID, STAGE,
    _c("form", "string", "Formulär", "The form that recorded it.", True),
    _c("round", "integer", "Omgång", "1 for the form's first completion in the case, 2 for the next ..."),
    _c("field", "string", "Fält", "The form field (results[2].indicator for the second row's indicator).", True),
    _c("recorded_at", "datetime", "Registrerad", "When it was recorded (UTC).", True),
    _c("author", "string", "Skrivet av", PERSON),
    _c("text", "string", "Text", TEXT, True),
), ("text_id",))

FILES = (CASES, STAGE_TRANSITIONS, GATE_DECISIONS, TASKS, LESSONS, GOALS, STAGE_TEXTS)


def _schema(table: TableFile) -> dict[str, Any]:
    fields = []
    for column in table.columns:
        field: dict[str, Any] = {"name": column.name, "type": column.type, "title": column.title,
                                 "description": column.description}
        if column.type == "datetime":
            field["format"] = "%Y-%m-%dT%H:%M:%SZ"
        if column.required:
            field["constraints"] = {"required": True}
        fields.append(field)
    schema: dict[str, Any] = {"fields": fields, "primaryKey": list(table.primary_key), "missingValues": [""]}
    if table.to_cases:
        schema["foreignKeys"] = [{"fields": ["case_id"], "reference": {"resource": "cases", "fields": ["case_id"]}}]
    return schema


def descriptor(created: str, filter_text: str, filter_values: dict[str, Any]) -> dict[str, Any]:
    """The datapackage.json of one export: its files, their schemas, the licence and the filter."""
    return {
        "profile": "tabular-data-package",
        "name": "iphs-flow-research-export",
        "title": "IPHS Flow – forskningsexport / research export",
        "description": (
            "The innovation portfolio of the City of Stockholm's innovation platform (IPHS Flow) for the "
            f"accompanying research. Filter: {filter_text}. People are pseudonyms valid within this export only; "
            "free text comes only from fields marked shareable, without secret-marked fields, and with e-mail "
            "addresses, phone numbers, personnummer and names removed."),
        "created": created,
        "licenses": [LICENSE],
        "keywords": ["innovation", "public sector", "Stockholm", "case management"],
        "iphs_filter": filter_values,
        "resources": [{
            "name": table.name, "path": table.path, "title": table.title, "description": table.description,
            "profile": "tabular-data-resource", "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
            "dialect": {"delimiter": ",", "quoteChar": '"', "header": True},
            "schema": _schema(table),
        } for table in FILES],
    }
