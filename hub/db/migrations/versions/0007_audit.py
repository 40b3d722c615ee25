"""audit trail: hash-chained records and the patients they name

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_records',
        sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False,
                  comment='position in the hash chain, from 1'),
        sa.Column('recorded_at', sa.Float(), nullable=False),
        sa.Column('principal_id', sa.String(length=256), nullable=False),
        sa.Column('action', sa.String(length=1), nullable=False, comment='C R U D E'),
        sa.Column('outcome', sa.Integer(), nullable=False,
                  comment='0, 4, 8, 12 (DICOM PS3.15 A.5)'),
        sa.Column('content', sa.Text(), nullable=False, comment='canonical JSON of the record'),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('seq'),
    )
    op.create_index('ix_audit_records_recorded_at', 'audit_records', ['recorded_at'])
    op.create_index('ix_audit_records_principal', 'audit_records', ['principal_id', 'seq'])
    op.create_table(
        'audit_patients',
        sa.Column('patient', sa.String(length=256), nullable=False, comment='system|value'),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('patient', 'seq'),
    )


def downgrade() -> None:
    op.drop_table('audit_patients')
    op.drop_index('ix_audit_records_principal', table_name='audit_records')
    op.drop_index('ix_audit_records_recorded_at', table_name='audit_records')
    op.drop_table('audit_records')
