"""A stage's name as the pages show it, in the reader's language.

The stages themselves come from the domain (engine/vocabulary.py); this is the one place
the web turns a stage number into words, so the case pages, search, lessons and the
administrators' pages name a stage alike without importing each other's modules.
"""
from __future__ import annotations

from flask_babel import gettext as _

from iphs_flow.engine.vocabulary import STAGES


def stage_name(stage: int | None) -> str:
    return _(STAGES[stage]) if stage in STAGES else "–"
