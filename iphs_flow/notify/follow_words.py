"""Stage and outcome words for followers' mails and the monthly digest, in the reader's language.

The Swedish words are the casework vocabulary's (engine/vocabulary.py), so a follower
reads the same words as the case page; the English ones are the web's translations of
those words (kept here because mail is rendered without Flask-Babel).
"""

from __future__ import annotations

from typing import Any

from iphs_flow.engine.vocabulary import OUTCOMES, STAGES

from .render import language_of

STAGES_EN: dict[int, str] = {
    0: "Need submitted", 1: "Understand the need", 2: "Idea & concept", 3: "Test & pilot",
    4: "Evaluation", 5: "Implementation & scaling", 6: "Closed",
}

OUTCOMES_EN: dict[str, str] = {
    "approved": "Approved", "approved_with_conditions": "Approved with conditions", "rejected": "Rejected",
    "on_hold": "On hold", "recycle": "Back to an earlier stage", "more_info": "More information requested",
    "referred": "Referred", "realised": "Realised", "not_realised": "Not realised",
    "keep_following": "Keep following", "do_it": "Do it", "not_now": "Not now",
    "refer_to_innovation": "Refer to the innovation process", "keep_going": "Keep going", "put_on_hold": "On hold",
}


def stage_label(stage: Any, language: str) -> str:
    """The stage's name ("Förstå behovet"), or its number when the process has stages of its own."""
    if not isinstance(stage, int):
        return "–"
    table = STAGES_EN if language_of(language) == "en" else STAGES
    return table.get(stage, str(stage))


def outcome_label(outcome: Any, language: str) -> str:
    text = str(outcome or "")
    table = OUTCOMES_EN if language_of(language) == "en" else OUTCOMES
    return table.get(text, text)
