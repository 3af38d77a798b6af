"""Form `pattern`s run on RE2: linear time, whatever a designer writes.

Python's `re` backtracks: `"^(a|aa)+$"` against forty a's and a "!" takes minutes and
holds a thread (and the GIL) all that time. RE2 (google-re2) never backtracks; it does
not support backreferences or lookaround either, so a pattern RE2 cannot compile is
refused when the form is saved or deployed, with RE2's reason.

`FormValidator` is the JSON Schema validator used for every form: `pattern` and
`patternProperties` go through RE2.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, ValidationError, validators

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = 8 << 20  # a pattern whose automaton needs more than 8 MB is refused


class UnsafePattern(ValueError):
    pass


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    """The compiled RE2 pattern, or UnsafePattern with the reason it cannot be used."""
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as err:
        reason = err.args[0].decode("utf-8", "replace") if err.args and isinstance(err.args[0], bytes) else str(err)
        raise UnsafePattern(reason) from None
    except (TypeError, ValueError) as err:
        raise UnsafePattern(str(err)) from None


def pattern_problems(schema: Any, path: str = "") -> list[tuple[str, str, str]]:
    """(schema path, pattern, reason) for every `pattern`/`patternProperties` RE2 cannot run."""
    found: list[tuple[str, str, str]] = []
    stack: list[tuple[Any, str]] = [(schema, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{where}/{key}" if where else str(key)
                if key == "pattern" and isinstance(value, str):
                    try:
                        compile_pattern(value)
                    except UnsafePattern as err:
                        found.append((here, value, str(err)))
                elif key == "patternProperties" and isinstance(value, dict):
                    for regex in value:
                        try:
                            compile_pattern(regex)
                        except UnsafePattern as err:
                            found.append((f"{here}/{regex}", regex, str(err)))
                if isinstance(value, dict | list):
                    stack.append((value, here))
        elif isinstance(node, list):
            stack.extend((item, f"{where}/{i}") for i, item in enumerate(node))
    return sorted(found)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    try:
        compiled = compile_pattern(pattern)
    except UnsafePattern as err:
        yield ValidationError(f"the form's pattern {pattern!r} cannot be checked safely ({err})")
        return
    if compiled.search(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any,
                        schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        try:
            compiled = compile_pattern(pattern)
        except UnsafePattern as err:
            yield ValidationError(f"the form's pattern {pattern!r} cannot be checked safely ({err})")
            continue
        for key, value in instance.items():
            if compiled.search(key) is not None:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


FormValidator = validators.extend(Draft202012Validator, {"pattern": _pattern,
                                                         "patternProperties": _pattern_properties})
