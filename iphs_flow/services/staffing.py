"""Which groups a model sends work to, and a deploy warning for each group nobody is in.

A lane maps to a group through IPHS_LANE_GROUPS; a user task may name its group in its
`candidateGroup` property, either as a literal ('unit-managers') or as a variable that a
decision table (DMN) sets, like `decider_group` in gate_routing.dmn. Every group reached
either way is checked against the people: one without an active member is a warning, not
a refusal (the people may be added after the deploy; until then such tasks go to the
innovation leads, see task_notices).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from lxml import etree

from iphs_flow.bootstrap import AppContext
from iphs_flow.config import OWNER
from iphs_flow.engine import model_checks
from iphs_flow.engine.model_checks import BPMN, NS, WARNING, Problem

EMPTY_GROUP = "empty_group"


@dataclass(frozen=True)
class GroupUse:
    """One place in a model that routes work to a group."""

    group: str
    file_name: str
    element_id: str | None
    line: int | None
    via: str  # "lane 'Beslutsfattare'", "decision table output decider_group", ...


def _literal(text: str | None) -> str | None:
    """The string a model expression spells out literally ('x' or "x"), else None."""
    try:
        value = ast.literal_eval((text or "").strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _candidate_expressions(root: etree._Element) -> list[tuple[etree._Element, str]]:
    found = []
    for task in root.iter(f"{{{BPMN}}}userTask"):
        for prop in task.xpath("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
                               "[@name='candidateGroup']", namespaces=NS):
            found.append((task, prop.get("value") or ""))
    return found


def _dmn_outputs(name: str, root: etree._Element, variables: set[str]) -> list[GroupUse]:
    """Literal values of decision-table outputs named like a candidateGroup variable."""
    uses = []
    for table in root.iter("{*}decisionTable"):
        outputs = [o for o in table if etree.QName(o).localname == "output"]
        for index, output in enumerate(outputs):
            variable = output.get("name") or ""
            if variable not in variables:
                continue
            for rule in (r for r in table if etree.QName(r).localname == "rule"):
                entries = [e for e in rule if etree.QName(e).localname == "outputEntry"]
                if index >= len(entries):
                    continue
                text = entries[index].find("{*}text")
                group = _literal(text.text if text is not None else None)
                if group:
                    uses.append(GroupUse(group, name, rule.get("id"), rule.sourceline,
                                         f"the decision table output {variable}"))
    return uses


def group_uses(files: dict[str, bytes], lane_groups: dict[str, str]) -> list[GroupUse]:
    """Every group the lanes, candidateGroup literals and DMN outputs of `files` route tasks to."""
    trees, _ = model_checks.parse_files(files)
    uses: list[GroupUse] = []
    variables: set[str] = set()
    for name, root in sorted(trees.items()):
        if not name.lower().endswith(".bpmn"):
            continue
        for process in root.iter(f"{{{BPMN}}}process"):
            tasks = {t.get("id") for t in process.iter(f"{{{BPMN}}}userTask")}
            for lane in process.iter(f"{{{BPMN}}}lane"):
                refs = {(r.text or "").strip() for r in lane.findall(f"{{{BPMN}}}flowNodeRef")}
                group = lane_groups.get((lane.get("name") or "").strip())
                if refs & tasks and group and group != OWNER:
                    uses.append(GroupUse(group, name, lane.get("id"), lane.sourceline,
                                         f"the lane '{lane.get('name')}'"))
        for task, expression in _candidate_expressions(root):
            literal = _literal(expression)
            if literal:
                uses.append(GroupUse(literal, name, task.get("id"), task.sourceline,
                                     f"the user task '{task.get('name') or task.get('id')}'"))
            elif expression.strip().isidentifier():
                variables.add(expression.strip())
    for name, root in sorted(trees.items()):
        if name.lower().endswith(".dmn"):
            uses.extend(_dmn_outputs(name, root, variables))
    return uses


def empty_group_warnings(ctx: AppContext, files: dict[str, bytes]) -> list[Problem]:
    """A warning for each group the models route tasks to that has no active member."""
    uses = group_uses(files, ctx.settings.lane_groups)
    with ctx.uow.read() as tx:
        staffed = {group: bool(tx.users.members(group)) for group in {u.group for u in uses}}
    warnings, seen = [], set()
    for use in uses:
        if staffed[use.group] or (use.group, use.file_name, use.element_id) in seen:
            continue
        seen.add((use.group, use.file_name, use.element_id))
        warnings.append(Problem(
            use.element_id, use.file_name, use.line,
            f"{use.via} sends tasks to the group '{use.group}', which has no active members; until someone "
            f"is added (iphs-flow users roles, or the administrators' people page) its tasks go to the "
            f"innovation leads", WARNING, EMPTY_GROUP))
    return warnings
