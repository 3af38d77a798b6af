"""Lists cost the same few SQL statements whatever the number of cases, and never touch workflow state."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.exc import InvalidRequestError

from iphs_flow.services import cases
from tests.integration.api_world import Browser, actor, build_world


def _world_with_cases(url: str, count: int):
    ctx, app = build_world(url)
    for n in range(count):
        view = cases.start_case(ctx, "gate_decision", {"title": f"Behov {n}"}, actor(ctx, "anna"))
        if n % 2:  # half of them wait for the innovation leads' group
            cases.complete_task(ctx, view.open_tasks[0].id, {"text": "Barn går längs en 70-väg"}, actor(ctx, "anna"))
    return ctx, app


def _statements(ctx, call) -> int:
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    event.listen(ctx.uow.engine, "before_cursor_execute", count)
    try:
        response = call()
    finally:
        event.remove(ctx.uow.engine, "before_cursor_execute", count)
    assert response.status_code == 200, response.get_data(as_text=True)
    return len(seen)


def _counts(url: str, count: int) -> dict[str, int]:
    ctx, app = _world_with_cases(url, count)
    try:
        anna, lena = Browser(app, "anna"), Browser(app, "lena")
        found = {
            "GET /api/v1/tasks (owner)": _statements(ctx, lambda: anna.get("/api/v1/tasks")),
            "GET /api/v1/tasks (group)": _statements(ctx, lambda: lena.get("/api/v1/tasks")),
            "GET /api/v1/cases": _statements(ctx, lambda: anna.get("/api/v1/cases")),
            "GET /inbox": _statements(ctx, lambda: lena.get("/inbox")),
            "GET /cases": _statements(ctx, lambda: anna.get("/cases")),
        }
        assert len(anna.get("/api/v1/tasks").json) == (count + 1) // 2
        assert len(anna.get("/api/v1/cases").json["items"]) == count
        return found
    finally:
        ctx.close()


def test_task_lists_inbox_and_case_lists_run_as_many_statements_for_30_cases_as_for_3(tmp_path) -> None:
    few = _counts(f"sqlite:///{tmp_path / 'few.db'}", 3)
    many = _counts(f"sqlite:///{tmp_path / 'many.db'}", 30)
    assert many == few


def test_a_listed_case_refuses_to_load_its_workflow_state_or_process_files(sqlite_url) -> None:
    ctx, _ = _world_with_cases(sqlite_url, 2)
    try:
        with ctx.uow.read() as tx:
            listed = list(tx.cases.page(limit=10))
            assert [c.process_version.version for c in listed] == [1, 1]
            with pytest.raises(InvalidRequestError):
                _ = listed[0].state
            with pytest.raises(InvalidRequestError):
                _ = listed[0].process_version.files
    finally:
        ctx.close()


def test_a_completion_reads_its_task_and_case_once_and_commits_once(db_url) -> None:
    """The write takes what the read found (a compare-and-set decides whether it still holds):
    no second SELECT of the task, its case or the case's open tasks, and one commit."""
    ctx, _app = build_world(db_url)
    try:
        view = cases.start_case(ctx, "gate_decision", {"title": "Räknat"}, actor(ctx, "anna"))
        selects: list[str] = []
        commits: list[int] = []

        def count(conn, cursor, statement, *args) -> None:
            if statement.lstrip().upper().startswith("SELECT") and "FROM human_task" in statement:
                selects.append(statement)

        event.listen(ctx.uow.engine, "before_cursor_execute", count)
        event.listen(ctx.uow.engine, "commit", lambda *_args: commits.append(1))
        view = cases.complete_task(ctx, view.open_tasks[0].id, {"text": "Barn går längs en 70-väg"},
                                   actor(ctx, "anna"))
        assert view.open_tasks  # the next task is in the answer, not read back
        assert len(selects) == 1, selects
        assert len(commits) == 1
    finally:
        ctx.close()


# The statements of one completion that opens the next task and changes the case's searchable
# text, the process's forms already known. They only ever go down; when one goes, lower the number.
COMPLETION_STATEMENTS = {"sqlite": 13, "postgresql": 10}


def test_a_completion_that_opens_a_task_and_changes_searchable_text_runs_a_known_number_of_statements(db_url) -> None:
    ctx, _app = build_world(db_url)
    try:
        anna = actor(ctx, "anna")
        warm = cases.start_case(ctx, "gate_decision", {"title": "Först"}, anna)
        cases.complete_task(ctx, warm.open_tasks[0].id, {"text": "Gatlyktor som släcks för tidigt"}, anna)
        view = cases.start_case(ctx, "gate_decision", {"title": "Räknat"}, anna)
        seen: list[str] = []

        def count(conn, cursor, statement, *args) -> None:
            seen.append(statement)

        event.listen(ctx.uow.engine, "before_cursor_execute", count)
        view = cases.complete_task(ctx, view.open_tasks[0].id, {"text": "Barn går längs en 70-väg"}, anna)
        event.remove(ctx.uow.engine, "before_cursor_execute", count)
        assert view.open_tasks  # a task opened
        with ctx.uow.read() as tx:
            dialect = tx.session.get_bind().dialect.name
        assert len(seen) == COMPLETION_STATEMENTS[dialect], "\n".join(seen)
    finally:
        ctx.close()
