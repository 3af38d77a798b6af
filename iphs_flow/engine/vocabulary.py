"""The words of the casework: stages, statuses, gate outcomes, history events (issue 16, issue 12 point 4).

The one place these names live: templates and pages ask here, never spell them
themselves. Texts are Swedish message ids; the web translates them with gettext
(English in translations/en). Designers change the processes in bpmn/ and forms/;
a form's own outcome titles (`oneOf` titles of its `decision` field) are the model's
words and win over these, which are the defaults for the shipped outcomes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

STAGES: dict[int, str] = {
    0: "Behov inlämnat", 1: "Förstå behovet", 2: "Idé & koncept", 3: "Test & pilot",
    4: "Utvärdering", 5: "Implementering & spridning", 6: "Avslutat",
}

STATUSES: dict[str, str] = {
    "running": "Pågår", "completed": "Avslutat", "incident": "Fel – väntar på åtgärd",
    "cancelled": "Avbrutet", "on_hold": "Vilande", "suspended": "Pausat", "terminated": "Avslutat i förtid",
}

OUTCOMES: dict[str, str] = {
    "approved": "Godkänd", "approved_with_conditions": "Godkänd med villkor", "rejected": "Avslag",
    "on_hold": "Vilande", "recycle": "Åter till tidigare steg", "more_info": "Begär komplettering",
    "referred": "Hänvisa", "realised": "Realiserad", "not_realised": "Inte realiserad",
    "keep_following": "Fortsatt uppföljning", "do_it": "Genomför", "not_now": "Inte nu",
    "refer_to_innovation": "Hänvisa till innovationsprocessen", "keep_going": "Fortsätt", "put_on_hold": "Vilande",
}

HOLD_OUTCOMES = frozenset({"on_hold", "put_on_hold"})

EVENTS: dict[str, str] = {
    "marked_duplicate": "Markerat som dubblett", "duplicate_linked": "Dubblett kopplad till ärendet",
    "task_rerouted": "Uppgift till innovationsledarna (gruppen saknar aktiva medlemmar)",
    "task_unstaffed": "Uppgift utan mottagare (ingen aktiv i gruppen eller bland innovationsledarna)",
    "archived": "Levererat till e-arkivet", "personal_data_erased": "Personuppgifter raderade",
    "case_started": "Ärendet startades", "task_completed": "Uppgift klar", "task_cancelled": "Uppgift avbruten",
    "timer_fired": "Tidsfrist", "step": "Steg", "step_cancelled": "Steg avbrutet",
    "step_failed": "Steg misslyckades", "task_claimed": "Uppgift tagen", "task_unclaimed": "Uppgift återlämnad",
    "task_assigned": "Uppgift tilldelad", "task_delegated": "Uppgift delegerad",
    "incident_retried": "Nytt försök efter fel", "attachment_added": "Fil bifogad",
    "case_suspended": "Ärendet pausades", "case_resumed": "Ärendet återupptogs",
    "case_terminated": "Ärendet avslutades i förtid", "incident": "Fel i ett steg",
    "case_migrated": "Ärendet flyttat till ny version", "task_opened": "Uppgift öppnad",
    "notification": "Avisering", "case_closed": "Ärendet avslutades",
    "stage_entered": "Nytt steg", "followers_updated": "Uppdatering till följarna",
}

# The public showcase (issue 18): what its lead did with a case's public page.
EVENTS.update({
    "publication_draft_saved": "Text för webbplatsen sparad som utkast",
    "publication_published": "Publicerat på webbplatsen",
    "publication_updated": "Publicerad text ändrad", "publication_unpublished": "Avpublicerat från webbplatsen",
})

# What kind of BPMN element a history row is about, in words, when the element has no name
# of its own (SpiffWorkflow falls back to the id, e.g. "G1_remind_day5").
ELEMENT_KINDS: dict[str, str] = {
    "BoundaryEvent": "en påminnelse eller tidsfrist", "TimerEventDefinition": "en tidsfrist",
    "IntermediateCatchEvent": "en väntan", "ServiceTask": "ett automatiskt steg", "ScriptTask": "ett automatiskt steg",
    "ExclusiveGateway": "ett vägval", "ParallelGateway": "en förgrening", "InclusiveGateway": "ett vägval",
    "EventBasedGateway": "ett vägval", "EndEvent": "ett slut", "StartEvent": "en start",
    "UserTask": "en uppgift", "ManualTask": "en uppgift", "SubWorkflowTask": "ett delflöde",
    "CallActivity": "ett delflöde", "BusinessRuleTask": "ett regelsteg", "NoneTask": "ett steg",
}

# What a notice (a mail and its in-app message) was about, by its template.
NOTICES: dict[str, str] = {
    "receipt": "kvitto till idéägaren", "decision": "beslutet meddelat", "reminder": "påminnelse",
    "escalation": "eskalering till chefen", "inactivity": "påminnelse om inaktivitet",
    "resume": "ärendet återupptas", "pilot_ending": "piloten slutar snart", "condition": "villkor att uppfylla",
    "more_info": "begäran om komplettering", "new_task": "ny uppgift",
}

# History rows about engine steps nobody needs to read to follow their case.
ENGINE_STEPS = frozenset({"step", "step_cancelled"})

# Outcomes that end a case, with the status words its owner reads.
CLOSING_WORDS: dict[str, str] = {
    "rejected": "Avslag", "referred": "Hänvisad", "not_realised": "Avslutat – inte realiserat",
    "realised": "Genomförd", "not_now": "Avslag – inte nu", "refer_to_innovation": "Hänvisad till innovationsprocessen",
    "do_it": "Genomförd",
}

# Form keys whose open task means the case waits for its owner's supplement or condition.
SUPPLEMENT_FORMS = frozenset({"supplement"})
CONDITION_FORMS = frozenset({"condition"})


def stage_word(stage: int | None) -> str | None:
    return STAGES.get(stage) if stage is not None else None


def gate_outcome(data: Mapping[str, Any]) -> str | None:
    """A gate form records its outcome as `decision` (the shipped gates) or as a yes/no `approved`."""
    decision = data.get("decision")
    if isinstance(decision, str) and decision:
        return decision
    approved = data.get("approved")
    if isinstance(approved, bool):
        return "approved" if approved else "rejected"
    return None


def is_gate_form(schema: Mapping[str, Any] | None) -> bool:
    """A gate's form asks for an outcome: a `decision` (or yes/no `approved`) field."""
    properties = (schema or {}).get("properties") or {}
    return "decision" in properties or ("approved" in properties and properties["approved"].get("type") == "boolean")


