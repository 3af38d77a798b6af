"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from iphs_flow.store.migrate import COMPARE_OPTS, current, upgrade
from iphs_flow.store.tables import Base


def test_migrations_match_the_models(ctx) -> None:
    with ctx.uow.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts=COMPARE_OPTS), Base.metadata)
    assert diff == []


def test_upgrading_twice_is_harmless(ctx) -> None:
    head = current(ctx.uow.engine)
    upgrade(ctx.uow.engine)
    assert current(ctx.uow.engine) == head and head


def test_the_history_is_one_line_with_one_head() -> None:
    from alembic.script import ScriptDirectory

    from iphs_flow.store.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert all(len(rev._all_down_revisions) <= 1 for rev in script.walk_revisions())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path):
    """A database with no schema at all (the usual fixtures hand out migrated copies)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = request.getfixturevalue("postgres_admin")
    name = f"iphs_empty_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_database_made_by_the_branched_history_upgrades_unchanged(empty_db_url) -> None:
    """Until stop 10 the history had four heads (0003, 0006, 0007, 0008); such a database
    records all four, with the schema of 0008, and upgrades from there to today's head."""
    from sqlalchemy import create_engine, text

    engine = create_engine(empty_db_url)
    try:
        upgrade(engine, "0008")
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM alembic_version"))
            for head in ("0003", "0006", "0007", "0008"):
                connection.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
        upgrade(engine)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection, opts=COMPARE_OPTS), Base.metadata)
        assert diff == []
        assert len(current(engine)) == 1
    finally:
        engine.dispose()


def test_an_empty_database_is_migrated_from_scratch_to_the_schema_of_the_models(tmp_path) -> None:
    """The fixtures copy a database migrated once per session; this migrates one here and now."""
    from iphs_flow.store.database import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert current(engine) == ()
        upgrade(engine)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection, opts=COMPARE_OPTS), Base.metadata)
        assert diff == [] and len(current(engine)) == 1
    finally:
        engine.dispose()


def test_the_case_facts_of_search_documents_are_filled_on_upgrade_and_undone_by_the_downgrade(db_url) -> None:
    """0027 gives an existing database's documents their case's status and stage, and keeps them
    in step from then on; its downgrade leaves the schema of 0025."""
    from alembic import command
    from sqlalchemy import inspect, text

    from iphs_flow.store.migrate import alembic_config
    from tests.integration.process_driver import NEED, Walk, shipped_context

    ctx = shipped_context(db_url)
    try:
        walk = Walk.start(ctx)
        walk.complete("need", {**NEED, "title": "Ängar i parken", "need": "Blommande ängar."})
        engine = ctx.uow.engine
        config = alembic_config(engine.url.render_as_string(hide_password=False))

        def migrate(step, revision: str) -> None:
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                step(config, revision)

        def pending_list_limits() -> list[object]:
            if engine.dialect.name != "postgresql":
                return []
            with engine.connect() as connection:
                return connection.execute(text(
                    "SELECT relname, reloptions FROM pg_class WHERE relname IN "
                    "('ix_search_document_tsv', 'ix_search_document_similar_tsv') ORDER BY relname")).all()

        migrate(command.downgrade, "0026")
        assert all(options is None for _name, options in pending_list_limits())
        with engine.connect() as connection:
            assert not {"case_status", "case_stage"} & {c["name"] for c in inspect(connection).get_columns(
                "search_document")}
            connection.execute(text("UPDATE \"case\" SET status = 'suspended'"))  # no trigger passes it on
            connection.commit()
        migrate(command.upgrade, "head")
        assert all(options == ["gin_pending_list_limit=256"] for _name, options in pending_list_limits())
        with engine.begin() as connection:
            facts = connection.execute(text(
                'SELECT DISTINCT d.case_status, d.case_stage, c.stage FROM search_document AS d '
                'JOIN "case" AS c ON c.id = d.case_id')).all()
            assert [(status, stage) for status, stage, _ in facts] == [("suspended", facts[0][2])]
            connection.execute(text("UPDATE \"case\" SET status = 'running'"))
            assert connection.execute(text("SELECT DISTINCT case_status FROM search_document")).scalars().all() == [
                "running"]
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection, opts=COMPARE_OPTS), Base.metadata)
        assert diff == []
    finally:
        ctx.close()
