"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from iphs_flow.store.migrate import current, upgrade
from iphs_flow.store.tables import Base


def test_migrations_match_the_models(ctx) -> None:
    with ctx.uow.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
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


def test_a_database_made_by_the_branched_history_upgrades_unchanged(ctx) -> None:
    """Until stop 10 the history had four heads; such a database records all four."""
    from alembic import command
    from sqlalchemy import text

    from iphs_flow.store.migrate import alembic_config

    engine = ctx.uow.engine
    # Such a database has nothing after 0008, the last revision of the branched history.
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
        for head in ("0003", "0006", "0007", "0008"):
            connection.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
    upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert len(current(engine)) == 1
