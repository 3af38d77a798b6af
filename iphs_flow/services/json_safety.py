"""JSON that is safe to store and to send back: bounded depth, bounded integers, finite
numbers, well-formed text.

Python's `json` accepts `NaN` and `Infinity` (not JSON: the value would come back as
invalid JSON), lone UTF-16 surrogates such as `"\\ud800"` (not text: the database
refuses them), nesting 100,000 deep (RecursionError) and integers of any length (more
than 4,300 digits cannot even be printed). `loads` parses a request body with every one
of those refused, and `check` refuses them in data that arrived some other way (a web
form, the command line), each with a message that says where.
"""

from __future__ import annotations

import json
import math
from typing import Any

from iphs_flow.services.errors import InvalidInput

MAX_DEPTH = 32
MAX_INT_DIGITS = 30  # ±10^30: any count or amount a case can hold; far below Python's 4,300-digit limit
MAX_KEY_CHARS = 200


class UnsafeJson(InvalidInput):
    """A body or value that is not safe JSON; `path` says where (`data/items/3`)."""

    def __init__(self, message: str, path: str = "", malformed: bool = False) -> None:
        super().__init__(message, {path or "(body)": [message]})
        self.path = path
        self.malformed = malformed  # not JSON at all, rather than JSON we refuse


def _constant(name: str) -> Any:
    raise UnsafeJson(f"{name} is not a JSON number; send a finite number or null")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise UnsafeJson(f"an integer of {len(text.lstrip('-'))} digits; at most {MAX_INT_DIGITS} are accepted")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeJson(f"the number {text[:40]} is too large")
    return value


def loads(body: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a request body, refusing what `check` refuses (UnsafeJson) or invalid JSON (UnsafeJson too)."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as err:
            raise UnsafeJson(f"the body is not UTF-8 (byte {err.start})", malformed=True) from None
    try:
        value = json.loads(body, parse_constant=_constant, parse_int=_integer, parse_float=_float)
    except RecursionError:
        raise UnsafeJson(f"the JSON is nested too deep; at most {max_depth} levels are accepted") from None
    except json.JSONDecodeError as err:
        raise UnsafeJson(f"not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})",
                         malformed=True) from None
    check(value, max_depth=max_depth)
    return value


def _text_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return f"contains a lone surrogate (\\u{ord(text[err.start]):04x}) at character {err.start}, which is not text"
    if "\x00" in text:
        return "contains a NUL character"
    return None


def check(value: Any, path: str = "", max_depth: int = MAX_DEPTH) -> None:
    """Raise UnsafeJson at the first value that is not safe JSON (iteratively: no recursion limit)."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > max_depth:
            raise UnsafeJson(f"nested deeper than {max_depth} levels", where)
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                raise UnsafeJson(problem, where)
        elif isinstance(item, int):
            if item.bit_length() > 100:  # about 30 decimal digits
                raise UnsafeJson(f"an integer larger than {MAX_INT_DIGITS} digits", where)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise UnsafeJson("NaN and Infinity are not JSON numbers; send a finite number or null", where)
        elif isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    raise UnsafeJson("object keys must be text", where)
                problem = _text_problem(key) or ("is longer than 200 characters" if len(key) > MAX_KEY_CHARS
                                                 else None)
                if problem:
                    raise UnsafeJson(f"a key {problem}", where)
                stack.append((inner, f"{where}/{key}" if where else key, depth + 1))
        elif isinstance(item, list | tuple):
            for index, inner in enumerate(item):
                stack.append((inner, f"{where}/{index}" if where else str(index), depth + 1))
        else:
            raise UnsafeJson(f"a {type(item).__name__} is not a JSON value", where)
