"""The Agenda 2030 goals, as the forms list them: one list for the need form and the public showcase.

The need form (forms/need.schema.json, field `agenda2030_goals`) holds the goals' numbers
and Swedish names; forms/translations/en.json holds the English. The showcase reads the
same two files, so a case's goals and the public filter can never name goals differently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FIELD = "agenda2030_goals"
SHIPPED_FORMS = Path(__file__).resolve().parents[2] / "forms"


@dataclass(frozen=True)
class Goal:
    number: int
    sv: str
    en: str

    def name(self, lang: str) -> str:
        return self.en if lang == "en" else self.sv


@lru_cache(maxsize=4)
def _read(forms_dir: str) -> tuple[Goal, ...]:
    folder = Path(forms_dir)
    if not (folder / "need.schema.json").is_file():
        folder = SHIPPED_FORMS
    schema = json.loads((folder / "need.schema.json").read_text(encoding="utf-8"))
    options = schema["properties"][FIELD]["items"]["oneOf"]
    try:
        english = json.loads((folder / "translations" / "en.json").read_text(encoding="utf-8"))
        names = english["need"]["fields"][FIELD].get("enum", {})
    except (OSError, ValueError, KeyError):
        names = {}
    return tuple(Goal(int(o["const"]), str(o["title"]), str(names.get(str(o["const"]), o["title"])))
                 for o in options)


def agenda_goals(forms_dir: Path | str) -> tuple[Goal, ...]:
    """The goals in the order the form lists them."""
    return _read(str(forms_dir))


def goal_numbers(forms_dir: Path | str) -> frozenset[int]:
    return frozenset(g.number for g in agenda_goals(forms_dir))
