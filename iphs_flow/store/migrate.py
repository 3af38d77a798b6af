"""Bring a database to the newest schema with Alembic (`iphs-flow db upgrade`).

The history is one line (0001 → 0002 → 0003 → 0005 → …). Until stop 10 it had four
branches (0003, 0006, 0007 and 0008 all hung from 0002 or 0005) applied with
`upgrade("heads")`; a database made then records up to four rows in `alembic_version`.
`upgrade` first folds those rows into the one revision of the line that they amount to,
so such a database upgrades unchanged.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, text

MIGRATIONS = Path(__file__).parent / "migrations"

# The parents each revision had in the branched history, to tell what a set of old heads
# had applied; and the order the same revisions have in the line now.
_BRANCHED_PARENTS = {"0001": None, "0002": "0001", "0003": "0002", "0005": "0002",
                     "0006": "0005", "0007": "0005", "0008": "0005"}
_LINE = ("0001", "0002", "0003", "0005", "0006", "0007", "0008")


# Full-text index objects each database keeps beside `search_document` (migrations 0014, 0025,
# 0027) that SQLAlchemy's models cannot describe: the FTS5 table, its shadow tables and the
# covering index its matches are read through on SQLite, the generated tsvector column and its
# GIN indexes (all documents; titles and needs) on PostgreSQL, and the case's status and stage
# each document carries, which the database's triggers keep (no model writes them). Schema
# comparisons skip them.
SEARCH_INTERNALS = ("search_fts", "search_fts_data", "search_fts_idx", "search_fts_content", "search_fts_docsize",
                    "search_fts_config", "search_fts_vocab", "ix_search_document_tsv", "ix_search_document_match",
                    "ix_search_document_similar_tsv")
SEARCH_CASE_FACTS = ("case_status", "case_stage")


def include_in_comparison(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    """Alembic `include_name`: everything but the search index internals."""
    if type_ == "column" and parent_names.get("table_name") == "search_document" and (
            name == "tsv" or name in SEARCH_CASE_FACTS):
        return False
    return name not in SEARCH_INTERNALS


COMPARE_OPTS = {"include_name": include_in_comparison}


class MigrationHistoryError(RuntimeError):
    """The database records revisions that the linear history cannot continue from."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run every migration up to `revision` on `engine`'s database."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        fold_branched_heads(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def fold_branched_heads(connection: Connection) -> None:
    """Replace the rows of the old branched history by the one revision they amount to."""
    if not inspect(connection).has_table("alembic_version"):
        return
    rows = {r for (r,) in connection.execute(text("SELECT version_num FROM alembic_version"))}
    if len(rows) <= 1:
        return
    if not rows <= _BRANCHED_PARENTS.keys():
        raise MigrationHistoryError(f"unknown revisions recorded together: {sorted(rows)}")
    applied: set[str] = set()
    for head in rows:
        rev: str | None = head
        while rev is not None:
            applied.add(rev)
            rev = _BRANCHED_PARENTS[rev]
    prefix = 0
    while prefix < len(_LINE) and _LINE[prefix] in applied:
        prefix += 1
    if len(applied) != prefix:
        raise MigrationHistoryError(
            f"revisions {sorted(applied)} are not a beginning of the history {list(_LINE)}")
    connection.execute(text("DELETE FROM alembic_version"))
    connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                       {"v": _LINE[prefix - 1]})


def current(engine: Engine) -> tuple[str, ...]:
    """The applied head revision(s)."""
    with engine.connect() as connection:
        return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
