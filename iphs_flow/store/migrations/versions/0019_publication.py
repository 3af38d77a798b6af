"""publication, publication_goal, contact_consent: the public showcase of cases (issue 18)

Revision ID: 0019
Revises: 0018
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import iphs_flow.store.tables


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('publication',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('goals', sa.JSON(), nullable=False),
    sa.Column('unit', sa.String(length=300), nullable=False),
    sa.Column('contact_email', sa.String(length=300), nullable=True),
    sa.Column('image', sa.LargeBinary(), nullable=True),
    sa.Column('image_type', sa.String(length=20), nullable=True),
    sa.Column('image_alt', sa.String(length=300), nullable=True),
    sa.Column('image_hash', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.String(length=200), nullable=True),
    sa.Column('published_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('unpublished_by', sa.String(length=200), nullable=True),
    sa.Column('unpublished_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('unpublish_reason', sa.Text(), nullable=True),
    sa.Column('public_changed_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id')
    )
    op.create_index('ix_publication_state_changed', 'publication', ['state', 'public_changed_at'], unique=False)
    op.create_table('publication_goal',
    sa.Column('publication_id', ID, nullable=False),
    sa.Column('goal', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['publication_id'], ['publication.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('publication_id', 'goal')
    )
    op.create_index('ix_publication_goal_goal', 'publication_goal', ['goal', 'publication_id'], unique=False)
    op.create_table('contact_consent',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=300), nullable=False),
    sa.Column('given_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )


def downgrade() -> None:
    op.drop_table('contact_consent')
    op.drop_index('ix_publication_goal_goal', table_name='publication_goal')
    op.drop_table('publication_goal')
    op.drop_index('ix_publication_state_changed', table_name='publication')
    op.drop_table('publication')