@dataclass(frozen=True)
class StatusWords:
    """The plain words for where a case stands: a Swedish message id and its parameters."""

    code: str  # e.g. rejected, referred, implemented, on_hold, awaiting_supplement, running
    text: str  # Swedish, with %(date)s where a date belongs
    date: str | None = None  # ISO date for "Vilande till %(date)s"


def plain_status(status: str, last_outcome: str | None = None, resume_date: str | None = None,
                 open_forms: Iterable[str | None] = (), has_open_tasks: bool | None = None) -> StatusWords:
    """Status words derived from the last gate outcome and what the case waits for.

    `open_forms` are the form keys of the case's open tasks; `has_open_tasks` defaults to
    whether there are any.
    """
    forms = [f for f in open_forms]
    waiting = bool(forms) if has_open_tasks is None else has_open_tasks
    if status == "completed":
        if last_outcome in CLOSING_WORDS:
            return StatusWords(last_outcome, CLOSING_WORDS[last_outcome])
        return StatusWords("completed", "Genomförd" if last_outcome else "Avslutat")
    if status != "running":
        return StatusWords(status, STATUSES.get(status, status))
    if any(f in SUPPLEMENT_FORMS for f in forms):
        return StatusWords("awaiting_supplement", "Väntar på komplettering")
    if any(f in CONDITION_FORMS for f in forms):
        return StatusWords("awaiting_conditions", "Väntar på att villkor uppfylls")
    if last_outcome in HOLD_OUTCOMES and not waiting:
        if resume_date:
            return StatusWords("on_hold", "Vilande till %(date)s", resume_date)
        return StatusWords("on_hold", "Vilande")
    if last_outcome == "recycle" and waiting:
        return StatusWords("recycled", "Åter till tidigare steg")
    return StatusWords("running", STATUSES["running"])
