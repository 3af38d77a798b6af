"""registration: case registration data, klassificeringsstruktur, OSL provisions, registered documents

Revision ID: 0020
Revises: 0019

The two lists start with sensible defaults (an innovation process in the city's
verksamhetsbaserad klassificeringsstruktur; the OSL provisions an innovation case most
often rests on); administrators maintain them afterwards (`iphs-flow register ...`).
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import iphs_flow.store.tables


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

CLASSES = [
    ("1", "Styra och leda verksamheten"),
    ("1.3", "Utveckla verksamheten"),
    ("1.3.1", "Ta emot och pröva innovationsidéer"),
    ("1.3.2", "Utreda behov och ta fram koncept"),
    ("1.3.3", "Testa och genomföra piloter"),
    ("1.3.4", "Utvärdera och införa innovationer"),
    ("1.3.5", "Följa upp och sprida resultat"),
    ("1.4", "Hantera förbättringsförslag"),
]
PROVISIONS = [
    ("OSL 31 kap. 16 §", "Affärs- eller driftförhållanden hos den som ingått avtal med en myndighet"),
    ("OSL 19 kap. 3 §", "Upphandling: anbud och uppgifter i en upphandling"),
    ("OSL 21 kap. 1 §", "Uppgifter om hälsa och sexualliv"),
    ("OSL 39 kap. 3 §", "Personalakt: enskildas personliga förhållanden"),
    ("OSL 18 kap. 8 §", "Säkerhets- och bevakningsåtgärder"),
]


def upgrade() -> None:
    op.create_table('case_registration',
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('registered_on', sa.Date(), nullable=False),
    sa.Column('classification', sa.String(length=40), nullable=True),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('unit', sa.String(length=200), nullable=True),
    sa.Column('last_document', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('case_id')
    )
    classes = op.create_table('registry_class',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    provisions = op.create_table('osl_provision',
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('registered_document',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('ref', sa.String(length=200), nullable=False),
    sa.Column('registered_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('counterpart', sa.String(length=300), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('registered_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'kind', 'ref', name='uq_registered_document_ref'),
    sa.UniqueConstraint('case_id', 'number', name='uq_registered_document_case_number')
    )
    op.create_index('ix_registered_document_at', 'registered_document', ['registered_at'], unique=False)
    op.bulk_insert(classes, [{"code": c, "name": n, "position": i, "active": True}
                             for i, (c, n) in enumerate(CLASSES)])
    op.bulk_insert(provisions, [{"code": c, "name": n, "position": i, "active": True}
                                for i, (c, n) in enumerate(PROVISIONS)])


def downgrade() -> None:
    op.drop_index('ix_registered_document_at', table_name='registered_document')
    op.drop_table('registered_document')
    op.drop_table('osl_provision')
    op.drop_table('registry_class')
    op.drop_table('case_registration')
