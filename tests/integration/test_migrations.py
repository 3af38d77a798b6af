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
