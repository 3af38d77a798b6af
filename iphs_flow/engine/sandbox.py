"""Run untrusted BPMN scripts and expressions under RestrictedPython with a time limit.

Scripts, gateway conditions, timer expressions, DMN cells and service-task parameters
all come from uploaded models, so they are untrusted code. SpiffWorkflow's default
environment is plain `exec` with full builtins; here every piece of code is compiled
with `compile_restricted` (no imports, no dunder or `_` names, guarded attribute,
item and iteration access) and runs with:

- a small set of builtins and our date helpers, nothing that reaches the file system,
  the network or the interpreter;
- a wall-clock time limit enforced by a line tracer (Python-level loops cannot run
  forever);
- guards on the operators that can allocate huge objects in one C call (`**`, `*`,
  `<<`, `%` formatting, padding methods), since a tracer cannot interrupt C code.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from RestrictedPython import PrintCollector, RestrictingNodeTransformer, compile_restricted, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from . import calendar, clock
from .errors import ScriptError, ScriptTimeout

DEFAULT_TIME_LIMIT = 1.0  # seconds per script or expression
MAX_SEQUENCE = 1_000_000  # longest string or list one operation may build
MAX_INT_BITS = 100_000
MAX_RANGE = 100_000
MAX_FORMAT_WIDTH = 10_000

_GUARDED_BINOPS = {ast.Pow: "**", ast.Mult: "*", ast.LShift: "<<", ast.Mod: "%"}
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_FORMAT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?")


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus guards on allocation-heavy operators."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        symbol = _GUARDED_BINOPS.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(
            func=ast.Name(id="_binop_", ctx=ast.Load()),
            args=[ast.Constant(symbol), node.left, node.right],
            keywords=[],
        )
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self.error(node, "Imports are not allowed; use the helpers and task data.")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.error(node, "Imports are not allowed; use the helpers and task data.")
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        spec = node.format_spec
        if spec is not None:
            text = "".join(v.value for v in getattr(spec, "values", []) if isinstance(v, ast.Constant))
            widths = [int(w) for w in re.findall(r"\d+", text)]
            if any(w > MAX_FORMAT_WIDTH for w in widths):
                self.error(node, "Format widths above 10000 are not allowed.")
        return self.node_contents_visit(node)


def _check_sequence(result_len: int) -> None:
    if result_len > MAX_SEQUENCE:
        raise ScriptError(f"the result would hold {result_len} items; the limit is {MAX_SEQUENCE}")


def _binop(symbol: str, left: Any, right: Any) -> Any:
    if symbol == "**":
        if (isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1
                and right * abs(left).bit_length() > MAX_INT_BITS):
            raise ScriptError("the power is too large to compute")
        return left ** right
    if symbol == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int):
                _check_sequence(len(seq) * times)
        return left * right
    if symbol == "<<":
        if isinstance(right, int) and right > MAX_INT_BITS:
            raise ScriptError("the shift is too large to compute")
        return left << right
    if isinstance(left, (str, bytes)):  # printf-style formatting
        text = left.decode("latin-1") if isinstance(left, bytes) else left
        for width, precision in _FORMAT_WIDTH.findall(text):
            for part in (width, precision):
                if part == "*" or (part and int(part) > MAX_FORMAT_WIDTH):
                    raise ScriptError("format widths above 10000 are not allowed")
    return left % right


_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "/=": operator.itruediv, "//=": operator.ifloordiv,
    "|=": operator.ior, "&=": operator.iand, "^=": operator.ixor, ">>=": operator.irshift,
}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    if op in ("*=", "**=", "<<=", "%="):
        return _binop(op[:-1], target, value)
    if op == "+=" and isinstance(target, (str, bytes, list)) and hasattr(value, "__len__"):
        _check_sequence(len(target) + len(value))
    func = _INPLACE.get(op)
    if func is None:
        raise ScriptError(f"the operator {op} is not allowed")
    return func(target, value)


def _getattr(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, (str, bytes)) and name in _PADDING_METHODS:
        raise ScriptError(f"'{name}' is not allowed in scripts")
    return safer_getattr(obj, name, default)


def _range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise ScriptError(f"range() is limited to {MAX_RANGE} numbers")
    return result


def _pow(base: Any, exp: Any, mod: Any = None) -> Any:
    if mod is not None:
        return pow(base, exp, mod)
    return _binop("**", base, exp)


def _iso(moment: datetime) -> str:
    return calendar.iso_utc(moment)


def _helpers() -> dict[str, Callable[..., Any]]:
    """The date helpers of docs/modelling.md; they return ISO strings so data stays JSON."""
    return {
        "now": lambda: _iso(clock.now()),
        "today": lambda: calendar.today().isoformat(),
        "add_working_days": lambda start, n: _iso(calendar.add_working_days(start, n)),
        "add_days": lambda start, n: _iso(calendar.to_datetime(start) + timedelta(days=n)),
        "add_months": lambda start, n: _iso(calendar.add_months(start, n)),
        "start_of_day": lambda day: _iso(calendar.to_datetime(str(day)[:10])),
        "working_days_between": calendar.working_days_between,
    }


def _builtins() -> dict[str, Any]:
    allowed = {k: v for k, v in safe_builtins.items()
               if k not in ("__build_class__", "setattr", "delattr", "_getattr_")}
    allowed.update({
        "range": _range, "pow": _pow,
        "list": list, "dict": dict, "tuple": tuple, "set": set, "frozenset": frozenset,
        "min": min, "max": max, "sum": sum, "any": any, "all": all, "enumerate": enumerate,
        "map": map, "filter": filter, "reversed": reversed, "sorted": sorted,
        "math": math,
    })
    return allowed


_BUILTINS = _builtins()
_GUARDS: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    "__name__": "bpmn_script",
    "__metaclass__": type,
    "_getattr_": _getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
    "_binop_": _binop,
    "_print_": PrintCollector,
}
HELPER_NAMES = frozenset(_helpers()) | {"value"}
# Task data are script variables: a field may not hide a helper or a builtin.
RESERVED_NAMES = HELPER_NAMES | frozenset(_BUILTINS)


@lru_cache(maxsize=2048)
def compile_untrusted(source: str, mode: str) -> Any:
    """Compile under the restricted policy; raise ScriptError listing every violation."""
    try:
        return compile_restricted(source, filename="<bpmn>", mode=mode, policy=_Policy)
    except SyntaxError as err:
        raise ScriptError(_describe_syntax_error(err)) from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        # Python's parser gives up on a deeply nested or enormous expression this way
        raise ScriptError("not allowed: the code is too deeply nested or too large to compile") from None


def _describe_syntax_error(err: SyntaxError) -> str:
    detail = err.msg
    if isinstance(err.msg, tuple | list):
        detail = "; ".join(str(m) for m in err.msg)
    return f"not allowed: {detail}"


def run_with_time_limit(func: Callable[[], Any], seconds: float) -> Any:
    """Run `func`, raising ScriptTimeout inside it when it has used `seconds` of CPU time.

    The limit counts this thread's CPU time, not the wall clock: on a busy server a
    trivial script may wait seconds for a core, and must not become an incident for
    that. A sandboxed script cannot sleep or wait for I/O, so a runaway script always
    burns CPU and is caught. The cheap monotonic clock is read on every trace event;
    the costlier thread CPU clock only when the wall-clock budget has run out.
    """
    cpu_start = time.thread_time()
    deadline = [time.monotonic() + seconds]

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline[0]:
            left = seconds - (time.thread_time() - cpu_start)
            if left <= 0:
                raise ScriptTimeout(f"the script ran longer than {seconds:g} s and was stopped")
            deadline[0] = time.monotonic() + left
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return func()
    finally:
        sys.settrace(previous)


def to_storable(value: Any, path: str = "") -> Any:
    """Keep task data JSON: dates become ISO strings, tuples lists; anything else is refused."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ScriptError(f"{path or 'data'}: keys must be text, found {type(key).__name__}")
            out[key] = to_storable(item, f"{path}.{key}" if path else key)
        return out
    if isinstance(value, (list, tuple)):
        return [to_storable(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise ScriptError(f"{path or 'a value'} has type {type(value).__name__}, which cannot be stored")


class SandboxedEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment that runs everything restricted and time-limited."""

    def __init__(self, time_limit: float = DEFAULT_TIME_LIMIT) -> None:
        self.time_limit = time_limit
        super().__init__(_helpers())

    def _globals(self, context: dict[str, Any], external: dict[str, Any] | None) -> dict[str, Any]:
        env = dict(context)
        env.update(external or {})
        env.update(self.globals)
        # value("reason", "") reads an optional field that may not have been filled in.
        env["value"] = lambda name, default=None: context.get(name, default)
        env.update(_GUARDS)
        return env

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        code = compile_untrusted(expression.strip(), "eval")
        env = self._globals(context, external_context)
        return run_with_time_limit(lambda: eval(code, env), self.time_limit)  # noqa: S307

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> bool:
        clash = (set(self.globals) | set(_GUARDS) | {"value"}) & set(context)
        if clash:
            raise ScriptError(
                f"task data uses reserved names: {', '.join(sorted(clash))}; rename the fields"
            )
        code = compile_untrusted(script, "exec")
        env = self._globals(context, external_context)
        run_with_time_limit(lambda: exec(code, env), self.time_limit)  # noqa: S102
        reserved = set(_GUARDS) | set(self.globals) | set(external_context or {}) | {"value"}
        result = {
            k: v for k, v in env.items()
            if k not in reserved and not callable(v) and not k.startswith("_")
            and type(v).__name__ != "module"
        }
        result = to_storable(result)
        context.clear()
        context.update(result)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> str:
        raise ScriptError("service calls are handled by the engine")


# Where deploy checks evaluate an expression that needs no case data (a timer's "P10D").
# The engine worker pool installs itself here, so even that runs in a worker process.
_constant_evaluator: Callable[[str], Any] | None = None


def evaluate_here(expression: str) -> Any:
    """Evaluate an expression without task data in this process (inside a worker)."""
    return SandboxedEnvironment().evaluate(expression, {})


def evaluate_constant(expression: str) -> Any:
    """Evaluate an expression that needs no task data, in a worker when a pool is installed."""
    evaluator = _constant_evaluator
    return evaluate_here(expression) if evaluator is None else evaluator(expression)


def install_evaluator(evaluator: Callable[[str], Any] | None) -> None:
    global _constant_evaluator
    _constant_evaluator = evaluator
