"""Which fields of a gate form belong to which outcome, read from the form itself (issue 16 point 2).

A gate's JSON Schema says it already: `allOf` holds `if decision is X then require Y`.
A field that some outcome's `then` names belongs to those outcomes; every other field
(the decision itself, a summary every outcome asks for) belongs to all. A UI schema may
name a field's outcomes where the schema cannot (`"ui:outcomes": ["more_info"]` for an
optional reply deadline).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OUTCOME_FIELD = "decision"


def _outcomes_of(condition: Any) -> list[str]:
    """The outcomes an `if` block matches: {"properties": {"decision": {"const"| "enum"}}}."""
    if not isinstance(condition, Mapping):
        return []
    spec = (condition.get("properties") or {}).get(OUTCOME_FIELD)
    if not isinstance(spec, Mapping):
        return []
    if "const" in spec and isinstance(spec["const"], str):
        return [spec["const"]]
    if isinstance(spec.get("enum"), list):
        return [v for v in spec["enum"] if isinstance(v, str)]
    return []


def outcome_fields(schema: Mapping[str, Any], ui: Mapping[str, Any] | None = None) -> dict[str, frozenset[str]]:
    """Field name → the outcomes it belongs to, for the fields that belong to some outcomes only."""
    found: dict[str, set[str]] = {}
    properties = schema.get("properties") or {}
    if OUTCOME_FIELD not in properties:
        return {}
    for block in schema.get("allOf") or []:
        if not isinstance(block, Mapping):
            continue
        outcomes = _outcomes_of(block.get("if"))
        then = block.get("then")
        if not outcomes or not isinstance(then, Mapping):
            continue
        names = set(then.get("required") or []) | set((then.get("properties") or {}).keys())
        for name in names - {OUTCOME_FIELD}:
            if name in properties:
                found.setdefault(name, set()).update(outcomes)
    for name, field_ui in (ui or {}).items():
        if name in properties and isinstance(field_ui, Mapping) and isinstance(field_ui.get("ui:outcomes"), list):
            found[name] = {v for v in field_ui["ui:outcomes"] if isinstance(v, str)}
    return {name: frozenset(outcomes) for name, outcomes in found.items()}


def fields_for_other_outcomes(schema: Mapping[str, Any], ui: Mapping[str, Any] | None,
                              outcome: str | None) -> frozenset[str]:
    """The fields that do not belong to `outcome` (all outcome-specific fields when none is chosen)."""
    return frozenset(name for name, outcomes in outcome_fields(schema, ui).items() if outcome not in outcomes)
