"""Hostile model code is compiled and run in engine workers: the calling process never does the work.

Compiling untrusted text can itself exhaust a process: a deeply nested expression breaks
the parser, a list literal of a megabyte takes many seconds of CPU. These models are
uploaded through the service layer (deploy, the designer's draft, the DMN editor's check)
and run as cases; each is refused at deploy naming the element, or becomes an incident
naming the element, and the calling thread spends almost no CPU time on any of it.
"""

from __future__ import annotations

import time

import pytest

from iphs_flow.engine.dmn_check import check_dmn
from iphs_flow.services import cases, design, processes
from iphs_flow.services.errors import InvalidProcess
from tests.bpmn_builder import condition_process, decision_process, decision_table, script_process
from tests.conftest import ANNA, DESIGNER, make_context

LIMITS = {"engine_cpu_seconds": 1, "engine_memory_mb": 512, "engine_wall_seconds": 15.0, "engine_workers": 2}
DEEP = "-" * 100_000 + "1"  # the parser runs out of memory
CHAIN = "1+" * 100_000 + "1"  # the parser runs out of recursion
HUGE_LIST = "x = [" + "1," * 700_000 + "]"  # about 1.4 MB: compiling it takes many seconds of CPU
# Compiles at once, but one call runs for minutes (a quadratic C loop the tracer cannot stop).
SLOW_CELL = "len(sum([[1]] * 300000, []))"
CALLER_CPU_SECONDS = 0.8  # what the calling thread may spend: reading the XML, not compiling it


@pytest.fixture
def limited(sqlite_url):
    ctx = make_context(sqlite_url, **LIMITS)
    yield ctx
    ctx.close()


@pytest.fixture
def cpu_limited(sqlite_url):
    """The CPU limit with room in memory: compiling HUGE_LIST needs about 2.7 s of CPU and 700 MB,
    and on a quiet machine it reaches 512 MB before 1 s of CPU, so only the CPU limit can stop it."""
    ctx = make_context(sqlite_url, **{**LIMITS, "engine_memory_mb": 4096})
    yield ctx
    ctx.close()


class _Cpu:
    """CPU time this thread spends inside the block (the work a web request thread would do)."""

    def __enter__(self) -> _Cpu:
        self.start = time.thread_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.spent = time.thread_time() - self.start


@pytest.mark.parametrize("condition", [DEEP, CHAIN], ids=["deeply nested", "a long chain"])
def test_a_condition_that_breaks_the_parser_is_refused_at_deploy_naming_the_flow(limited, condition) -> None:
    with pytest.raises(InvalidProcess) as refused, _Cpu() as cpu:
        processes.deploy_process(limited, {"hostile.bpmn": condition_process(condition, key="hostile")}, DESIGNER)
    assert refused.value.element_id == "f_yes"
    assert "too deeply nested or too large" in refused.value.message
    assert cpu.spent < CALLER_CPU_SECONDS


def test_a_script_too_large_to_compile_within_the_limit_is_refused_naming_the_task(cpu_limited) -> None:
    limited = cpu_limited
    with pytest.raises(InvalidProcess) as refused, _Cpu() as cpu:
        processes.deploy_process(limited, {"huge.bpmn": script_process(HUGE_LIST, key="huge")}, DESIGNER)
    assert refused.value.element_id == "run_script"
    assert "CPU time" in refused.value.message and "'Kör skript' (run_script)" in refused.value.message
    assert cpu.spent < CALLER_CPU_SECONDS
    # the worker that was killed is replaced: the next deploy works
    processes.deploy_process(limited, {"fine.bpmn": script_process("x = 1", key="fine")}, DESIGNER)


def test_a_hostile_script_never_enters_a_designers_draft(limited) -> None:
    with _Cpu() as cpu, pytest.raises(InvalidProcess) as refused:
        design.import_file(limited, "huge.bpmn", script_process(HUGE_LIST, key="huge"), DESIGNER)
    assert refused.value.element_id == "run_script"
    assert cpu.spent < CALLER_CPU_SECONDS
    with pytest.raises(InvalidProcess):
        design.import_file(limited, "deep.bpmn", condition_process(DEEP, key="deep"), DESIGNER)
    assert design.list_designs(limited, DESIGNER) == []  # nothing was stored


@pytest.mark.parametrize("cell", [DEEP, CHAIN], ids=["deeply nested", "a long chain"])
def test_a_dmn_cell_that_breaks_the_parser_is_refused_at_its_rule_and_column(limited, cell) -> None:
    table = decision_table(output_entry=cell)
    with _Cpu() as cpu:
        problems = check_dmn(table, "routing.dmn")
    assert [(p.code, p.rule_number, p.column) for p in problems] == [("output_entry", 1, "Beslutsgrupp")]
    with pytest.raises(InvalidProcess) as refused:
        processes.deploy_process(limited, {"decide.bpmn": decision_process(key="decide"), "routing.dmn": table},
                                 DESIGNER)
    assert refused.value.element_id == "r1_out"
    assert cpu.spent < CALLER_CPU_SECONDS


def test_a_dmn_cell_too_large_to_compile_within_the_limit_stops_the_check_at_that_cell(limited) -> None:
    table = decision_table(output_entry="[" + "1," * 700_000 + "]")
    with _Cpu() as cpu:
        problems = check_dmn(table, "routing.dmn")
    [problem] = problems
    # stopped over the CPU limit, or refused by the parser over the memory limit: either way at that cell
    assert (problem.code, problem.element_id) in {("limit", "r1_out"), ("output_entry", "r1_out")}
    assert "CPU time" in problem.detail or "too large" in problem.detail
    assert cpu.spent < CALLER_CPU_SECONDS


def test_a_dmn_cell_that_runs_away_is_an_incident_naming_the_business_rule_task(limited) -> None:
    processes.deploy_process(limited, {"decide.bpmn": decision_process(key="decide"),
                                       "routing.dmn": decision_table(output_entry=SLOW_CELL)}, DESIGNER)
    with _Cpu() as cpu:
        view = cases.start_case(limited, "decide", {"budget": 1}, ANNA)
    assert view.status == "incident"
    assert "'Vem beslutar' (route)" in view.incident and "CPU time" in view.incident
    assert cpu.spent < CALLER_CPU_SECONDS
