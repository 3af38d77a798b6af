"""Lists cost the same few SQL statements whatever the number of cases, and never touch workflow state."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.exc import InvalidRequestError

from iphs_flow.services import api_tokens, cases
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
COMPLETION_STATEMENTS = {"sqlite": 13, "postgresql": 9}


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


def _wire(ctx, tmp_path, call) -> list[str]:
    """What the request sent to the database, in order: on PostgreSQL every query and statement the
    driver put on the wire (libpq's trace, so BEGIN, ROLLBACK and pings too: of each, its first line);
    on SQLite the statements."""
    engine = ctx.uow.engine
    if engine.dialect.name != "postgresql":
        seen: list[str] = []

        def count(conn, cursor, statement, *args) -> None:
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            call()
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return seen
    path = tmp_path / "wire.trace"
    with path.open("w") as trace:
        traced: list = []

        def on_connect(dbapi_connection, _record) -> None:
            dbapi_connection.pgconn.trace(trace.fileno())
            traced.append(dbapi_connection)

        engine.dispose()  # a fresh pool, whose connections are traced from their first message
        event.listen(engine.pool, "connect", on_connect)
        try:
            call()
        finally:
            event.remove(engine.pool, "connect", on_connect)
            for dbapi_connection in traced:
                dbapi_connection.pgconn.untrace()
    sent = []
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 5 and parts[1] == "F" and parts[3] in ("Query", "Parse"):
            quoted = parts[4].split('"')  # Query "text"; Parse "name" "text" ...
            sent.append(quoted[1] if parts[3] == "Query" else quoted[3])
    return sent


def test_a_token_request_checks_its_token_in_one_statement_and_pings_no_connection_just_given_back(db_url,
                                                                                                tmp_path) -> None:
    """The token check opens no transaction (no BEGIN before it, no ROLLBACK after), and the pooled
    connection the first request gave back is handed to the next without a ping."""
    ctx, app = build_world(db_url)
    try:
        secret = api_tokens.create_token(ctx, actor(ctx, "anna"), "integration", "read").secret
        client = app.test_client()
        bearer = {"Authorization": f"Bearer {secret}"}
        assert client.get("/api/v1/tasks", headers=bearer).status_code == 200  # its last use noted for a minute

        def two_requests() -> None:
            for _ in range(2):
                assert client.get("/api/v1/tasks", headers=bearer).status_code == 200

        sent = _wire(ctx, tmp_path, two_requests)
        checks = [n for n, statement in enumerate(sent) if "api_token.secret_hash" in statement]
        assert len(checks) == 2, sent
        for n in checks:
            assert n == 0 or not sent[n - 1].upper().startswith("BEGIN"), sent
            assert not sent[n + 1].upper().startswith("ROLLBACK"), sent
        assert not [s for s in sent if s.strip().upper() == "SELECT 1"], sent  # no ping
        assert sent[checks[1]:] == sent[checks[0]:checks[1]]  # the second request sent what the first did
    finally:
        ctx.close()
