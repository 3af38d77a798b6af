"""Check a DMN decision table cell by cell, so a designer sees which rule and column is wrong.

A DMN file is untrusted input twice over: as XML (refused if it declares a DOCTYPE or
entities) and as code (every input expression, input entry and output entry is a Python
expression the engine evaluates). The cells are compiled here exactly as SpiffWorkflow's
DMN engine combines them at run time (`budget` and `< 500000` become `budget< 500000`;
`"G2"` becomes `(gate) == ("G2")`; `?` stands for the input value), under the sandbox's
restricted compiler, so anything the sandbox would refuse at run time is reported now
with the decision, rule number and column it is in.

Pure functions of the file's bytes: no Flask, no SQL.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from . import isolation, sandbox
from .errors import ScriptError, StepKilled, UnsafeXML
from .xml_safety import MAX_MODEL_BYTES, check_untrusted_xml

_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_QUESTION_MARK = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")  # the engine's own pattern
INPUT_VALUE = "dmninputexpr"
REFUSED = frozenset({"unsafe", "too_large", "xml", "not_dmn", "input_expression", "input_entry", "output_entry",
                     "limit"})


@dataclass(frozen=True)
class TableProblem:
    """One thing wrong in a DMN file; `code` picks the sentence, the rest says where.

    Codes: unsafe, too_large, xml, not_dmn, decision_count, structure, no_table, input_expression, input_entry,
    output_entry, entry_count, output_name, limit (the check itself went over the engine's limits). `REFUSED`
    are never stored in a draft (unsafe XML, code the sandbox refuses or that cannot be compiled within the
    limits); the others are modelling problems a draft may still have.
    """

    code: str
    detail: str = ""
    decision_id: str | None = None
    decision_name: str | None = None
    rule_number: int | None = None
    rule_id: str | None = None
    column: str | None = None
    text: str | None = None
    element_id: str | None = None
    line: int | None = None


@dataclass
class _Table:
    decision_id: str
    decision_name: str
    inputs: list[tuple[str, str | None]] = field(default_factory=list)  # (label, expression)
    outputs: list[str] = field(default_factory=list)  # labels


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in element if _local(c) == name]


def _text(element: etree._Element) -> str | None:
    found = _children(element, "text")
    return found[0].text if found else None


def _compile(source: str) -> str | None:
    """None if the expression compiles under the sandbox, else why not."""
    try:
        sandbox.compile_untrusted(source.strip(), "eval")
    except ScriptError as err:
        return str(err)
    return None


def input_entry_expression(input_expression: str, entry: str) -> str:
    """The expression SpiffWorkflow's DMNEngine evaluates for one input cell (see DMNEngine.evaluate)."""
    replaced = _QUESTION_MARK.sub(INPUT_VALUE, entry)
    if INPUT_VALUE in replaced:
        return replaced
    try:
        ast.parse(entry.strip(), mode="eval")
        return f"({input_expression}) == ({entry})"
    except (SyntaxError, RecursionError, MemoryError, ValueError, OverflowError):
        return input_expression + entry


def _structure(tree: etree._Element, file_name: str) -> list[TableProblem]:
    """What SpiffWorkflow's own DMN parser refuses (schema, several decisions, malformed outputs)."""
    parser = SpiffBpmnParser()
    try:
        parser.add_dmn_xml(tree, filename=file_name)
        for dmn_parser in parser.dmn_parsers.values():
            dmn_parser.parse()
    except ValidationException as err:
        line = err.line_number if isinstance(err.line_number, int) else None
        return [TableProblem("structure", str(err).split("\n")[0], element_id=err.id or None, line=line)]
    except etree.DocumentInvalid as err:
        return [TableProblem("structure", str(err))]
    except (KeyError, IndexError, AttributeError, TypeError) as err:
        return [TableProblem("structure", f"{type(err).__name__}: {err}")]
    return []


def check_dmn(content: bytes, file_name: str) -> list[TableProblem]:
    """Every problem in a DMN file, each pointing at its decision, rule and column.

    Compiling the cells is work the file's author controls, so it runs in an engine worker
    (isolation); a worker stopped over a limit is the problem `limit`, at the cell it was on.
    """

    try:
        return isolation.run(_check_dmn_here, content, file_name)
    except StepKilled as err:
        label, why = isolation.stopped_at(str(err))
        where = f" at {label}" if label else ""
        return [TableProblem("limit", f"the check was stopped{where}: {why}", element_id=isolation.element_id(label))]


def _check_dmn_here(content: bytes, file_name: str) -> list[TableProblem]:
    try:
        check_untrusted_xml(content, file_name)
        tree = etree.fromstring(content, _SAFE_PARSER)
    except UnsafeXML as err:
        cause = err.__cause__
        if isinstance(cause, etree.XMLSyntaxError):
            return [TableProblem("xml", str(cause), line=getattr(cause, "lineno", None))]
        if len(content) > MAX_MODEL_BYTES:
            return [TableProblem("too_large", str(MAX_MODEL_BYTES // 1024 // 1024))]
        return [TableProblem("unsafe", str(err))]
    except etree.XMLSyntaxError as err:
        return [TableProblem("xml", str(err), line=getattr(err, "lineno", None))]
    if _local(tree) != "definitions" or "DMN" not in (etree.QName(tree).namespace or ""):
        return [TableProblem("not_dmn")]
    problems: list[TableProblem] = []
    decisions = list(tree.iter("{*}decision"))
    if len(decisions) != 1:
        # the engine reads exactly one decision per file
        return [TableProblem("decision_count", str(len(decisions)))]
    for decision in decisions:
        decision_id = decision.get("id") or ""
        name = decision.get("name") or decision_id
        tables = _children(decision, "decisionTable")
        if not tables:
            problems.append(TableProblem("no_table", decision_id=decision_id, decision_name=name,
                                         element_id=decision_id, line=decision.sourceline))
        for table in tables:
            problems.extend(_check_table(table, _Table(decision_id, name)))
    if not problems:
        problems.extend(_structure(tree, file_name))
    return problems


def _check_table(element: etree._Element, table: _Table) -> list[TableProblem]:
    problems: list[TableProblem] = []
    where = {"decision_id": table.decision_id, "decision_name": table.decision_name}
    for number, item in enumerate(_children(element, "input"), start=1):
        label = item.get("label") or item.get("id") or f"#{number}"
        expressions = _children(item, "inputExpression")
        source = _text(expressions[0]) if expressions else None
        table.inputs.append((label, source))
        if not source or not source.strip():
            problems.append(TableProblem("input_expression", "empty", column=label, element_id=item.get("id"),
                                         line=item.sourceline, **where))
            continue
        isolation.note(f"the input expression of the column '{label}' ({item.get('id')})")
        why = _compile(source)
        if why:
            problems.append(TableProblem("input_expression", why, column=label, text=source,
                                         element_id=item.get("id"), line=item.sourceline, **where))
    for number, item in enumerate(_children(element, "output"), start=1):
        label = item.get("label") or item.get("name") or item.get("id") or f"#{number}"
        table.outputs.append(label)
        if not (item.get("name") or "").strip():
            problems.append(TableProblem("output_name", column=label, element_id=item.get("id"),
                                         line=item.sourceline, **where))
    for number, rule in enumerate(_children(element, "rule"), start=1):
        at = {"rule_number": number, "rule_id": rule.get("id"), **where}
        entries = _children(rule, "inputEntry")
        outputs = _children(rule, "outputEntry")
        if len(entries) != len(table.inputs) or len(outputs) != len(table.outputs):
            problems.append(TableProblem("entry_count", element_id=rule.get("id"), line=rule.sourceline, **at))
            continue
        for (label, source), entry in zip(table.inputs, entries, strict=True):
            text = _text(entry)
            if text is None or text.strip() in ("", "-") or not source:
                continue
            isolation.note(f"rule {number}, column '{label}' ({entry.get('id')})")
            why = _compile(input_entry_expression(source.strip(), text.strip()))
            if why:
                problems.append(TableProblem("input_entry", why, column=label, text=text,
                                             element_id=entry.get("id"), line=entry.sourceline, **at))
        for label, entry in zip(table.outputs, outputs, strict=True):
            text = _text(entry)
            if text is None or not text.strip():
                continue
            isolation.note(f"rule {number}, output '{label}' ({entry.get('id')})")
            why = _compile(text)
            if why:
                problems.append(TableProblem("output_entry", why, column=label, text=text,
                                             element_id=entry.get("id"), line=entry.sourceline, **at))
    return problems
